/** The wire schemas of `GET /usage` and `/admin/keys`. */
import { z } from 'zod';
import { USAGE_GROUPS } from '../store/usage-store.js';

const DATE = /^\d{4}-\d{2}-\d{2}$/;

/**
 * A day (`2026-12-01`, UTC midnight) or an ISO-8601 time with a zone (`2026-12-01T12:00:00Z`,
 * `…+02:00`), as epoch ms. `endOfDay`: a plain day means the end of that day (so `to=2026-12-01`
 * includes the 1st).
 */
const instant = (endOfDay: boolean) =>
  z
    .string()
    .trim()
    .refine((s) => (DATE.test(s) || z.iso.datetime({ offset: true }).safeParse(s).success) && !Number.isNaN(Date.parse(s)), {
      error: 'must be a date (YYYY-MM-DD) or an ISO-8601 time with a zone (2026-12-01T12:00:00Z)',
    })
    .transform((s) => Date.parse(s) + (endOfDay && DATE.test(s) ? 24 * 3600_000 : 0));

/** `?from=` (empty, as a form or a template leaves it) is the default, not a bad date. */
const blankIsUnset = (v: unknown) => (typeof v === 'string' && v.trim() === '' ? undefined : v);

export const UsageQuery = z.object({
  from: z.preprocess(blankIsUnset, instant(false).optional()).describe('Start (included): a date (UTC) or an ISO-8601 time; default 30 days before `to`'),
  to: z.preprocess(blankIsUnset, instant(true).optional()).describe('End (excluded; a plain date includes that whole day, UTC); default now'),
  group_by: z.enum(USAGE_GROUPS).default('day').describe('`day` (UTC), `session`, `model`, `agent`, or `key` (admin only)'),
  key_id: z.string().min(1).max(100).optional().describe('Admin only: just this managed key'),
  limit: z.coerce.number().int().min(1).max(10_000).default(1000).describe('Most groups listed; `total` counts every run'),
});
export type UsageQuery = z.output<typeof UsageQuery>;

const Tokens = {
  runs: z.number().int(),
  input_tokens: z.number().int(),
  output_tokens: z.number().int(),
  total_tokens: z.number().int(),
};

export const UsageGroupRow = z
  .object({
    group: z
      .string()
      .nullable()
      .describe('The day (YYYY-MM-DD, UTC), session id, model, agent or managed key id; null: runs without one (no session, or keys not managed)'),
    ...Tokens,
  })
  .describe('One group of runs');
export type UsageGroupRow = z.output<typeof UsageGroupRow>;

export const UsageReport = z
  .object({
    object: z.literal('usage'),
    from: z.string().describe('ISO-8601, included'),
    to: z.string().describe('ISO-8601, excluded'),
    group_by: z.enum(USAGE_GROUPS),
    scope: z.enum(['key', 'all']).describe("`key`: the caller's own runs; `all`: every key's (the admin)"),
    data: z.array(UsageGroupRow),
    has_more: z.boolean().describe('More groups than `limit`; `total` counts them all'),
    total: z.object(Tokens),
  })
  .describe('Token usage by group');
export type UsageReport = z.output<typeof UsageReport>;

export const CreateKeyRequest = z.object({
  name: z.string().trim().min(1).max(100).describe('What the key is for (shown in lists; not secret)'),
  rate_limit_per_minute: z.number().int().min(1).max(1_000_000).nullish().describe("Requests per minute for this key; default RATE_LIMIT_PER_MINUTE's"),
  token_budget: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER).nullish().describe('Tokens (input + output) the key may use in all; default none'),
});
export type CreateKeyRequest = z.output<typeof CreateKeyRequest>;

export const UpdateKeyRequest = z
  .strictObject({
    name: CreateKeyRequest.shape.name.optional(),
    rate_limit_per_minute: CreateKeyRequest.shape.rate_limit_per_minute.describe("Requests per minute for this key; null: RATE_LIMIT_PER_MINUTE's"),
    token_budget: CreateKeyRequest.shape.token_budget.describe('Tokens (input + output) the key may use in all; null: no budget'),
  })
  .refine((b) => Object.keys(b).length > 0, 'name one of name, rate_limit_per_minute, token_budget to change')
  .describe('What to change of a key: fields left out stay as they are');
export type UpdateKeyRequest = z.output<typeof UpdateKeyRequest>;

export const ManagedKey = z
  .object({
    object: z.literal('api_key'),
    id: z.string(),
    name: z.string(),
    created_at: z.string(),
    last_used_at: z.string().nullable().describe('Updated at most about once a minute'),
    revoked_at: z.string().nullable(),
    rate_limit_per_minute: z.number().int().nullable(),
    token_budget: z.number().int().nullable(),
    tokens_used: z.number().int(),
  })
  .describe('A managed key (never the key itself)');
export type ManagedKey = z.output<typeof ManagedKey>;

export const CreatedKey = ManagedKey.extend({
  key: z.string().describe('The key: shown this once, never again (only its hash is stored)'),
}).describe('A new managed key, with the key itself');
export type CreatedKey = z.output<typeof CreatedKey>;

export const KeyList = z.object({ object: z.literal('list'), data: z.array(ManagedKey) });
export type KeyList = z.output<typeof KeyList>;

export const KeyParams = z.object({ id: z.string().min(1).max(100) });
export type KeyParams = z.output<typeof KeyParams>;
