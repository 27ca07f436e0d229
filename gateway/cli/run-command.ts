/**
 * Turns a command's thrown error into a clear message and an exit code:
 * config and usage errors exit 2 (config errors list every issue by path,
 * docs/config.md), the rest 3. Under systemd each line goes to the journal at
 * priority err.
 */
import { ConfigError, formatConfigIssues } from '../config/errors';
import { isGatewayError } from '../base/errors';
import { forStderr, SD_PRIORITY } from '../base/journald';
import { CliUsageError } from './errors';
import { EXIT_CONFIG, EXIT_RUNTIME } from './exit-codes';

export function reportAndExit(err: unknown): never {
  if (err instanceof ConfigError) {
    process.stderr.write(forStderr(`config error (${err.file ?? 'config'}):\n${formatConfigIssues(err.issues)}\n`, SD_PRIORITY.err));
    process.exit(EXIT_CONFIG);
  }
  if (err instanceof CliUsageError) {
    process.stderr.write(forStderr(`error: ${err.message}\n(run with --help for usage)\n`, SD_PRIORITY.err));
    process.exit(EXIT_CONFIG);
  }
  if (isGatewayError(err)) {
    process.stderr.write(forStderr(`error ${err.code}: ${err.message}\n`, SD_PRIORITY.err));
    process.exit(EXIT_RUNTIME);
  }
  process.stderr.write(forStderr(`error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`, SD_PRIORITY.err));
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
