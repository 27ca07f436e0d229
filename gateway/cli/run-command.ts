/**
 * Turns a command's thrown error into a clear message and an exit code:
 * config errors list every issue by path and exit 2 (DESIGN.md §4).
 */
import { ConfigError, formatConfigIssues } from '../config/errors';
import { isGatewayError } from '../base/errors';
import { EXIT_CONFIG, EXIT_RUNTIME } from './exit-codes';

export function reportAndExit(err: unknown): never {
  if (err instanceof ConfigError) {
    process.stderr.write(`config error (${err.file ?? 'config'}):\n${formatConfigIssues(err.issues)}\n`);
    process.exit(EXIT_CONFIG);
  }
  if (isGatewayError(err)) {
    process.stderr.write(`error ${err.code}: ${err.message}\n`);
    process.exit(EXIT_RUNTIME);
  }
  process.stderr.write(`error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(EXIT_RUNTIME);
}

/** Wrap an async action so every failure ends in reportAndExit. */
export function action<A extends unknown[]>(fn: (...args: A) => Promise<number | void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      const code = await fn(...args);
      if (typeof code === 'number' && code !== 0) process.exitCode = code;
    } catch (err) {
      reportAndExit(err);
    }
  };
}
