import { describeFinish } from '../client/describe-finish.js';
import type { StreamEvent } from '../client/index.js';
import type { AssistantView } from './assistant-view.js';

export type ReplyOutcome = 'done' | 'stopped' | 'error';

export const STOPPED_NOTE = 'Stopped. What arrived so far is kept in the session.';

/** A run's events drawn into one assistant reply: the same for a message sent here and a run followed after a reload. */
export class ReplyRenderer {
  outcome: ReplyOutcome = 'done';
  private failed = false;

  constructor(private readonly reply: AssistantView) {}

  apply(event: StreamEvent): void {
    const { reply } = this;
    switch (event.type) {
      case 'start':
        reply.root.dataset['runId'] = event.run_id;
        break;
      case 'token':
        reply.appendText(event.content);
        break;
      case 'tool_call':
        reply.addTool(event.id, event.name, event.arguments);
        break;
      case 'tool_result':
        reply.setToolResult(event.id, event.result);
        break;
      case 'error':
        this.failed = true;
        if (event.code === 'cancelled') {
          // Stopped from another page (or through the API) while this one was following.
          this.outcome = 'stopped';
          reply.note('stopped', STOPPED_NOTE);
        } else if (event.code === 'interrupted' || event.code === 'shutting_down') {
          this.outcome = 'stopped';
          reply.note('interrupted', `Interrupted: ${event.message}`);
        } else {
          this.outcome = 'error';
          reply.note(
            'error',
            event.code === 'upstream_timeout' ? `The model did not answer in time: ${event.message}` : `The model failed while answering: ${event.message}`,
          );
        }
        break;
      case 'end': {
        const cutShort = describeFinish(event.finish_reason);
        if (cutShort) reply.note('cut-short', `Stopped: ${cutShort}.`);
        else if (!reply.hasContent && !this.failed) reply.note('empty', 'The model sent an empty reply.');
        break;
      }
      case 'step_start':
      case 'step_finish':
      case 'tool_call_delta':
        // Tool calls are shown whole, when complete.
        break;
    }
  }

  /** The local stream ended because Stop was pressed. */
  stopped(): void {
    this.outcome = 'stopped';
    this.reply.note('stopped', STOPPED_NOTE);
  }
}
