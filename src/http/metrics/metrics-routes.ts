import { createHash, timingSafeEqual } from 'node:crypto';
import { Registry } from 'prom-client';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { ApiError } from '../errors.js';

export interface MetricsRouteOptions {
  /** The metrics text in Prometheus format (this process's, or every worker's). */
  gather: () => Promise<string>;
  /** When set, scrapes must send `Authorization: Bearer <token>`. */
  token?: string | undefined;
}

const digest = (s: string) => createHash('sha256').update(s).digest();

export const metricsRoutes: FastifyPluginAsyncZod<MetricsRouteOptions> = async (app, { gather, token }) => {
  const expected = token === undefined ? undefined : digest(token);
  app.get(
    '/metrics',
    {
      // Not the API keys: scrapers get a token of their own (METRICS_TOKEN), and are never rate-limited.
      config: { public: true },
      schema: { tags: ['ops'], summary: 'Prometheus metrics of every worker (Authorization: Bearer METRICS_TOKEN when it is set)' },
    },
    async (request, reply) => {
      if (expected) {
        const given = /^Bearer\s+(\S+)\s*$/i.exec(request.headers.authorization ?? '')?.[1];
        // Compared as digests: equal lengths for timingSafeEqual, and no early exit on the first differing byte.
        if (given === undefined || !timingSafeEqual(digest(given), expected)) {
          throw new ApiError('unauthorized', given === undefined ? 'GET /metrics needs Authorization: Bearer <METRICS_TOKEN>' : 'The metrics token is wrong');
        }
      }
      const text = await gather();
      return reply.type(Registry.PROMETHEUS_CONTENT_TYPE).send(text);
    },
  );
};
