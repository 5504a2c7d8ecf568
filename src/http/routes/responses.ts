/**
 * The OpenAI Responses API (`/v1/responses`) over runs: the response id is the run id, a stored
 * response continues its session (`previous_response_id`), `function` tools are the client's,
 * and a background response is polled, streamed, resumed and cancelled through the run's log.
 * Errors take OpenAI's shape (see openai-errors.ts).
 */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { AgentSet } from '../../agent/agent-set.js';
import type { ClientTool } from '../../agent/prepare-tools.js';
import { FINAL_STATUSES, type Run } from '../../core/runs.js';
import type { ModelSettings, ToolChoice } from '../../core/turn-options.js';
import { RunError } from '../../runs/run-error.js';
import type { RunRequest, RunService } from '../../runs/run-service.js';
import { ApiError } from '../errors.js';
import { hangUpSignal } from '../hang-up-signal.js';
import { OpenAiErrorBody, openAiErrorHandler } from '../openai-errors.js';
import { ResponseObject, type OutputItem } from '../response-object.js';
import { resolveItemReferences } from '../item-references.js';
import { ResponsesEncoder } from '../responses-encoder.js';
import { responsesTurn } from '../responses-input.js';
import { ResponsesRequest } from '../responses-request.js';
import { defaultMeta, ResponsesTranslator, type ResponseMeta } from '../responses-translator.js';
import { responseFromRun } from '../response-from-run.js';
import { answerHungUp, sendEventStream } from '../send-event-stream.js';

const ResponseParams = z.object({ response_id: z.string().min(1).max(128).describe('The response id (run_…)') });

const RetrieveQuery = z.object({
  stream: z.enum(['true', 'false']).optional().describe('true: stream the response as events (from the start, or after `starting_after`)'),
  starting_after: z.coerce.number().int().min(-1).optional().describe('With stream=true: send the events whose sequence_number is above this'),
});

const openAiErrors = {
  400: OpenAiErrorBody,
  401: OpenAiErrorBody,
  404: OpenAiErrorBody,
  409: OpenAiErrorBody,
  410: OpenAiErrorBody,
  413: OpenAiErrorBody,
  415: OpenAiErrorBody,
  429: OpenAiErrorBody,
  500: OpenAiErrorBody,
  502: OpenAiErrorBody,
  503: OpenAiErrorBody,
  504: OpenAiErrorBody,
};

/** How long a cancel waits for the run to end, so it can answer with the cancelled response. */
const CANCEL_WAIT_MS = 5000;

const seconds = (iso: string) => Math.floor(Date.parse(iso) / 1000);

function invalid(field: string, message: string): ApiError {
  return new ApiError('validation_error', `Invalid request: ${field}: ${message}`, [{ field, message }]);
}

/** A run the caller may not see, or without a session to continue, is one unknown response. */
async function storedRun(runs: RunService, id: string, owner: string, field?: string): Promise<Run> {
  try {
    return await runs.get(id, owner);
  } catch (err) {
    if (err instanceof RunError && err.code === 'run_not_found') {
      throw new ApiError('run_not_found', `No response '${id}'`, field ? [{ field, message: 'no such response' }] : undefined);
    }
    throw err;
  }
}

function toolChoiceOf(choice: ResponsesRequest['tool_choice']): ToolChoice | undefined {
  if (choice == null) return undefined;
  return typeof choice === 'string' ? choice : { type: 'tool', name: choice.name };
}

function settingsOf(body: ResponsesRequest): ModelSettings {
  const format = body.text?.format;
  return {
    ...(body.temperature == null ? {} : { temperature: body.temperature }),
    ...(body.top_p == null ? {} : { topP: body.top_p }),
    ...(body.max_output_tokens == null ? {} : { maxOutputTokens: body.max_output_tokens }),
    ...(format == null
      ? {}
      : {
          responseFormat:
            format.type === 'text'
              ? { type: 'text' as const }
              : format.type === 'json_object'
                ? { type: 'json' as const }
                : {
                    type: 'json' as const,
                    schema: format.schema,
                    ...(format.name ? { name: format.name } : {}),
                    ...(format.description ? { description: format.description } : {}),
                    ...(format.strict == null ? {} : { strict: format.strict }),
                  },
        }),
  };
}

