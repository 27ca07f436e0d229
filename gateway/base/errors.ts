/**
 * Base of every error the gateway raises on purpose. Each area declares its
 * own coded subclasses in `<area>/errors.ts` (fastify-style: one place per
 * area, stable `GW_ERR_*` codes, listed in docs/errors.md).
 */
export class GatewayError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
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
