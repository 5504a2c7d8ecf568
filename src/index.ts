export * from './agent/index.js';
export { loadConfig, ConfigError, type Config } from './config.js';
export { createDefaultAgent } from './default-agent.js';
export { buildApp, type AppOptions } from './http/app.js';
export { ApiError, errorRegistry, type ErrorBody, type ErrorCode } from './http/errors.js';
export { createAgentServer, type AgentServer, type AgentServerOptions } from './server.js';
export * from './store/index.js';
