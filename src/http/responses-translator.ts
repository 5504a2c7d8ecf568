import type { ErrorCode } from '../core/error-codes.js';
import type { StreamEvent, Usage } from '../core/events.js';
import type { FunctionCallOutput, MessageOutput, OutputItem, ResponseObject, ResponseStatus } from './response-object.js';
import type { ToolCallRecord } from './schemas.js';

/** What a response says about its request; a response rebuilt from a run record has the defaults. */
export interface ResponseMeta {
  id: string;
  createdAt: number;
  model: string;
  background: boolean;
  store: boolean;
  previousResponseId: string | null;
  instructions: string | null;
  maxOutputTokens: number | null;
  temperature: number | null;
  topP: number | null;
  toolChoice: unknown;
  tools: unknown[];
  textFormat: unknown;
  metadata: Record<string, string>;
}

export function defaultMeta(id: string, createdAt: number, model: string): ResponseMeta {
  return {
    id,
    createdAt,
    model,
    background: false,
    store: true,
    previousResponseId: null,
    instructions: null,
    maxOutputTokens: null,
    temperature: null,
    topP: null,
    toolChoice: 'auto',
    tools: [],
    textFormat: { type: 'text' },
    metadata: {},
  };
}

/** One typed Responses stream event: `type` is also its SSE `event:` name. */
export interface ResponsesEvent {
  type: string;
  sequence_number: number;
  [field: string]: unknown;
}

/**
 * Translates a run's events into the Responses API's stream events and the response object.
 * Deterministic: the same log gives the same events with the same sequence numbers in any
 * process, which is what lets a stream resume after `starting_after` on any replica.
 *
 * Whether a call is the client's (a `function_call` item) or the agent's own is known only later:
 * the agent's calls get a `tool_result`, the client's are still pending when the run ends. So the
 * client's calls are written as items at the end; the agent's ride in `agent_tool_calls` and in
 * `response.agent_tool_call` events, which clients that don't know them ignore.
 */
export class ResponsesTranslator {
  private seq = -1;
  private readonly output: OutputItem[] = [];
  private open: { item: MessageOutput; index: number } | undefined;
  private readonly pending = new Map<string, { name: string; arguments: unknown }>();
  private readonly agentCalls: ToolCallRecord[] = [];
  private status: ResponseStatus = 'in_progress';
  private usage: Usage | null = null;
  private incomplete: ResponseObject['incomplete_details'] = null;
  private error: { code: ErrorCode; message: string; retryAfter: number | undefined } | undefined;
  private sessionId: string | null = null;

  constructor(private readonly meta: ResponseMeta) {}

  /** The failure the run ended with, if it did (not a cancel). */
  get failure(): { code: ErrorCode; message: string; retryAfter: number | undefined } | undefined {
    return this.status === 'failed' ? this.error : undefined;
  }

  translate(event: StreamEvent): ResponsesEvent[] {
    const out: ResponsesEvent[] = [];
    switch (event.type) {
      case 'start':
        this.sessionId = event.session_id || null;
        out.push(this.next('response.created', { response: this.snapshot() }), this.next('response.in_progress', { response: this.snapshot() }));
        break;
      case 'token':
        if (!this.open) this.openMessage(out);
        this.open!.item.content[0]!.text += event.content;
        out.push(this.next('response.output_text.delta', { ...this.textRef(), delta: event.content, logprobs: [] }));
        break;
      case 'tool_call':
        // Text after a tool call is a new message, as the stored transcript has it.
        this.closeMessage(out, 'completed');
        this.pending.set(event.id, { name: event.name, arguments: event.arguments });
        break;
      case 'tool_result': {
        const call = this.pending.get(event.id);
        this.pending.delete(event.id);
        const record = { id: event.id, name: event.name, arguments: call?.arguments ?? null, result: event.result };
        this.agentCalls.push(record);
        out.push(this.next('response.agent_tool_call', { tool_call: record }));
        break;
      }
      case 'step_start':
      case 'step_finish':
      case 'tool_call_delta':
        break;
      case 'error':
        this.error = { code: event.code, message: event.message, retryAfter: event.retry_after };
        if (event.code !== 'cancelled') out.push(this.next('error', { code: event.code, message: event.message, param: null }));
        break;
      case 'end':
        this.finish(event, out);
        break;
    }
    return out;
  }

