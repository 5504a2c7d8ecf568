import type { ToolExecutionOptions } from 'ai';
import type { IdleTimer } from './idle-timer.js';
import type { PreparedTool } from './prepare-tools.js';

/** What a failed tool call gives the model (and the client): it can read it and correct itself. */
export function toolError(message: string): { error: string } {
  return { error: message };
}

/** Parses the model's JSON arguments; empty text is no arguments. */
export function parseArguments(input: string): { ok: true; value: unknown } | { ok: false; error: string } {
  if (input.trim() === '') return { ok: true, value: {} };
  try {
    return { ok: true, value: JSON.parse(input) as unknown };
  } catch {
    return { ok: false, error: 'The arguments are not valid JSON' };
  }
}

/** Resolves when `signal` fires, with its reason; never rejects. */
export function whenAborted(signal: AbortSignal): Promise<{ aborted: true }> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve({ aborted: true });
    else signal.addEventListener('abort', () => resolve({ aborted: true }), { once: true });
  });
}

/**
 * Runs one call of one of the agent's tools: arguments checked against its schema first; an
 * unknown tool, invalid arguments or a throw become an error result. The tool gets the run's
 * signal; one that ignores it is not waited for once the run is aborted.
 */
export async function runToolCall(
  tool: PreparedTool | undefined,
  call: { id: string; name: string; arguments: unknown; argumentsError?: string | undefined },
  signal: AbortSignal,
  idle: IdleTimer,
  aborted: Promise<{ aborted: true }> = whenAborted(signal),
): Promise<unknown> {
  if (!tool) return toolError(`Unknown tool '${call.name}'`);
  if (call.argumentsError) return toolError(`Invalid arguments for ${call.name}: ${call.argumentsError}`);
  let input = call.arguments;
  if (tool.validate) {
    const checked = await tool.validate(input);
    if (!checked.success) return toolError(`Invalid arguments for ${call.name}: ${checked.error.message}`);
    input = checked.value;
  }
  const { execute } = tool.tool;
  if (!execute) return toolError(`The tool ${call.name} has no implementation`);
  const options: ToolExecutionOptions = { toolCallId: call.id, messages: [], abortSignal: signal };
  return idle.while(async () => {
    try {
      const run = Promise.resolve(execute(input, options)).then(lastValue);
      const outcome = await Promise.race([run.then((value) => ({ value })), aborted]);
      run.catch(() => {}); // a tool failing after the run was aborted has nobody to tell
      return 'aborted' in outcome ? toolError('The run was stopped') : outcome.value;
    } catch (error) {
      return toolError(error instanceof Error ? error.message : String(error));
    }
  });
}

/** A streaming tool (an async iterable) answers with its last value. */
async function lastValue(output: unknown): Promise<unknown> {
  if (output === null || typeof output !== 'object' || !(Symbol.asyncIterator in output)) return output;
  let last: unknown;
  for await (const value of output as AsyncIterable<unknown>) last = value;
  return last;
}
