/**
 * Where a command writes. Commands that tests run in-process take a CliIo
 * instead of touching process.stdout/stderr; the command-line wrappers pass
 * `processIo`.
 */
import { ConfigError, formatConfigIssues } from '../config/errors';
import { isGatewayError, type GatewayError } from '../base/errors';
import { CliUsageError } from './errors';
import { EXIT_CONFIG, EXIT_RUNTIME } from './exit-codes';

export interface CliStream {
  write(text: string): unknown;
  /** True for a terminal: progress bars only draw there. */
  isTTY?: boolean;
}

export interface CliIo {
  stdout: CliStream;
  stderr: CliStream;
}

export const processIo: CliIo = { stdout: process.stdout, stderr: process.stderr };

/** An in-memory CliIo (tests, embedding): everything written is collected. */
export function bufferIo(): CliIo & { out: () => string; err: () => string } {
  let out = '';
  let err = '';
  return {
    stdout: { write: (s: string) => (out += s) },
    stderr: { write: (s: string) => (err += s), isTTY: false },
    out: () => out,
    err: () => err,
  };
}

/**
 * Report a command's failure on `io.stderr` and give its exit code: usage and
 * config errors 2, other gateway errors (timeouts, exceptions, link down) 3
 * with `hint` when one helps. Anything else is a bug: rethrown.
 */
export function reportCommandError(io: CliIo, err: unknown, hint?: (e: GatewayError) => string | undefined): number {
  if (err instanceof CliUsageError) {
    io.stderr.write(`error: ${err.message}\n(run with --help for usage)\n`);
    return EXIT_CONFIG;
  }
  if (err instanceof ConfigError) {
    io.stderr.write(`config error (${err.file ?? 'config'}):\n${formatConfigIssues(err.issues)}\n`);
    return EXIT_CONFIG;
  }
  if (isGatewayError(err)) {
    const h = hint?.(err);
    io.stderr.write(`error ${err.code}: ${err.message}\n${h ? `hint: ${h}\n` : ''}`);
    return EXIT_RUNTIME;
  }
  throw err;
}