  snapshot(): ResponseObject {
    const m = this.meta;
    const output = this.output.map((item) => structuredClone(item));
    return {
      id: m.id,
      object: 'response',
      created_at: m.createdAt,
      status: this.status,
      background: m.background,
      error: this.status === 'failed' || this.status === 'cancelled' ? this.errorBody() : null,
      incomplete_details: this.incomplete,
      instructions: m.instructions,
      max_output_tokens: m.maxOutputTokens,
      model: m.model,
      output,
      output_text: output.flatMap((item) => (item.type === 'message' ? item.content.map((c) => c.text) : [])).join(''),
      parallel_tool_calls: true,
      previous_response_id: m.previousResponseId,
      store: m.store,
      temperature: m.temperature,
      top_p: m.topP,
      tool_choice: m.toolChoice,
      tools: m.tools,
      text: { format: m.textFormat },
      truncation: 'disabled',
      usage: this.usage && {
        input_tokens: this.usage.input_tokens,
        input_tokens_details: { cached_tokens: 0 },
        output_tokens: this.usage.output_tokens,
        output_tokens_details: { reasoning_tokens: 0 },
        total_tokens: this.usage.total_tokens,
      },
      metadata: m.metadata,
      agent_tool_calls: [...this.agentCalls],
      session_id: this.sessionId,
    };
  }

  private errorBody(): ResponseObject['error'] {
    const e = this.error ?? { code: 'internal_error', message: 'The response failed' };
    return { code: e.code, message: e.message, type: e.code === 'cancelled' ? 'cancelled' : 'server_error' };
  }

  private finish(end: Extract<StreamEvent, { type: 'end' }>, out: ResponsesEvent[]): void {
    this.usage = end.usage;
    const cutShort = end.finish_reason === 'length' || end.finish_reason === 'max_steps' || end.finish_reason === 'content_filter';
    this.closeMessage(out, this.error || cutShort ? 'incomplete' : 'completed');
    // Calls still unanswered at a clean end are the client's; after an error they were cut off.
    if (!this.error) for (const [callId, call] of this.pending) this.functionCall(out, callId, call.name, call.arguments);
    this.pending.clear();
    if (this.error) this.status = this.error.code === 'cancelled' ? 'cancelled' : 'failed';
    else if (cutShort) {
      this.status = 'incomplete';
      this.incomplete = { reason: end.finish_reason === 'content_filter' ? 'content_filter' : 'max_output_tokens' };
    } else this.status = 'completed';
    const type = this.status === 'completed' ? 'response.completed' : this.status === 'incomplete' ? 'response.incomplete' : 'response.failed';
    out.push(this.next(type, { response: this.snapshot() }));
  }

  /** Item ids name their run and place, so an `item_reference` to one can be resolved (see item-references.ts). */
  private itemId(kind: 'msg' | 'fc', index: number): string {
    return `${kind}_${this.meta.id.replace(/^run_/, '')}_${index}`;
  }

  private next(type: string, fields: Record<string, unknown>): ResponsesEvent {
    return { type, sequence_number: ++this.seq, ...fields };
  }

  private textRef() {
    return { item_id: this.open!.item.id, output_index: this.open!.index, content_index: 0 };
  }

  private openMessage(out: ResponsesEvent[]): void {
    const index = this.output.length;
    const item: MessageOutput = {
      type: 'message',
      id: this.itemId('msg', index),
      role: 'assistant',
      status: 'in_progress',
      content: [],
    };
    this.output.push(item);
    out.push(this.next('response.output_item.added', { output_index: index, item: structuredClone(item) }));
    item.content.push({ type: 'output_text', text: '', annotations: [], logprobs: [] });
    this.open = { item, index };
    out.push(this.next('response.content_part.added', { ...this.textRef(), part: structuredClone(item.content[0]) }));
  }

  private closeMessage(out: ResponsesEvent[], status: MessageOutput['status']): void {
    if (!this.open) return;
    const ref = this.textRef();
    const { item } = this.open;
    const part = item.content[0]!;
    item.status = status;
    out.push(
      this.next('response.output_text.done', { ...ref, text: part.text, logprobs: [] }),
      this.next('response.content_part.done', { ...ref, part: structuredClone(part) }),
      this.next('response.output_item.done', { output_index: ref.output_index, item: structuredClone(item) }),
    );
    this.open = undefined;
  }

  private functionCall(out: ResponsesEvent[], callId: string, name: string, args: unknown): void {
    const index = this.output.length;
    const text = typeof args === 'string' ? args : JSON.stringify(args ?? {});
    const item: FunctionCallOutput = { type: 'function_call', id: this.itemId('fc', index), call_id: callId, name, arguments: '', status: 'in_progress' };
    this.output.push(item);
    out.push(this.next('response.output_item.added', { output_index: index, item: structuredClone(item) }));
    out.push(this.next('response.function_call_arguments.delta', { item_id: item.id, output_index: index, delta: text }));
    item.arguments = text;
    out.push(this.next('response.function_call_arguments.done', { item_id: item.id, output_index: index, name, arguments: text }));
    item.status = 'completed';
    out.push(this.next('response.output_item.done', { output_index: index, item: structuredClone(item) }));
  }
}
