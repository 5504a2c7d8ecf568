import type { FinishReason as UIFinishReason, UIMessageChunk } from 'ai';
import type { FinishReason, StreamEvent, Usage } from '../../core/events.js';
import type { EventEncoder } from '../send-event-stream.js';
import type { SseStream } from '../sse-stream.js';

/**
 * The assistant message's `metadata` (`message.metadata` in useChat): `start` carries the run and
 * session, `finish` adds the turn's usage and finish reason (the SDK merges the two).
 */
export interface UIChatMetadata {
  run_id: string;
  session_id: string;
  usage?: Usage;
  finish_reason?: FinishReason;
}

/** Ours in the AI SDK's words; a turn cut off at its step limit is `other` there. */
const UI_FINISH_REASONS: Record<FinishReason, UIFinishReason> = {
  stop: 'stop',
  length: 'length',
  tool_calls: 'tool-calls',
  content_filter: 'content-filter',
  max_steps: 'other',
  error: 'error',
};

/**
 * Maps our StreamEvents to UI message chunks. Text between other events is one text block. Steps
 * follow `step_start`; a step's tool results come after its `step_finish`, so it closes at the next
 * step or the end. An agent of its own that sends no step events gets steps inferred: one ends when
 * text or a new call follows tool results with none outstanding.
 */
export class UIChunkMapper implements EventEncoder {
  private text: string | undefined; // id of the open text block
  private blocks = 0;
  private stepOpen = false;
  private readonly pending = new Set<string>();
  /** Calls whose arguments are streaming (tool_call_delta): their `tool-input-start` went out. */
  private readonly streaming = new Set<string>();
  private resultsSeen = false;
  private explicitSteps = false;
  private failed = false;
  private metadata: UIChatMetadata;
  constructor(private readonly messageId: string) {
    this.metadata = { run_id: messageId, session_id: '' };
  }

  write(event: StreamEvent, sse: SseStream): void {
    for (const chunk of this.map(event)) sse.data(chunk);
  }

  close(sse: SseStream): void {
    sse.done();
  }

  map(event: StreamEvent): UIMessageChunk[] {
    const out: UIMessageChunk[] = [];
    switch (event.type) {
      case 'start':
        this.metadata = { run_id: event.run_id, session_id: event.session_id };
        out.push({ type: 'start', messageId: this.messageId, messageMetadata: this.metadata });
        break;
      case 'step_start':
        this.explicitSteps = true;
        this.closeStep(out);
        out.push({ type: 'start-step' });
        this.stepOpen = true;
        break;
      case 'step_finish':
        this.closeText(out);
        break;
      case 'token':
        this.step(out);
        if (this.text === undefined) {
          this.text = `text-${++this.blocks}`;
          out.push({ type: 'text-start', id: this.text });
        }
        out.push({ type: 'text-delta', id: this.text, delta: event.content });
        break;
      case 'tool_call_delta':
        this.step(out);
        this.closeText(out);
        if (!this.streaming.has(event.id)) {
          this.streaming.add(event.id);
          out.push({ type: 'tool-input-start', toolCallId: event.id, toolName: event.name });
        }
        out.push({ type: 'tool-input-delta', toolCallId: event.id, inputTextDelta: event.arguments_delta });
        break;
      case 'tool_call': {
        this.step(out);
        this.closeText(out);
        this.pending.add(event.id);
        const input = event.arguments ?? {};
        if (!this.streaming.delete(event.id)) {
          out.push(
            { type: 'tool-input-start', toolCallId: event.id, toolName: event.name },
            { type: 'tool-input-delta', toolCallId: event.id, inputTextDelta: JSON.stringify(input) },
          );
        }
        out.push({ type: 'tool-input-available', toolCallId: event.id, toolName: event.name, input });
        break;
      }
      case 'tool_result':
        this.closeText(out);
        this.pending.delete(event.id);
        this.resultsSeen = true;
        out.push({ type: 'tool-output-available', toolCallId: event.id, output: event.result });
        break;
      case 'error':
        this.closeStep(out);
        out.push({ type: 'error', errorText: event.message });
        this.failed = true;
        break;
      case 'end':
        this.closeStep(out);
        out.push({
          type: 'finish',
          finishReason: this.failed ? 'error' : UI_FINISH_REASONS[event.finish_reason],
          messageMetadata: { ...this.metadata, usage: event.usage, finish_reason: this.failed ? 'error' : event.finish_reason } satisfies UIChatMetadata,
        });
        break;
    }
    return out;
  }

  private step(out: UIMessageChunk[]): void {
    if (this.explicitSteps) return;
    if (this.stepOpen && this.resultsSeen && this.pending.size === 0) this.closeStep(out);
    if (!this.stepOpen) {
      out.push({ type: 'start-step' });
      this.stepOpen = true;
      this.resultsSeen = false;
    }
  }

  private closeText(out: UIMessageChunk[]): void {
    if (this.text === undefined) return;
    out.push({ type: 'text-end', id: this.text });
    this.text = undefined;
  }

  private closeStep(out: UIMessageChunk[]): void {
    this.closeText(out);
    if (!this.stepOpen) return;
    out.push({ type: 'finish-step' });
    this.stepOpen = false;
  }
}
