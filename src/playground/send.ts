import { AuthenticationError, NetworkError, type StreamEvent } from '../client/index.js';
import type { AgentPicker } from './agent-picker.js';
import { AssistantView } from './assistant-view.js';
import type { Banner } from './banner.js';
import type { Composer } from './composer.js';
import type { Conversation } from './conversation.js';
import { describeError } from './describe-error.js';
import type { KeyPanel } from './key-panel.js';
import { ReplyRenderer } from './reply-renderer.js';
import type { SessionList } from './session-list.js';
import { setSessionUrl } from './session-url.js';
import type { PlaygroundState } from './state.js';
import type { Thread } from './thread.js';
import type { Turns } from './turns.js';

export interface SenderParts {
  agentPicker: AgentPicker;
  thread: Thread;
  composer: Composer;
  banner: Banner;
  keyPanel: KeyPanel;
  sessionList: SessionList;
  conversation: Conversation;
  turns: Turns;
}

/** Sends a message and streams the reply into the thread. */
export class Sender {
  private readonly agentPicker: AgentPicker;
  private readonly thread: Thread;
  private readonly composer: Composer;
  private readonly banner: Banner;
  private readonly keyPanel: KeyPanel;
  private readonly sessionList: SessionList;
  private readonly conversation: Conversation;
  private readonly turns: Turns;

  constructor(
    private readonly state: PlaygroundState,
    parts: SenderParts,
  ) {
    this.agentPicker = parts.agentPicker;
    this.thread = parts.thread;
    this.composer = parts.composer;
    this.banner = parts.banner;
    this.keyPanel = parts.keyPanel;
    this.sessionList = parts.sessionList;
    this.conversation = parts.conversation;
    this.turns = parts.turns;
  }

  /**
   * Never rejects: failures end up in the reply or the banner. The run outlives the page
   * (`on_disconnect: "continue"`): a reload picks the reply up again, and Stop cancels the run.
   */
  async send(text: string): Promise<void> {
    const { state, thread, composer, banner, keyPanel, sessionList, conversation } = this;
    if (state.running) return;
    const client = state.client;
    if (!client) {
      banner.show('Enter an API key first: it is sent as the X-API-Key header with every request.');
      keyPanel.open();
      return;
    }
    banner.hide();
    const view = state.view;
    const agent = state.sessionId === undefined ? this.agentPicker.forNewChat() : undefined;
    const user = thread.addUserMessage(text);
    const reply = new AssistantView(thread, true);
    thread.scrollToBottom();
    const turn = this.turns.begin(client);
    const renderer = new ReplyRenderer(reply);
    let runId: string | undefined;
    /** Events received so far: the n-th event of the stream is event n of the run. */
    let received = 0;
    const apply = (event: StreamEvent): void => {
      if (event.type === 'start' && runId === undefined) {
        runId = event.run_id;
        turn.setRun(runId);
        keyPanel.noteKeyOutcome(client);
        if (view === state.view) {
          const isNew = state.sessionId !== event.session_id;
          state.sessionId = event.session_id;
          if (isNew) {
            this.agentPicker.lock(agent);
            setSessionUrl(event.session_id, 'replace');
            conversation.setTitle(text.length > 60 ? `${text.slice(0, 57)}…` : text);
            void sessionList.refresh(); // never rejects; the reply does not wait for the list
          }
        }
      }
      renderer.apply(event);
    };
    try {
      try {
        const options = {
          signal: turn.signal,
          onDisconnect: 'continue' as const,
          ...(state.sessionId === undefined ? {} : { sessionId: state.sessionId }),
          ...(agent === undefined ? {} : { agent }),
        };
        for await (const event of client.stream(text, options)) {
          received++;
          apply(event);
        }
      } catch (err) {
        // The run goes on without this connection: a stream cut mid-reply resumes where it broke.
        if (!(err instanceof NetworkError) || runId === undefined || turn.signal.aborted) throw err;
        for await (const { event } of client.runs.events(runId, { after: received, signal: turn.signal })) apply(event);
      }
    } catch (err) {
      keyPanel.noteKeyOutcome(client, err);
      if (turn.signal.aborted) {
        // Without Stop, the page moved to another conversation and this reply is no longer shown.
        if (turn.stopping) renderer.stopped();
      } else if (runId === undefined) {
        // Nothing reached the session: take the message back so it can be sent again.
        user.remove();
        reply.root.remove();
        thread.updateEmptyState();
        composer.restore(text);
        banner.show(describeError(err));
        if (err instanceof AuthenticationError) keyPanel.open();
      } else {
        renderer.outcome = 'error';
        reply.note('error', describeError(err, true));
      }
    } finally {
      reply.finish(renderer.outcome);
      this.turns.end(turn);
      if (runId !== undefined) void sessionList.refresh(); // never rejects; nothing after this waits for it
    }
  }
}
