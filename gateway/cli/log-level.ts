/**
 * M2M_LOG_LEVEL, checked before anything starts: an unknown level is a
 * configuration error (exit 2, which the systemd unit does not restart on),
 * not a crash inside the logger (exit 3, restarted in a loop).
 */
import { ConfigError } from '../config/errors';

/** pino's levels, quietest last. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** The level M2M_LOG_LEVEL asks for, or `fallback` when it is unset or empty; throws ConfigError when it is not a level. */
export function logLevelFromEnv(fallback: string, env: NodeJS.ProcessEnv = process.env): string {
  const level = env.M2M_LOG_LEVEL;
  if (level === undefined || level === '') return fallback;
  if ((LOG_LEVELS as readonly string[]).includes(level)) return level;
  throw new ConfigError(
    [{ path: 'M2M_LOG_LEVEL', message: `expected one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(level)}` }],
    'environment',
  );
}
