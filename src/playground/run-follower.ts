import { NotFoundError, type AgentClient } from '../client/index.js';
import type { AssistantView } from './assistant-view.js';
import { describeError } from './describe-error.js';
import { ReplyRenderer } from './reply-renderer.js';
import type { SessionList } from './session-list.js';
import type { PlaygroundState } from './state.js';
import type { Thread } from './thread.js';
import type { Turns } from './turns.js';

/** A run still answering in a session just opened, and where its reply goes. */
export interface FollowedRun {
  view: number;
  sessionId: string;
  runId: string;
  /** The live reply, already on the page after the stored history. */
  reply: AssistantView;
  /** Whether the run's user message was stored (and shown) when the history was read. */
  userShown: boolean;
  /** The seq of the last stored message read, to fetch the user message from if it was not. */
  lastSeq: number;
}

export interface RunFollowerParts {
  thread: Thread;
  turns: Turns;
  sessionList: SessionList;
}

/**
 * Picks up a reply still being written (after a reload, or in a session opened while it answers):
 * replays the run's events from the first into a live reply, then follows it until `end`. The
 * history shown before it holds none of this run's reply, so nothing shows twice.
 */
export class RunFollower {
  private readonly thread: Thread;
  private readonly turns: Turns;
  private readonly sessionList: SessionList;

  constructor(
    private readonly state: PlaygroundState,
    parts: RunFollowerParts,
  ) {
    this.thread = parts.thread;
    this.turns = parts.turns;
    this.sessionList = parts.sessionList;
  }

  /** Never rejects: a failure ends up in the reply. */
  async follow(run: FollowedRun): Promise<void> {
    const { state } = this;
    const client = state.client;
    if (!client || run.view !== state.view) return;
    const turn = this.turns.begin(client);
    turn.setRun(run.runId);
    const renderer = new ReplyRenderer(run.reply);
    let userShown = run.userShown;
    let seen = 0;
    try {
      for await (const { event } of client.runs.events(run.runId, { signal: turn.signal })) {
        seen++;
        if (!userShown && event.type !== 'start') {
          // The run stores its user message right after `start`, so by now it can be read.
          userShown = true;
          void this.showUserMessage(run, client); // never rejects; the reply does not wait for it
        }
        renderer.apply(event);
      }
    } catch (err) {
      if (turn.signal.aborted) {
        if (turn.stopping) renderer.stopped();
      } else if (err instanceof NotFoundError) {
        // The run is gone, or its events were pruned: the session holds what was stored.
        renderer.outcome = 'stopped';
        run.reply.note('interrupted', 'This reply can no longer be followed: open the session again to see what was stored.');
      } else {
        renderer.outcome = 'error';
        run.reply.note('error', describeError(err, seen > 0));
      }
    } finally {
      run.reply.finish(renderer.outcome);
      this.turns.end(turn);
      if (run.view === state.view) void this.sessionList.refresh(); // never rejects; nothing waits for it
    }
  }

  /** Never rejects: without it the reply still shows. */
  private async showUserMessage(run: FollowedRun, client: AgentClient): Promise<void> {
    try {
      const detail = await client.sessions.get(run.sessionId, { after: run.lastSeq });
      const user = detail.messages.find((m) => m.role === 'user');
      if (user && run.view === this.state.view) this.thread.addUserMessage(user.content ?? '', run.reply.root);
    } catch {
      // Only the question is missing from the page; the session has it.
    }
  }
}
