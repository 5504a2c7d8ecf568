import { NotFoundError, type AgentClient } from '../client/index.js';
import type { Banner } from './banner.js';
import type { Composer } from './composer.js';
import { describeError } from './describe-error.js';
import { LiveTurn } from './live-turn.js';
import type { PlaygroundState } from './state.js';

/** Which reply is live on the page (at most one): Stop and Esc reach it, and the composer shows Stop while it runs. */
export class Turns {
  constructor(
    private readonly state: PlaygroundState,
    private readonly composer: Composer,
    private readonly banner: Banner,
  ) {}

  /** Makes a new reply the live one. */
  begin(client: AgentClient): LiveTurn {
    this.leave();
    const turn = new LiveTurn((runId) => {
      // Stop does not wait for the answer: the local stream ends at once either way.
      void client.runs.cancel(runId).catch((err: unknown) => {
        // A run that no longer exists has nothing left to stop.
        if (!(err instanceof NotFoundError)) this.banner.show(`The reply could not be stopped on the service: ${describeError(err)}`);
      });
    });
    this.state.running = turn;
    this.composer.setRunning(true);
    return turn;
  }

  /** The reply has ended (or was left): frees the composer if it is still the live one. */
  end(turn: LiveTurn): void {
    if (this.state.running !== turn) return;
    this.state.running = undefined;
    this.composer.setRunning(false);
  }

  /** The page shows another conversation: the live reply's stream ends here, its run goes on. */
  leave(): void {
    const turn = this.state.running;
    if (!turn) return;
    turn.leave();
    this.end(turn);
  }
}
