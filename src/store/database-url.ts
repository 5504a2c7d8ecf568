export type StoreLocation = { kind: 'sqlite'; path: string } | { kind: 'postgres'; url: string };

/** `sqlite:PATH`, `sqlite::memory:` or `postgres://…` / `postgresql://…`. */
export function parseDatabaseUrl(url: string): StoreLocation | undefined {
  if (/^postgres(ql)?:\/\//.test(url)) return { kind: 'postgres', url };
  const m = /^sqlite:(?:\/\/)?(.+)$/.exec(url);
  return m?.[1] ? { kind: 'sqlite', path: m[1] } : undefined;
}