function clientToolsOf(tools: ResponsesRequest['tools']): ClientTool[] {
  return (tools ?? []).map((t) => ({
    name: t.name,
    ...(t.description ? { description: t.description } : {}),
    parameters: t.parameters ?? { type: 'object', properties: {} },
  }));
}

/** A run's output items as its stream had them (its log replayed), or rebuilt from its record once the log is gone. */
async function outputOf(runs: RunService, runId: string, owner: string): Promise<OutputItem[] | undefined> {
  let run: Run;
  try {
    run = await runs.get(runId, owner);
  } catch (err) {
    if (err instanceof RunError && err.code === 'run_not_found') return undefined;
    throw err;
  }
  const meta = defaultMeta(run.id, 0, '');
  if (FINAL_STATUSES.includes(run.status)) {
    try {
      const translator = new ResponsesTranslator(meta);
      for await (const { event } of await runs.follow(runId, owner, 0, AbortSignal.timeout(CANCEL_WAIT_MS))) translator.translate(event);
      return translator.snapshot().output;
    } catch (err) {
      if (!(err instanceof RunError)) throw err;
    }
  }
  return responseFromRun(run, meta).output;
}

export const responsesRoutes: FastifyPluginAsyncZod<{ agents: AgentSet; runs: RunService; heartbeatMs: number }> = async (app, { runs, heartbeatMs }) => {
  // Encapsulated: errors of these routes (the global auth and rate-limit hooks' included) take OpenAI's shape.
  app.setErrorHandler(openAiErrorHandler);

  app.post(
    '/v1/responses',
    {
      schema: {
        tags: ['openai'],
        summary: 'OpenAI-compatible Responses API (the agent, tool loop included)',
        description:
          'The OpenAI Responses API backed by the agent named by `model`. `input` is a string or a list of items (messages with text, ' +
          'images and files; `function_call`; `function_call_output`); system/developer messages and `instructions` are ignored (the ' +
          'agent has its own). The response id is the run id. A response is stored in a session unless `store: false`; ' +
          '`previous_response_id` continues it. `function` tools are run by the client: the model calling one ends the response with a ' +
          '`function_call` item, answered by a `function_call_output` item in the next request. The agent’s own tool steps are in ' +
          '`agent_tool_calls` (stream: `response.agent_tool_call` events). `stream: true` sends typed events with `sequence_number`; ' +
          '`background: true` answers at once (`in_progress`).',
        body: ResponsesRequest,
        produces: ['application/json', 'text/event-stream'],
        response: { 200: ResponseObject, ...openAiErrors },
      },
    },
    async (request, reply) => {
      const { body, owner } = request;
      let sessionId: string | undefined;
      const earlierCalls = new Map<string, string>();
      if (body.previous_response_id) {
        if (body.store === false) throw invalid('store', 'a response continuing a previous one (previous_response_id) is stored: leave store out');
        const previous = await storedRun(runs, body.previous_response_id, owner, 'previous_response_id');
        if (!previous.session_id) {
          throw new ApiError('run_not_found', `Response '${previous.id}' was not stored (store: false): it cannot be continued`, [
            { field: 'previous_response_id', message: 'not a stored response' },
          ]);
        }
        sessionId = previous.session_id;
        for (const call of previous.tool_calls) earlierCalls.set(call.id, call.name);
      }
      const input = typeof body.input === 'string' ? body.input : await resolveItemReferences(body.input, (runId) => outputOf(runs, runId, owner));
      const turn = responsesTurn(input, (callId) => earlierCalls.get(callId));
      const background = body.background === true;
      const hungUp = hangUpSignal(reply);
      const runRequest: RunRequest = {
        owner,
        agent: body.model,
        message: turn.message,
        log: request.log,
        ...(turn.attachments.length ? { attachments: turn.attachments } : {}),
        ...(body.tools?.length ? { clientTools: clientToolsOf(body.tools) } : {}),
        toolChoice: toolChoiceOf(body.tool_choice),
        settings: settingsOf(body),
        // A background response goes on without its client.
        ...(background ? {} : { signal: hungUp }),
        ...(body.store === false ? { history: turn.prior } : { sessionId, toolResults: turn.prior }),
      };
      const run = await runs.start(runRequest);
      const meta: ResponseMeta = {
        ...defaultMeta(run.id, Math.floor(Date.now() / 1000), body.model),
        background,
        store: body.store !== false,
        previousResponseId: body.previous_response_id ?? null,
        instructions: body.instructions ?? null,
        maxOutputTokens: body.max_output_tokens ?? null,
        temperature: body.temperature ?? null,
        topP: body.top_p ?? null,
        toolChoice: body.tool_choice ?? 'auto',
        tools: body.tools ?? [],
        textFormat: body.text?.format ?? { type: 'text' },
        metadata: body.metadata ?? {},
      };
      const translator = new ResponsesTranslator(meta);
      if (body.stream === true) {
        return sendEventStream(reply, run.follow(0, hungUp), { encoder: new ResponsesEncoder(translator), heartbeatMs, hungUp, log: request.log });
      }
      if (background) {
        translator.translate({ type: 'start', session_id: run.sessionId ?? '', run_id: run.id });
        return translator.snapshot();
      }
      for await (const { event } of run.follow(0, hungUp)) translator.translate(event);
      if (hungUp.aborted) return answerHungUp(reply);
      await run.done;
      const failure = translator.failure;
      if (failure) {
        throw new ApiError(failure.code, failure.message, undefined, failure.retryAfter === undefined ? {} : { 'retry-after': String(failure.retryAfter) });
      }
      return translator.snapshot();
    },
  );

  app.get(
    '/v1/responses/:response_id',
    {
      schema: {
        tags: ['openai'],
        summary: 'OpenAI-compatible: a response (poll a background one), or its events (stream=true)',
        description:
          'The response as its run stands now. With `stream=true`, its typed events from the start, or after `starting_after` (a ' +
          '`sequence_number`), then live until it ends: on any worker or replica, while the run’s events are kept.',
        params: ResponseParams,
        querystring: RetrieveQuery,
        produces: ['application/json', 'text/event-stream'],
        response: { 200: ResponseObject, ...openAiErrors },
      },
    },
    async (request, reply) => {
      const { response_id: id } = request.params;
      const run = await storedRun(runs, id, request.owner);
      // Runs do not record their agent; their session does (a run without one had the default).
      const meta = defaultMeta(run.id, seconds(run.created_at), await runs.agentOfRun(run, request.owner));
      if (request.query.stream !== 'true') return responseFromRun(run, meta);
      const hungUp = hangUpSignal(reply);
      const events = await runs.follow(id, request.owner, 0, hungUp);
      const encoder = new ResponsesEncoder(new ResponsesTranslator(meta), request.query.starting_after ?? -1);
      return sendEventStream(reply, events, { encoder, heartbeatMs, hungUp, log: request.log });
    },
  );

  app.post(
    '/v1/responses/:response_id/cancel',
    {
      schema: {
        tags: ['openai'],
        summary: 'OpenAI-compatible: cancel a response (idempotent)',
        description: 'Stops the run wherever it runs and answers with the response once it has ended (`cancelled`, or as it ended before).',
        params: ResponseParams,
        response: { 200: ResponseObject, ...openAiErrors },
      },
    },
    async (request) => {
      const { response_id: id } = request.params;
      const { owner } = request;
      await storedRun(runs, id, owner);
      const { ended } = await runs.cancel(id, owner);
      if (!ended) {
        const waited = AbortSignal.timeout(CANCEL_WAIT_MS);
        try {
          for await (const entry of await runs.follow(id, owner, 0, waited)) if (entry.event.type === 'end') break;
        } catch (err) {
          // Its events may be gone already; the record below says how it ended.
          if (!(err instanceof RunError) && !waited.aborted) throw err;
        }
      }
      const run = await storedRun(runs, id, owner);
      return responseFromRun(run, defaultMeta(run.id, seconds(run.created_at), await runs.agentOfRun(run, owner)));
    },
  );
};
