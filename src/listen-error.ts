import { ConfigError, type Config } from './config.js';

/**
 * A listen that failed because of the environment, told as a setting to fix (no stack): HOST that
 * does not resolve or is not this machine's, PORT taken or privileged. Anything else: undefined.
 */
export function listenError(err: unknown, config: Pick<Config, 'HOST' | 'PORT'>): ConfigError | undefined {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  const where = `${config.HOST}:${config.PORT}`;
  switch (code) {
    case 'EADDRINUSE':
      return new ConfigError(`PORT: ${config.PORT} is already in use on ${config.HOST} (EADDRINUSE); stop what listens there or set PORT to a free port`, {
        cause: err,
      });
    case 'EACCES':
      return new ConfigError(`PORT: listening on ${where} is not permitted (EACCES; ports below 1024 need privileges); set PORT to 1024 or above`, {
        cause: err,
      });
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EAI_FAIL':
      return new ConfigError(
        `HOST: ${config.HOST} does not resolve (${code}); set HOST to an address of this machine, e.g. 0.0.0.0 (every interface) or 127.0.0.1`,
        { cause: err },
      );
    case 'EADDRNOTAVAIL':
      return new ConfigError(
        `HOST: ${config.HOST} is not an address of this machine (EADDRNOTAVAIL); set HOST to one of its addresses, e.g. 0.0.0.0 (every interface) or 127.0.0.1`,
        { cause: err },
      );
    default:
      return undefined;
  }
}
