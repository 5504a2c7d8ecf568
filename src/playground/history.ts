import type { SessionMessage } from '../client/index.js';
import { AssistantView } from './assistant-view.js';
import type { Thread } from './thread.js';

/** Rebuilds a conversation from stored messages: assistant and tool messages after a user message form one turn. */
export function renderHistory(thread: Thread, messages: SessionMessage[]): void {
  let turn: AssistantView | undefined;
  let interrupted = false;
  const closeTurn = (): void => {
    if (!turn) return;
    if (interrupted) turn.note('interrupted', 'Interrupted: this reply was cut short.');
    turn.finish(interrupted ? 'stopped' : 'done');
    turn = undefined;
    interrupted = false;
  };
  for (const m of messages) {
    if (m.role === 'user') {
      closeTurn();
      thread.addUserMessage(m.content ?? '');
      continue;
    }
    turn ??= new AssistantView(thread, false);
    if (m.role === 'assistant') {
      if (m.content) turn.appendText(m.content, true);
      for (const call of m.tool_calls ?? []) turn.addTool(call.id, call.name, call.arguments);
      if (m.interrupted) interrupted = true;
    } else if (m.tool_call_id) {
      turn.setToolResult(m.tool_call_id, m.result);
    }
  }
  closeTurn();
}
