import type { StreamEvent } from '../client/index.js';

type Stream = NodeJS.WriteStream;

/** Compact JSON, cut to `max` characters. */
function brief(value: unknown, max = 200): string {
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** A tool result without the fields that only echo its arguments ({expression, result} → {result}). */
function resultView(args: unknown, result: unknown): string {
  if (typeof result === 'object' && result !== null && !Array.isArray(result)) {
    const entries = Object.entries(result);
    if (entries.length === 1 && entries[0]![0] === 'error' && typeof entries[0]![1] === 'string') return `error: ${entries[0]![1]}`;
    if (typeof args === 'object' && args !== null) {
      const a = args as Record<string, unknown>;
      const kept = entries.filter(([k, v]) => !(k in a) || JSON.stringify(a[k]) !== JSON.stringify(v));
      if (kept.length > 0 && kept.length < entries.length) return brief(Object.fromEntries(kept));
    }
  }
  return brief(result);
}

/** Writes the reply to stdout and tool activity to stderr, keeping the two readable on one terminal. */
export class Printer {
  /** stdout holds text not ended by a newline. */
  private midLine = false;
  /** The arguments of each call, to show its result against. */
  private readonly calls = new Map<string, unknown>();
  /** The call whose `⚙ tool(args)` line on stderr awaits its ` → result`. */
  private pendingCall: string | undefined;
  private readonly shared: boolean;

  constructor(
    private readonly out: Stream,
    private readonly err: Stream,
  ) {
    // Both on one terminal: a stderr line must not start in the middle of the reply's line.
    this.shared = Boolean(out.isTTY && err.isTTY);
  }

  text(content: string): void {
    if (!content) return;
    this.closeCall();
    this.out.write(content);
    this.midLine = !content.endsWith('\n');
  }

  toolCall(event: Extract<StreamEvent, { type: 'tool_call' }>): void {
    this.closeCall();
    this.breakLine();
    this.err.write(`⚙ ${event.name}(${brief(event.arguments, 120)})`);
    this.calls.set(event.id, event.arguments);
    this.pendingCall = event.id;
  }

  toolResult(event: Extract<StreamEvent, { type: 'tool_result' }>): void {
    const result = resultView(this.calls.get(event.id), event.result);
    this.calls.delete(event.id);
    if (this.pendingCall === event.id) {
      this.err.write(` → ${result}\n`);
      this.pendingCall = undefined;
      return;
    }
    // Several calls in one step: their results come after all the calls.
    this.closeCall();
    this.breakLine();
    this.err.write(`⚙ ${event.name} → ${result}\n`);
  }

  /** One line on stderr, on a line of its own. */
  line(text: string): void {
    this.closeCall();
    this.breakLine();
    this.err.write(`${text}\n`);
  }

  /** After the reply: end the terminal line (a pipe gets the reply exactly). */
  finish(): void {
    this.closeCall();
    if (this.midLine && this.out.isTTY) this.out.write('\n');
    this.midLine = false;
  }

  private closeCall(): void {
    if (!this.pendingCall) return;
    this.err.write('\n');
    this.pendingCall = undefined;
  }

  private breakLine(): void {
    if (this.shared && this.midLine) {
      this.err.write('\n');
      this.midLine = false;
    }
  }
}
