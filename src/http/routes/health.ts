import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { AgentSet } from '../../agent/agent-set.js';
import type { Store } from '../../store/store.js';
import { ApiError } from '../errors.js';
import { ErrorBody, Health, Ready, type AgentReadiness } from '../schemas.js';

export const healthRoutes: FastifyPluginAsyncZod<{ agents: AgentSet; store: Store; version: string }> = async (app, { agents, store, version }) => {
  app.get(
    '/health',
    {
      config: { public: true },
      schema: { tags: ['ops'], summary: 'Liveness: the process is up', response: { 200: Health } },
    },
    async () => ({ status: 'healthy' as const, version }),
  );

  app.get(
    '/ready',
    {
      config: { public: true },
      schema: {
        tags: ['ops'],
        summary: 'Readiness: the store answers and every agent has a model',
        description: 'Reports each agent (`agents`: name, model, ready, reason); a 503 carries the same list in `error.details.agents`.',
        response: { 200: Ready, 503: ErrorBody },
      },
    },
    async () => {
      const reasons: string[] = [];
      const report: AgentReadiness[] = [];
      for (const [name, agent] of agents.entries()) {
        const modelReason = agent.notReadyReason();
        report.push({
          name,
          model: agent.modelName ?? null,
          default: name === agents.defaultName,
          ready: modelReason === undefined,
          ...(modelReason === undefined ? {} : { reason: modelReason }),
        });
        if (modelReason) reasons.push(agents.names.length > 1 ? `agent ${name}: model: ${modelReason}` : `model: ${modelReason}`);
      }
      let pingFailure: unknown;
      try {
        await store.ping();
      } catch (err) {
        pingFailure = err;
        reasons.push('store: the database did not answer');
      }
      if (reasons.length > 0) {
        const notReady = new ApiError('not_ready', `Not ready: ${reasons.join('; ')}`, { reasons, agents: report });
        // Why the store failed goes to the request's log line only (see logApiError), not to the public answer.
        if (pingFailure !== undefined) notReady.cause = pingFailure;
        throw notReady;
      }
      return { status: 'ready' as const, agents: report };
    },
  );
};
