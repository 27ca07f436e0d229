/** Errors of the daemon as a whole (start-up, wiring). */
import { GatewayError } from './errors';

export class GatewayStartError extends GatewayError {
  constructor(message: string, cause?: unknown) {
    super('GW_ERR_START', message, { cause });
  }
}

export const GATEWAY_ERROR_CODES = ['GW_ERR_START'] as const;
