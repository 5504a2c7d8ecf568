import { ApiError } from './errors.js';
import type { OutputItem } from './response-object.js';

/** `msg_<run>_<n>` / `fc_<run>_<n>`, as ResponsesTranslator names its items. */
const ITEM_ID = /^(?:msg|fc)_([0-9a-f]{1,64})_\d{1,6}$/;

/**
 * Replaces `item_reference` items by the items they name, our earlier output. Clients that know
 * the response was stored send references instead of the items (the AI SDK does with `store`).
 * `outputOf` gives a run's output items, undefined for a run the caller cannot see.
 */
export async function resolveItemReferences(input: unknown[], outputOf: (runId: string) => Promise<OutputItem[] | undefined>): Promise<unknown[]> {
  const runs = new Map<string, Promise<OutputItem[] | undefined>>();
  return Promise.all(
    input.map(async (item, i) => {
      if (typeof item !== 'object' || item === null || (item as { type?: unknown }).type !== 'item_reference') return item;
      const id = (item as { id?: unknown }).id;
      const run = typeof id === 'string' ? ITEM_ID.exec(id)?.[1] : undefined;
      const runId = run && `run_${run}`;
      let output: OutputItem[] | undefined;
      if (runId) {
        if (!runs.has(runId)) runs.set(runId, outputOf(runId));
        output = await runs.get(runId);
      }
      const found = output?.find((o) => o.id === id);
      if (!found) {
        const field = `input.${i}.id`;
        throw new ApiError('validation_error', `Invalid request: ${field}: no item '${String(id)}' in a response of yours`, [
          { field, message: 'no such item' },
        ]);
      }
      return found.type === 'message'
        ? { type: 'message', role: 'assistant', content: found.content.map((c) => ({ type: 'output_text', text: c.text })) }
        : { type: 'function_call', call_id: found.call_id, name: found.name, arguments: found.arguments };
    }),
  );
}
