/** How long a Stop pressed before the run's id arrived waits for it before only hanging up. */
const STOP_WAIT_MS = 2000;

/**
 * The reply the page is streaming now, sent from here or followed after a reload. The run goes on
 * without the page (`on_disconnect: "continue"`), so Stop cancels it on the service by its id and
 * ends the local stream; leaving (another session, New chat) ends only the local stream, and the
 * run finishes on its own, to be picked up when its session is opened again.
 */
export class LiveTurn {
  private readonly controller = new AbortController();
  private runId: string | undefined;
  private stopRequested = false;
  private fallback: ReturnType<typeof setTimeout> | undefined;

  constructor(private readonly cancelRun: (runId: string) => void) {}

  /** Aborts the local stream (Stop, or leaving). */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** Stop was pressed (as opposed to the page leaving the conversation). */
  get stopping(): boolean {
    return this.stopRequested;
  }

  /** The run's id is known (its `start` event); a Stop pressed before then takes effect now. */
  setRun(runId: string): void {
    this.runId = runId;
    if (this.stopRequested) this.cancel();
  }

  stop(): void {
    if (this.stopRequested) return;
    this.stopRequested = true;
    if (this.runId !== undefined) this.cancel();
    else this.fallback = setTimeout(() => this.controller.abort(), STOP_WAIT_MS);
  }

  leave(): void {
    clearTimeout(this.fallback);
    this.controller.abort();
  }

  private cancel(): void {
    clearTimeout(this.fallback);
    if (this.runId !== undefined) this.cancelRun(this.runId);
    this.controller.abort();
  }
}
