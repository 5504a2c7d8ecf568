/**
 * A Chat Completions body as what a run takes: the conversation as history, the new message with
 * its images and files (or the results of client tools that end the conversation), the client
 * tools, the tool choice and the model settings. Bad parts are 400s naming them.
 */
import type { JSONSchema7 } from '@ai-sdk/provider';
import type { ClientTool } from '../agent/prepare-tools.js';
import type { ChatMessage } from '../core/messages.js';
import type { Attachment, AttachmentKind, ModelSettings, ToolChoice } from '../core/turn-options.js';
import { ApiError } from './errors.js';
import type { ChatCompletionRequest, ChatMessageIn, UserPart } from './openai-chat-request.js';
import { MAX_MESSAGE_CHARS } from './schemas.js';

export interface OpenAiChatInput {
  /** The new user message; undefined when the conversation ends with tool results. */
  message: string | undefined;
  /** The new message's images and files, each naming its part (`messages.3.content.1`). */
  attachments: Attachment[];
  /** Everything before the new message, the trailing tool results included. */
  history: ChatMessage[];
  /** The images and files of `history`, with their parts' names (for refusals). */
  historyAttachments: Attachment[];
  /** The tool messages that end the conversation (for a stored session, which has the rest). */
  toolResults: ChatMessage[];
  clientTools: ClientTool[];
  toolChoice: ToolChoice | undefined;
  settings: ModelSettings | undefined;
}

function invalid(field: string, message: string): ApiError {
  return new ApiError('validation_error', `Invalid request: ${field}: ${message}`, [{ field, message }]);
}

function textOf(content: string | ReadonlyArray<{ type: string; text?: unknown }> | null | undefined): string {
  if (content == null) return '';
  if (typeof content === 'string') return content;
  return content.map((p) => (p.type === 'text' && typeof p.text === 'string' ? p.text : '')).join('');
}

const DATA_URL = /^data:([^;,]+)((?:;[^;,]*)*);base64,(.*)$/s;
const IMAGE_TYPES: Record<string, string> = { png: 'image/png', jpg: 'image/jpeg', jpeg: 'image/jpeg', gif: 'image/gif', webp: 'image/webp' };
const FILE_TYPES: Record<string, string> = { pdf: 'application/pdf', txt: 'text/plain', csv: 'text/csv', json: 'application/json', md: 'text/markdown' };

const extensionOf = (name: string): string => /\.([a-z0-9]+)$/i.exec(name)?.[1]?.toLowerCase() ?? '';

/** A base64 data URL as media type and content; undefined for anything else. */
function fromDataUrl(url: string): { mediaType: string; data: string } | undefined {
  const m = DATA_URL.exec(url);
  return m ? { mediaType: m[1]!.toLowerCase(), data: m[3]! } : undefined;
}

function attachmentOf(part: UserPart, field: string): Attachment | undefined {
  switch (part.type) {
    case 'text':
      return undefined;
    case 'image_url': {
      const { url } = part.image_url;
      if (/^https?:\/\//i.test(url)) {
        let path: string;
        try {
          path = new URL(url).pathname;
        } catch {
          throw invalid(`${field}.image_url.url`, 'is not a valid URL');
        }
        return { kind: 'image', mediaType: IMAGE_TYPES[extensionOf(path)] ?? 'image/*', data: url, field };
      }
      const decoded = fromDataUrl(url);
      if (!decoded?.mediaType.startsWith('image/')) throw invalid(`${field}.image_url.url`, 'must be an http(s) URL or a base64 data URL of an image');
      return { kind: 'image', ...decoded, field };
    }
    case 'file': {
      const { file_data: fileData, file_id: fileId, filename } = part.file;
      if (fileId != null) throw invalid(`${field}.file.file_id`, 'file ids are not supported (there is no Files API here): send file_data');
      if (fileData == null || fileData === '') throw invalid(`${field}.file.file_data`, 'is required');
      const decoded = fromDataUrl(fileData);
      const name = filename ?? undefined;
      // A bare base64 string: its type from the file name, as OpenAI does.
      const mediaType = decoded?.mediaType ?? FILE_TYPES[extensionOf(name ?? '')] ?? 'application/octet-stream';
      return { kind: 'file', mediaType, data: decoded?.data ?? fileData, ...(name ? { filename: name } : {}), field };
    }
    case 'input_audio':
      throw invalid(field, 'audio input is not supported by this model');
  }
}

/** A user message's text and its images and files. */
function userMessageOf(m: Extract<ChatMessageIn, { role: 'user' }>, i: number): { text: string; attachments: Attachment[] } {
  if (typeof m.content === 'string') return { text: m.content, attachments: [] };
  const attachments: Attachment[] = [];
  for (const [j, part] of m.content.entries()) {
    const a = attachmentOf(part, `messages.${i}.content.${j}`);
    if (a) attachments.push(a);
  }
  return { text: textOf(m.content), attachments };
}

/** Stored without `field`: it names a part of this request only. */
const stored = (attachments: Attachment[]) =>
  attachments.map(({ kind, mediaType, data, filename }) => ({ kind, mediaType, data, ...(filename ? { filename } : {}) }));

function parseArguments(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text; // kept as written: the model sees what it said
  }
}

