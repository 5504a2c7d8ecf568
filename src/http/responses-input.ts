import type { ChatMessage, ToolCall } from '../core/messages.js';
import type { Attachment } from '../core/turn-options.js';
import { ApiError } from './errors.js';
import { InputItem, type InputPart } from './responses-request.js';
import { MAX_MESSAGE_CHARS } from './schemas.js';

/** A Responses `input` as our turn: the messages before the new one, and the new user message if any. */
export interface ResponsesTurn {
  /** Earlier items (history, or tool results answering the previous response's calls), oldest first. */
  prior: ChatMessage[];
  /** The new user message; undefined when the input ends with `function_call_output` items. */
  message: string | undefined;
  attachments: Attachment[];
}

function invalid(field: string, message: string): ApiError {
  return new ApiError('validation_error', `Invalid request: ${field}: ${message}`, [{ field, message }]);
}

const DATA_URL = /^data:([^;,]+)?((?:;[^;,]*)*?)(;base64)?,(.*)$/s;
const EXTENSIONS: Record<string, string> = {
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  gif: 'image/gif',
  webp: 'image/webp',
  pdf: 'application/pdf',
  txt: 'text/plain',
  md: 'text/markdown',
  csv: 'text/csv',
  json: 'application/json',
};

function mediaTypeOf(name: string | null | undefined, fallback: string): string {
  const ext = /\.([A-Za-z0-9]+)(?:[?#].*)?$/.exec(name ?? '')?.[1]?.toLowerCase();
  return (ext && EXTENSIONS[ext]) ?? fallback;
}

/** A data: URL as its media type and base64 content; an http(s) URL or bare base64 as it is. */
function decode(value: string, field: string, fallbackType: string, name?: string | null): { mediaType: string; data: string } {
  const m = DATA_URL.exec(value);
  if (m) {
    const data = m[3] ? (m[4] ?? '') : Buffer.from(decodeURIComponent(m[4] ?? '')).toString('base64');
    return { mediaType: m[1] ?? fallbackType, data };
  }
  if (/^https?:\/\//i.test(value)) return { mediaType: mediaTypeOf(value, fallbackType), data: value };
  if (/^[A-Za-z0-9+/=\s]+$/.test(value)) return { mediaType: mediaTypeOf(name, fallbackType), data: value.replace(/\s+/g, '') };
  throw invalid(field, 'must be an http(s) URL, a data: URL or base64 content');
}

function attachmentOf(part: Extract<InputPart, { type: 'input_image' | 'input_file' }>, field: string): Attachment {
  if (part.type === 'input_image') {
    if (!part.image_url) throw invalid(`${field}.image_url`, part.file_id ? 'file_id is not supported here (no Files API): send image_url' : 'is required');
    return { kind: 'image', ...decode(part.image_url, `${field}.image_url`, 'image/*'), field };
  }
  const value = part.file_data ?? part.file_url;
  if (!value) throw invalid(`${field}.file_data`, part.file_id ? 'file_id is not supported here (no Files API): send file_data or file_url' : 'is required');
  const where = part.file_data ? `${field}.file_data` : `${field}.file_url`;
  const filename = part.filename ?? undefined;
  return { kind: 'file', ...decode(value, where, 'application/octet-stream', filename), ...(filename ? { filename } : {}), field };
}

function textOf(content: string | InputPart[]): string {
  if (typeof content === 'string') return content;
  return content.map((p) => (p.type === 'input_text' || p.type === 'output_text' ? p.text : p.type === 'refusal' ? p.refusal : '')).join('');
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

/**
 * Translates `input` into messages. `callName` names the function of a call answered here whose
 * `function_call` item is not in this input (it was in the previous response).
 */
export function responsesTurn(input: string | readonly unknown[], callName: (callId: string) => string | undefined): ResponsesTurn {
  if (typeof input === 'string') {
    if (input.trim() === '') throw invalid('input', 'must not be empty');
    if (input.length > MAX_MESSAGE_CHARS) throw invalid('input', `is over ${MAX_MESSAGE_CHARS} characters`);
    return { prior: [], message: input, attachments: [] };
  }
  const messages: ChatMessage[] = [];
  const attachmentsOf = new Map<ChatMessage, Attachment[]>();
  const names = new Map<string, string>();
  let lastUser = -1;
  const items = input.map((raw, i) => {
    const parsed = InputItem.safeParse(raw);
    if (parsed.success) return parsed.data;
    const issue = parsed.error.issues[0];
    throw invalid(['input', i, ...(issue?.path ?? [])].join('.'), issue?.message ?? 'not a valid item');
  });
  items.forEach((item, i) => {
    if (item.type === 'function_call') {
      names.set(item.call_id, item.name);
      const call: ToolCall = { id: item.call_id, name: item.name, arguments: parseJson(item.arguments) };
      // Calls of one model step follow the assistant's text as separate items; they are one message to us.
      const last = messages.at(-1);
      if (last?.role === 'assistant') last.tool_calls = [...(last.tool_calls ?? []), call];
      else messages.push({ role: 'assistant', content: '', tool_calls: [call] });
    } else if (item.type === 'function_call_output') {
      const name = names.get(item.call_id) ?? callName(item.call_id);
      if (!name) throw invalid(`input.${i}.call_id`, `no function_call '${item.call_id}' in this input or the previous response`);
      // JSON output is kept as the value, so the model reads it as sent rather than as a quoted string.
      messages.push({ role: 'tool', tool_call_id: item.call_id, name, result: parseJson(textOf(item.output)) });
    } else if (item.role === 'user') {
      const attachments: Attachment[] = [];
      if (typeof item.content !== 'string') {
        item.content.forEach((part, j) => {
          if (part.type === 'input_image' || part.type === 'input_file') attachments.push(attachmentOf(part, `input.${i}.content.${j}`));
        });
      }
      const content = textOf(item.content);
      if (content.trim() === '' && attachments.length === 0) throw invalid(`input.${i}.content`, 'a user message must have text, an image or a file');
      const message: ChatMessage = { role: 'user', content };
      if (attachments.length > 0) attachmentsOf.set(message, attachments);
      messages.push(message);
      lastUser = i;
    } else if (item.role === 'assistant') {
      const content = textOf(item.content);
      if (content !== '') messages.push({ role: 'assistant', content });
    }
    // system and developer messages: the agent has its own instructions.
  });
  const last = messages.at(-1);
  if (!last || last.role === 'assistant') {
    throw invalid('input', 'must end with a user message or function_call_output items (the model answers those)');
  }
  const stored = (m: ChatMessage): ChatMessage => {
    const a = attachmentsOf.get(m);
    return a && m.role === 'user'
      ? { ...m, attachments: a.map(({ kind, mediaType, data, filename }) => ({ kind, mediaType, data, ...(filename ? { filename } : {}) })) }
      : m;
  };
  if (last.role === 'tool') return { prior: messages.map(stored), message: undefined, attachments: [] };
  if (last.content.length > MAX_MESSAGE_CHARS) throw invalid(`input.${lastUser}.content`, `is over ${MAX_MESSAGE_CHARS} characters`);
  return { prior: messages.slice(0, -1).map(stored), message: last.content, attachments: attachmentsOf.get(last) ?? [] };
}
