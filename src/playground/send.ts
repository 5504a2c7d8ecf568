import { AuthenticationError, type StreamEvent } from '../client/index.js';
import { AssistantView } from './assistant-view.js';
import type { Banner } from './banner.js';
import type { Composer } from './composer.js';
import type { Conversation } from './conversation.js';
import { describeError } from './describe-error.js';
import type { KeyPanel } from './key-panel.js';
import type { SessionList } from './session-list.js';
import type { PlaygroundState } from './state.js';
import type { Thread } from './thread.js';

export interface SenderParts {
  thread: Thread;
  composer: Composer;
  banner: Banner;
  keyPanel: KeyPanel;
  sessionList: SessionList;
  conversation: Conversation;
}

/** Sends a message and streams the reply into the thread. */
export class Sender {
  private readonly thread: Thread;
  private readonly composer: Composer;
  private readonly banner: Banner;
  private readonly keyPanel: KeyPanel;
  private readonly sessionList: SessionList;
  private readonly conversation: Conversation;

  constructor(
    private readonly state: PlaygroundState,
    parts: SenderParts,
  ) {
    this.thread = parts.thread;
    this.composer = parts.composer;
    this.banner = parts.banner;
    this.keyPanel = parts.keyPanel;
    this.sessionList = parts.sessionList;
    this.conversation = parts.conversation;
  }

  /** Never rejects: failures end up in the reply or the banner. */
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
    const user = thread.addUserMessage(text);
    const reply = new AssistantView(thread, true);
    thread.scrollToBottom();
    const controller = new AbortController();
    state.running = controller;
    composer.setRunning(true);
    let started = false;
    let failed = false;
    let outcome: 'done' | 'stopped' | 'error' = 'done';
    const handleEvent = (event: StreamEvent): void => {
      switch (event.type) {
        case 'start':
          started = true;
          keyPanel.noteKeyOutcome(client);
          if (view === state.view) {
            const isNew = state.sessionId !== event.session_id;
            state.sessionId = event.session_id;
            if (isNew) {
              conversation.setTitle(text.length > 60 ? `${text.slice(0, 57)}…` : text);
              void sessionList.refresh(); // never rejects; the reply does not wait for the list
            }
          }
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
          failed = true;
          outcome = 'error';
          reply.note(
            'error',
            event.code === 'upstream_timeout' ? `The model did not answer in time: ${event.message}` : `The model failed while answering: ${event.message}`,
          );
          break;
        case 'end':
          if (!reply.hasContent && !failed) reply.note('empty', 'The model sent an empty reply.');
          break;
      }
    };
    try {
      const options = { signal: controller.signal, ...(state.sessionId ? { sessionId: state.sessionId } : {}) };
      for await (const event of client.stream(text, options)) {
        handleEvent(event);
      }
    } catch (err) {
      keyPanel.noteKeyOutcome(client, err);
      if (controller.signal.aborted) {
        outcome = 'stopped';
        reply.note('stopped', 'Stopped. What arrived so far is kept in the session.');
      } else if (!started) {
        // Nothing reached the session: take the message back so it can be sent again.
        user.remove();
        reply.root.remove();
        thread.updateEmptyState();
        composer.restore(text);
        banner.show(describeError(err));
        if (err instanceof AuthenticationError) keyPanel.open();
      } else {
        outcome = 'error';
        reply.note('error', describeError(err, true));
      }
    } finally {
      reply.finish(outcome);
      if (state.running === controller) {
        state.running = undefined;
        composer.setRunning(false);
      }
      if (started) void sessionList.refresh(); // never rejects; nothing after this waits for it
    }
  }
}
