/**
 * The body of `POST /v1/ui/chat` (what `DefaultChatTransport` sends) and the turn it asks for: the
 * last user message's text and files, or, for `regenerate-message`, the stored one answered again.
 */
import { z } from 'zod';
import type { Attachment } from '../../core/turn-options.js';
import { MAX_MESSAGE_CHARS, SessionId } from '../schemas.js';

const UIMessagePart = z.looseObject({ type: z.string(), text: z.unknown().optional() });
const UIMessageSchema = z.looseObject({ id: z.string().optional(), role: z.string(), parts: z.array(UIMessagePart) });
type UIMessagePart = z.output<typeof UIMessagePart>;
type UIMessageSchema = z.output<typeof UIMessageSchema>;

/** A `file` part's content as an Attachment's `data` (base64 or an http(s) URL), or why it cannot be one. */
function fileData(url: unknown): { data: string } | { error: string } {
  if (typeof url !== 'string') return { error: 'must be a data: or http(s) URL' };
  if (/^https?:\/\/[^\s]+$/i.test(url)) return { data: url };
  const match = /^data:([^,]*),(.*)$/is.exec(url);
  if (!match) return { error: 'must be a data: or http(s) URL' };
  const [, header = '', payload = ''] = match;
  if (/;base64$/i.test(header)) {
    const data = payload.replace(/\s+/g, '');
    return /^[A-Za-z0-9+/]*={0,2}$/.test(data) ? { data } : { error: 'is a data: URL whose base64 content is not valid' };
  }
  // Percent-encoded (`data:,hello%20world`): bytes as they are, the rest as UTF-8.
  const bytes = payload.split(/(%[0-9a-fA-F]{2})/).map((p) => (/^%[0-9a-fA-F]{2}$/.test(p) ? Buffer.from([parseInt(p.slice(1), 16)]) : Buffer.from(p, 'utf8')));
  return { data: Buffer.concat(bytes).toString('base64') };
}

/** What a user message's parts give the turn, with the problems found (path relative to the message). */
function readParts(parts: readonly UIMessagePart[], index: number) {
  const texts: string[] = [];
  const attachments: Attachment[] = [];
  const issues: Array<{ path: Array<string | number>; message: string }> = [];
  parts.forEach((part, j) => {
    if (part.type === 'text' && typeof part.text === 'string') texts.push(part.text);
    if (part.type !== 'file') return; // reasoning, sources, steps and data parts say nothing to the model
    const { mediaType, filename, url } = part as { mediaType?: unknown; filename?: unknown; url?: unknown };
    if (typeof mediaType !== 'string' || !/^[\w.+-]+\/[\w.+*-]+$/.test(mediaType)) {
      issues.push({ path: ['parts', j, 'mediaType'], message: 'must be a media type such as image/png' });
      return;
    }
    const content = fileData(url);
    if ('error' in content) {
      issues.push({ path: ['parts', j, 'url'], message: content.error });
      return;
    }
    attachments.push({
      kind: mediaType.startsWith('image/') ? 'image' : 'file',
      mediaType,
      data: content.data,
      ...(typeof filename === 'string' && filename ? { filename } : {}),
      field: `messages.${index}.parts.${j}`,
    });
  });
  return { text: texts.join(''), attachments, issues };
}

function lastUserIndex(messages: readonly UIMessageSchema[]): number {
  for (let i = messages.length - 1; i >= 0; i--) if (messages[i]?.role === 'user') return i;
  return -1;
}

const isRegenerate = (body: { trigger?: string | undefined }) => body.trigger === 'regenerate-message';

export const UIChatRequest = z
  .looseObject({
    id: SessionId.describe('The chat id (useChat `id`); it is the session id, so history comes from the store'),
    messages: z.array(UIMessageSchema).describe('UIMessage[] as DefaultChatTransport sends it; only the last user message is used (its text and `file` parts)'),
    trigger: z
      .enum(['submit-message', 'regenerate-message'])
      .optional()
      .describe('`regenerate-message` answers the last stored user message again, superseding its answer; the messages sent are not read'),
    messageId: z.string().optional().describe('The message being regenerated (unused: the answer after the last user message is)'),
    agent: z.string().min(1).max(128).optional().describe('Which agent answers (GET /v1/models lists them); the default one when absent'),
  })
  .superRefine((body, ctx) => {
    if (isRegenerate(body)) return;
    const i = lastUserIndex(body.messages);
    const message = body.messages[i];
    if (!message) {
      ctx.addIssue({ code: 'custom', path: ['messages'], message: 'must contain a user message' });
      return;
    }
    const { text, attachments, issues } = readParts(message.parts, i);
    for (const issue of issues) ctx.addIssue({ code: 'custom', path: ['messages', i, ...issue.path], message: issue.message });
    if (issues.length > 0) return;
    if (text.trim().length === 0 && attachments.length === 0)
      ctx.addIssue({ code: 'custom', path: ['messages', i, 'parts'], message: 'the last user message has no text and no file' });
    else if (text.length > MAX_MESSAGE_CHARS)
      ctx.addIssue({ code: 'custom', path: ['messages', i, 'parts'], message: `the last user message is over ${MAX_MESSAGE_CHARS} characters` });
  });
export type UIChatRequest = z.output<typeof UIChatRequest>;

/** The turn a validated body asks for: a new message with its files, or the stored one answered again. */
export function uiTurn(body: UIChatRequest): { message?: string; attachments?: Attachment[]; regenerate?: true } {
  if (isRegenerate(body)) return { regenerate: true };
  const i = lastUserIndex(body.messages);
  const { text, attachments } = readParts(body.messages[i]?.parts ?? [], i);
  // Files alone: no blank text part beside them.
  return { message: text.trim() === '' ? '' : text, ...(attachments.length > 0 ? { attachments } : {}) };
}
