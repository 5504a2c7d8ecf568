import { describeFinish } from '../client/describe-finish.js';
import type { StreamEvent } from '../client/index.js';
import type { Printer } from './printer.js';

export function continueHint(sessionId: string): string {
  return `session ${sessionId} — continue with: agent-api chat --session ${sessionId} "…"`;
}

/** A turn's events on the terminal (through Printer), remembering what its closing lines need. */
export class TurnView {
  sessionId: string | undefined;
  runId: string | undefined;
  /** The turn has begun (its `start` was seen): a later failure leaves a session to continue. */
  started = false;
  failed: Extract<StreamEvent, { type: 'error' }> | undefined;
  /** Why a turn without an error still stopped short (step limit, output limit…). */
  cutShort: string | undefined;

  constructor(
    readonly printer: Printer,
    sessionId?: string,
  ) {
    this.sessionId = sessionId;
  }

  show(event: StreamEvent): void {
    switch (event.type) {
      case 'start':
        this.sessionId = event.session_id;
        this.runId = event.run_id;
        this.started = true;
        break;
      case 'token':
        this.printer.text(event.content);
        break;
      case 'tool_call':
        this.printer.toolCall(event);
        break;
      case 'tool_result':
        this.printer.toolResult(event);
        break;
      case 'error':
        this.failed = event;
        break;
      case 'end':
        this.sessionId = event.session_id;
        this.cutShort = describeFinish(event.finish_reason);
        break;
      case 'step_start':
      case 'step_finish':
      case 'tool_call_delta':
        // The printer shows whole tool calls and text; steps and argument pieces add nothing to read.
        break;
    }
  }

  /** After `end`: the failure, if the turn failed, and the session to continue; the exit code. */
  close(): number {
    this.printer.finish();
    if (this.failed) this.printer.line(`error: ${this.failed.code}: ${this.failed.message} (the reply was cut short)`);
    else if (this.cutShort) this.printer.line(`note: ${this.cutShort}`);
    if (this.sessionId) this.printer.line(continueHint(this.sessionId));
    return this.failed ? 1 : 0;
  }
}
