/**
 * What a caller may set for one turn besides its message, protocol-neutral: the HTTP routes
 * translate their wire names (OpenAI's `max_tokens`, the Responses API's `max_output_tokens`…)
 * into these, and the agent passes them to every model call of the turn.
 */
export interface ModelSettings {
  temperature?: number | undefined;
  topP?: number | undefined;
  maxOutputTokens?: number | undefined;
  stopSequences?: string[] | undefined;
  seed?: number | undefined;
  presencePenalty?: number | undefined;
  frequencyPenalty?: number | undefined;
  /** The answer's format: text, or JSON (matching `schema` when given; `strict` asks the provider to enforce it). */
  responseFormat?:
    | { type: 'text' }
    | { type: 'json'; schema?: Record<string, unknown> | undefined; name?: string | undefined; description?: string | undefined; strict?: boolean | undefined }
    | undefined;
}

/**
 * Which tools the model may or must call: `none` holds for every step of the turn; `required`
 * and a named tool hold for its first model call (afterwards the agent's loop goes on as `auto`,
 * or a tool it runs itself would be called forever).
 */
export type ToolChoice = 'auto' | 'none' | 'required' | { type: 'tool'; name: string };

/** An image or a file sent with the user's message, for models that take them. */
export interface Attachment {
  kind: 'image' | 'file';
  /** IANA media type (`image/png`, `application/pdf`…). */
  mediaType: string;
  /** An http(s) URL, or the content base64-encoded. */
  data: string;
  filename?: string | undefined;
  /** Where the request had it (`messages.2.content.1`), for errors that name it; not stored. */
  field?: string | undefined;
}

export type AttachmentKind = Attachment['kind'];
