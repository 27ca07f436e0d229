import pino from 'pino';
import { journalPriorities } from './journald';

export type Logger = pino.Logger;

/** The daemon's logger: JSON lines on stderr (with journald priorities under systemd), level from M2M_LOG_LEVEL (default info). */
export function createLogger(name = 'm2m-gateway', level = process.env.M2M_LOG_LEVEL ?? 'info'): Logger {
  return pino({ name, level }, journalPriorities(pino.destination(2), 2));
}

/** A logger that drops everything (tests, one-shot CLI commands). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
