/**
 * The wire schemas of the native routes: one zod schema each gives validation, the TypeScript type
 * (same name, inferred) and the OpenAPI document. The client imports these types (type-only).
 */
import { z } from 'zod';
import { ErrorCodeSchema, FinishReason, Usage } from '../core/events.js';
import { AssistantMessage, ToolMessage, UserMessage } from '../core/messages.js';
import { Run } from '../core/runs.js';
import { SessionSummary } from '../core/sessions.js';

/** The longest user message any route takes, in characters (UTF-16 code units, as JavaScript counts). */
export const MAX_MESSAGE_CHARS = 5000;

export const SessionId = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9._:-]+$/, 'may contain only letters, digits and . _ : -')
  .describe('Session id; omit it to start a new session');

export const UserText = z
  .string()
  .min(1)
  .max(MAX_MESSAGE_CHARS)
  .refine((s) => s.trim().length > 0, 'must not be blank')
  .describe(`The user message (1 to ${MAX_MESSAGE_CHARS} characters)`);

/** What names an agent: in AGENTS_FILE, in code, and in a request's `agent` field. */
export const AGENT_NAME_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;

export const AgentName = z
  .string()
  .regex(AGENT_NAME_PATTERN, 'must be 1 to 64 letters, digits and . _ -')
  .describe(
    "Which agent answers (GET /v1/models lists them); omitted: the session's agent, or the default one for a new session. " +
      "An unknown one is 404 `model_not_found`; one other than the session's is 409 `session_agent_mismatch`.",
  );

export const OnDisconnect = z
  .enum(['cancel', 'continue'])
  .default('cancel')
  .describe('When the client hangs up: `cancel` stops the run (the default); `continue` lets it finish, to be read at /runs/{run_id}/events');

export const ChatRequest = z.object({
  message: UserText,
  // The seed accepts `null` for a missing id, so we do too.
  session_id: SessionId.nullish(),
  agent: AgentName.optional(),
  on_disconnect: OnDisconnect,
});
export type ChatRequest = z.output<typeof ChatRequest>;

export const ToolCallRecord = z.object({
  id: z.string(),
  name: z.string(),
  arguments: z.unknown(),
  result: z.unknown(),
});
export type ToolCallRecord = z.output<typeof ToolCallRecord>;

export const ChatReply = z.object({
  reply: z.string(),
  session_id: z.string(),
  run_id: z.string(),
  tool_calls: z.array(ToolCallRecord),
  usage: Usage,
  finish_reason: FinishReason.describe('Why the turn ended: stop, length, tool_calls (a client tool is pending), max_steps or content_filter'),
});
export type ChatReply = z.output<typeof ChatReply>;

export const ErrorBody = z
  .object({
    error: z.object({
      code: ErrorCodeSchema.describe('Stable machine-readable code'),
      message: z.string(),
      request_id: z.string(),
      details: z.unknown().optional(),
    }),
  })
  .describe('Error');
export type ErrorBody = z.output<typeof ErrorBody>;

export const SessionPage = z.object({
  sessions: z.array(SessionSummary),
  next_before: z.string().nullable().describe('Pass as `before` to get the next page; null on the last page'),
});
export type SessionPage = z.output<typeof SessionPage>;

const MessagePosition = { seq: z.number().int(), created_at: z.string() };

/** A stored message as `GET /sessions/{id}` returns it: the message with its position. */
export const SessionMessage = z.discriminatedUnion('role', [
  UserMessage.extend(MessagePosition),
  AssistantMessage.extend(MessagePosition),
  ToolMessage.extend(MessagePosition),
]);
export type SessionMessage = z.output<typeof SessionMessage>;

export const SessionDetail = SessionSummary.extend({
  messages: z.array(SessionMessage),
  next_after: z.number().int().nullable().describe('Pass as `after` to get the next page; null on the last page'),
});
export type SessionDetail = z.output<typeof SessionDetail>;

export const ListSessionsQuery = z.object({
  limit: z.coerce.number().int().min(1).max(200).default(50),
  before: z.string().max(200).optional().describe('Cursor from next_before'),
});

export const GetSessionQuery = z.object({
  limit: z.coerce.number().int().min(1).max(10_000).default(1000),
  after: z.coerce.number().int().min(-1).optional().describe('seq cursor from next_after'),
});

export const SessionParams = z.object({ id: SessionId });

export const Health = z.object({ status: z.literal('healthy'), version: z.string() });
/** One agent as `/ready` reports it. */
export const AgentReadiness = z.object({
  name: z.string(),
  model: z.string().nullable().describe('The model it calls, when known'),
  default: z.boolean().describe('Whether requests that name no agent get this one'),
  ready: z.boolean(),
  reason: z.string().optional().describe('Why it cannot answer, when it cannot'),
});
export type AgentReadiness = z.output<typeof AgentReadiness>;

export const Ready = z.object({ status: z.literal('ready'), agents: z.array(AgentReadiness) });

export const CreateRunRequest = z.object({ message: UserText, session_id: SessionId.nullish(), agent: AgentName.optional() });

/** `POST /runs` (202): the run started in the background. */
export const RunCreated = z.object({ run_id: z.string(), session_id: z.string(), status: z.literal('running') });
export type RunCreated = z.output<typeof RunCreated>;

/** A page of a session's runs, newest first. */
export const RunPage = z.object({
  runs: z.array(Run),
  next_before: z.string().nullable().describe('Pass as `before` to get the next page; null on the last page'),
});
export type RunPage = z.output<typeof RunPage>;

/** Error responses every authenticated route can give. */
export const authErrors = { 401: ErrorBody, 429: ErrorBody, 500: ErrorBody } as const;
