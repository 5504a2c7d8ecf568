/** Token counts for one turn, summed over every model step of the tool loop. */
export interface Usage {
  input_tokens: number;
  output_tokens: number;
  total_tokens: number;
}

/**
 * The one event union: what `/chat/stream` sends as SSE `data:` lines, what `/chat` folds into a
 * JSON reply, and what the TypeScript client yields. Field names are the wire names.
 */
export type StreamEvent =
  | { type: 'start'; session_id: string }
  | { type: 'token'; content: string }
  | { type: 'tool_call'; id: string; name: string; arguments: unknown }
  | { type: 'tool_result'; id: string; name: string; result: unknown }
  | { type: 'error'; code: string; message: string }
  | { type: 'end'; session_id: string; reply: string; usage: Usage };

/** The part of the union an agent produces; `start`/`end` belong to the session around it. */
export type AgentEvent =
  | Extract<StreamEvent, { type: 'token' | 'tool_call' | 'tool_result' }>
  | { type: 'finish'; usage: Usage };
