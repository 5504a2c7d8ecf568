import type { StreamEvent } from '../core/events.js';
import type { SeqEvent } from '../runs/live-log.js';
import { ApiError } from './errors.js';
import type { ToolCallRecord } from './schemas.js';

export interface CollectedTurn {
  start: Extract<StreamEvent, { type: 'start' }>;
  end: Extract<StreamEvent, { type: 'end' }>;
  toolCalls: ToolCallRecord[];
}

/**
 * Folds a run's events into the whole reply, for the routes that answer once at the end.
 * Undefined when the client hung up (nobody to answer); a mid-turn `error` event is thrown as the
 * ApiError to answer with.
 */
export async function collectTurn(events: AsyncIterable<SeqEvent>, hungUp: AbortSignal): Promise<CollectedTurn | undefined> {
  const calls = new Map<string, ToolCallRecord>();
  let start: CollectedTurn['start'] | undefined;
  let end: CollectedTurn['end'] | undefined;
  let failure: ApiError | undefined;
  for await (const { event } of events) {
    if (event.type === 'start') start = event;
    else if (event.type === 'tool_call') calls.set(event.id, { id: event.id, name: event.name, arguments: event.arguments, result: null });
    else if (event.type === 'tool_result') {
      const call = calls.get(event.id);
      if (call) call.result = event.result;
    } else if (event.type === 'error') {
      const headers: Record<string, string> = event.retry_after === undefined ? {} : { 'retry-after': String(event.retry_after) };
      failure = new ApiError(event.code, event.message, undefined, headers);
    } else if (event.type === 'end') end = event;
  }
  if (hungUp.aborted) return undefined;
  if (failure) throw failure;
  if (!start || !end) throw new ApiError('internal_error');
  return { start, end, toolCalls: [...calls.values()] };
}
