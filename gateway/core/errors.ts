/** Coded errors of the metering core (gateway/core). Each rejects the call as a whole: core state is unchanged. */
import { GatewayError } from '../base/errors';

/** A slot configuration that cannot be metered (bad width, index, microPerCount, duplicate slot). */
export class CoreConfigError extends GatewayError {
  constructor(message: string) {
    super('GW_ERR_CORE_CONFIG', message);
  }
}

/** Policy tables that cannot be compiled into the core; the previous tables stay active. */
export class CorePolicyError extends GatewayError {
  constructor(message: string) {
    super('GW_ERR_CORE_POLICY', message);
  }
}

/** A CoreState passed to restore() that is malformed or out of range. */
export class CoreStateError extends GatewayError {
  constructor(message: string) {
    super('GW_ERR_CORE_STATE', message);
  }
}

/** settle() on an unknown account, with a negative amount, or with more than is unsettled. */
export class CoreSettleError extends GatewayError {
  constructor(message: string) {
    super('GW_ERR_CORE_SETTLE', message);
  }
}

/** build/core.wasm is missing, or does not instantiate or does not match this loader. */
export class CoreLoadError extends GatewayError {
  constructor(message: string, cause?: unknown) {
    super('GW_ERR_CORE_LOAD', message, { cause });
  }
}
