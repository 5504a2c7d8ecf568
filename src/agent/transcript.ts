import type { AgentEvent } from '../core/events.js';
import type { ChatMessage, ToolCall } from '../core/messages.js';

type Draft = { content: string; tool_calls: ToolCall[] };

/**
 * Folds a run's events into the messages to persist, handing each one out as soon as it is
 * complete, so a crash mid-run loses at most the message being written. An assistant message is
 * complete when its tools start answering; text after a tool result begins the next one.
 */
export class Transcript {
  reply = '';
  private draft: Draft | undefined;

  add(event: AgentEvent): ChatMessage[] {
    switch (event.type) {
      case 'token':
        // Text in the same step as a tool call stays in that message: the tool's answer must
        // directly follow the message holding the call.
        this.draft ??= { content: '', tool_calls: [] };
        this.draft.content += event.content;
        this.reply += event.content;
        return [];
      case 'tool_call':
        this.draft ??= { content: '', tool_calls: [] };
        this.draft.tool_calls.push({ id: event.id, name: event.name, arguments: event.arguments });
        return [];
      case 'tool_result':
        return [...this.flush(false), { role: 'tool', tool_call_id: event.id, name: event.name, result: event.result }];
      case 'finish':
      case 'step_start':
      case 'step_finish':
      case 'tool_call_delta':
        return [];
    }
  }

  /**
   * The last message. `interrupted` marks a reply cut short by an error or a hang-up; it is
   * recorded even when nothing was said yet, so the session shows that the turn failed.
   */
  finish(interrupted: boolean): ChatMessage[] {
    if (interrupted) this.draft ??= { content: '', tool_calls: [] };
    return this.flush(interrupted);
  }

  private flush(interrupted: boolean): ChatMessage[] {
    const d = this.draft;
    this.draft = undefined;
    if (!d) return [];
    return [
      {
        role: 'assistant',
        content: d.content,
        ...(d.tool_calls.length ? { tool_calls: d.tool_calls } : {}),
        ...(interrupted ? { interrupted: true } : {}),
      },
    ];
  }
}
