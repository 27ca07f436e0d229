/**
 * Base of every error the gateway raises on purpose. The codes are data, in
 * one table (base/error-codes.ts, listed in docs/errors.md); each area
 * declares its coded subclasses in `<area>/errors.ts`, and a subclass can
 * only pass a code of that table.
 */
import type { ErrorCode } from './error-codes';

export type { ErrorCode } from './error-codes';

export class GatewayError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

export function isGatewayError(e: unknown): e is GatewayError {
  return e instanceof GatewayError;
}

/** A metric declared wrongly or used with the wrong labels (a programming error). */
export class MetricsError extends GatewayError {
  constructor(message: string) {
    super('GW_ERR_METRICS', message);
  }
}

/** The daemon could not start (a port taken, the editor failing to load…). */
export class GatewayStartError extends GatewayError {
  constructor(message: string, cause?: unknown) {
    super('GW_ERR_START', message, { cause });
  }
}