function conversationOf(messages: ChatMessageIn[]): Pick<OpenAiChatInput, 'message' | 'attachments' | 'history' | 'historyAttachments' | 'toolResults'> {
  let trailing = messages.length;
  while (trailing > 0 && messages[trailing - 1]?.role === 'tool') trailing--;
  const endsWithTools = trailing < messages.length;
  const earlier = endsWithTools ? messages.length : messages.length - 1;

  const callNames = new Map<string, string>();
  const history: ChatMessage[] = [];
  const historyAttachments: Attachment[] = [];
  const toolResults: ChatMessage[] = [];
  for (const [i, m] of messages.slice(0, earlier).entries()) {
    switch (m.role) {
      case 'user': {
        const { text, attachments } = userMessageOf(m, i);
        if (text === '' && attachments.length === 0) break;
        historyAttachments.push(...attachments);
        history.push({ role: 'user', content: text, ...(attachments.length ? { attachments: stored(attachments) } : {}) });
        break;
      }
      case 'assistant': {
        const text = textOf(m.content);
        const calls = (m.tool_calls ?? []).map((c) => ({ id: c.id, name: c.function.name, arguments: parseArguments(c.function.arguments) }));
        for (const c of calls) callNames.set(c.id, c.name);
        if (text !== '' || calls.length > 0) history.push({ role: 'assistant', content: text, ...(calls.length ? { tool_calls: calls } : {}) });
        break;
      }
      case 'tool': {
        const name = callNames.get(m.tool_call_id);
        if (name === undefined) throw invalid(`messages.${i}.tool_call_id`, `no earlier assistant message in \`messages\` has a tool call '${m.tool_call_id}'`);
        const result: ChatMessage = { role: 'tool', tool_call_id: m.tool_call_id, name, result: textOf(m.content) };
        history.push(result);
        if (i >= trailing) toolResults.push(result);
        break;
      }
      default:
        // System and developer messages: the agent has its own instructions.
        break;
    }
  }
  if (endsWithTools) return { message: undefined, attachments: [], history, historyAttachments, toolResults };

  const i = messages.length - 1;
  const last = messages[i];
  if (last?.role !== 'user') throw invalid(`messages.${i}.role`, "the last message must have role 'user' or 'tool'");
  const { text, attachments } = userMessageOf(last, i);
  if (text.trim() === '' && attachments.length === 0) throw invalid(`messages.${i}.content`, 'the last user message must have text, an image or a file');
  if (text.length > MAX_MESSAGE_CHARS) throw invalid(`messages.${i}.content`, `the last user message is over ${MAX_MESSAGE_CHARS} characters`);
  return { message: text, attachments, history, historyAttachments, toolResults };
}

function settingsOf(body: ChatCompletionRequest): ModelSettings | undefined {
  const s: ModelSettings = {};
  if (body.temperature != null) s.temperature = body.temperature;
  if (body.top_p != null) s.topP = body.top_p;
  const maxTokens = body.max_completion_tokens ?? body.max_tokens;
  if (maxTokens != null) s.maxOutputTokens = maxTokens;
  if (body.stop != null) s.stopSequences = typeof body.stop === 'string' ? [body.stop] : body.stop;
  if (body.seed != null) s.seed = body.seed;
  if (body.presence_penalty != null) s.presencePenalty = body.presence_penalty;
  if (body.frequency_penalty != null) s.frequencyPenalty = body.frequency_penalty;
  const format = body.response_format;
  if (format?.type === 'text') s.responseFormat = { type: 'text' };
  else if (format?.type === 'json_object') s.responseFormat = { type: 'json' };
  else if (format?.type === 'json_schema') {
    const { name, description, schema, strict } = format.json_schema;
    s.responseFormat = {
      type: 'json',
      name,
      ...(description != null ? { description } : {}),
      ...(schema != null ? { schema } : {}),
      ...(strict != null ? { strict } : {}),
    };
  }
  return Object.keys(s).length > 0 ? s : undefined;
}

function toolChoiceOf(choice: ChatCompletionRequest['tool_choice']): ToolChoice | undefined {
  if (choice == null) return undefined;
  return typeof choice === 'string' ? choice : { type: 'tool', name: choice.function.name };
}

const NO_ARGUMENTS: JSONSchema7 = { type: 'object', properties: {} };

function clientToolsOf(tools: ChatCompletionRequest['tools']): ClientTool[] {
  return (tools ?? []).map(({ function: f }) => ({
    name: f.name,
    parameters: (f.parameters as JSONSchema7 | null | undefined) ?? NO_ARGUMENTS,
    ...(f.description != null ? { description: f.description } : {}),
    ...(f.strict != null ? { strict: f.strict } : {}),
  }));
}

export function openAiChatInput(body: ChatCompletionRequest): OpenAiChatInput {
  return {
    ...conversationOf(body.messages),
    clientTools: clientToolsOf(body.tools),
    toolChoice: toolChoiceOf(body.tool_choice),
    settings: settingsOf(body),
  };
}

/**
 * The first image or file the agent does not take, as the 400 RunService gives for the new
 * message's: earlier messages' go to the model as well.
 */
export function refuseAttachments(attachments: readonly Attachment[], accepts: readonly AttachmentKind[], agentName: string): ApiError | undefined {
  const refused = attachments.find((a) => !accepts.includes(a.kind));
  if (!refused) return undefined;
  const what = refused.kind === 'image' ? 'images are' : 'files are';
  const field = refused.field ?? 'messages';
  return new ApiError('validation_error', `Invalid request: ${field}: ${what} not supported by this model (agent '${agentName}')`, [
    { field, message: `${what} not supported by this model (${refused.mediaType})` },
  ]);
}
