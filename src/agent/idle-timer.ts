/**
 * Aborts when the model has been silent too long. Paused while tools run and while we back off
 * before a retry: that silence is ours, not the model's.
 */
export class IdleTimer {
  private timer: NodeJS.Timeout | undefined;
  private paused = 0;
  private stopped = false;
  constructor(
    private readonly ms: number,
    private readonly onIdle: () => void,
  ) {}

  /** The model said something (or we just asked it): its silence starts again, unless paused. */
  touch(): void {
    if (this.paused > 0 || this.stopped) return;
    if (this.timer) this.timer.refresh();
    else this.timer = setTimeout(this.onIdle, this.ms);
  }

  pause(): void {
    this.paused++;
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  resume(): void {
    this.paused--;
    this.touch();
  }

  /** Runs `work` with the clock paused. */
  async while<T>(work: () => Promise<T>): Promise<T> {
    this.pause();
    try {
      return await work();
    } finally {
      this.resume();
    }
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
