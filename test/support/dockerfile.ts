/**
 * A small Dockerfile reader for the deploy tests: instructions grouped by stage, with line
 * continuations joined and comments dropped. Enough for the files this repository ships, not for
 * every Dockerfile (no heredocs, no parser directives beyond `# syntax`, no escape character change).
 */
export interface Instruction {
  /** Upper-cased: FROM, RUN, COPY… */
  name: string;
  /** The rest of the line, continuations joined with a space. */
  args: string;
  /** The exec form's array (`CMD ["node", "x.js"]`, HEALTHCHECK's CMD too), when the arguments are one. */
  exec?: string[];
}

export interface Stage {
  /** The `AS` name, or the stage's index as a string. */
  name: string;
  image: string;
  instructions: Instruction[];
}

function execForm(args: string): string[] | undefined {
  if (!args.startsWith('[')) return undefined;
  try {
    const parsed: unknown = JSON.parse(args);
    return Array.isArray(parsed) && parsed.every((a) => typeof a === 'string') ? parsed : undefined;
  } catch {
    return undefined;
  }
}

export function parseDockerfile(text: string): Stage[] {
  const logical: string[] = [];
  let pending = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (pending === '' && (line === '' || line.startsWith('#'))) continue;
    if (line.startsWith('#')) continue; // a comment inside a continued instruction
    if (line.endsWith('\\')) {
      pending += `${line.slice(0, -1).trim()} `;
      continue;
    }
    logical.push((pending + line).trim());
    pending = '';
  }
  if (pending) logical.push(pending.trim());

  const stages: Stage[] = [];
  for (const line of logical) {
    const space = line.search(/\s/);
    const name = (space === -1 ? line : line.slice(0, space)).toUpperCase();
    const args = space === -1 ? '' : line.slice(space + 1).trim();
    if (name === 'FROM') {
      const [image = '', as, stageName] = args.split(/\s+/);
      stages.push({ name: as?.toUpperCase() === 'AS' && stageName ? stageName : String(stages.length), image, instructions: [] });
      continue;
    }
    const stage = stages.at(-1);
    if (!stage) throw new Error(`Dockerfile: ${name} before any FROM`);
    // HEALTHCHECK's options come before its CMD, whose arguments are the exec form.
    const exec = execForm(name === 'HEALTHCHECK' ? args.replace(/^.*?\bCMD\s+/, '') : args);
    stage.instructions.push({ name, args, ...(exec ? { exec } : {}) });
  }
  return stages;
}

/** `ENV A=1 B=2` (and the legacy `ENV A 1`) as a record, over every ENV of the stage in order. */
export function stageEnv(stage: Stage): Record<string, string> {
  const env: Record<string, string> = {};
  for (const { args } of stage.instructions.filter((i) => i.name === 'ENV')) {
    if (!args.includes('=')) {
      const [key = '', ...rest] = args.split(/\s+/);
      env[key] = rest.join(' ');
      continue;
    }
    for (const m of args.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=("(?:[^"\\]|\\.)*"|\S*)/g)) {
      const value = m[2] ?? '';
      env[m[1]!] = value.startsWith('"') ? (JSON.parse(value) as string) : value;
    }
  }
  return env;
}

/** The arguments of the stage's instructions of one kind, in order. */
export function instructions(stage: Stage, name: string): Instruction[] {
  return stage.instructions.filter((i) => i.name === name);
}
