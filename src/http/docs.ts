import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import { jsonSchemaTransform } from 'fastify-type-provider-zod';

/** OpenAPI generated from the route schemas, served as JSON and as Swagger UI; both public. */
export async function registerDocs(app: FastifyInstance, version: string): Promise<void> {
  app.addHook('onRoute', (route) => {
    if (route.url === '/docs' || route.url.startsWith('/docs/')) {
      route.config = { ...route.config, public: true };
      route.schema = { ...route.schema, hide: true };
    }
  });

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Agent API',
        version,
        description: 'An LLM agent (model, tools, memory) served over HTTP. Authenticate with the `X-API-Key` header.',
      },
      components: { securitySchemes: { apiKey: { type: 'apiKey', in: 'header', name: 'X-API-Key' } } },
      security: [{ apiKey: [] }],
    },
    transform: (input) => {
      const out = jsonSchemaTransform(input);
      if (input.route.config?.public) out.schema = { ...out.schema, security: [] };
      return out;
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });

  app.get('/openapi.json', { config: { public: true }, schema: { hide: true } }, async () => app.swagger());
}
