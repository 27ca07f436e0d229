/**
 * Coded errors of the DSMR P1 link (serial smart-meter telegrams). Garbage on
 * the line is never an error: it is counted in the parser's stats and dropped
 * (docs/architecture.md §9). These are raised only for caller mistakes and port trouble.
 */
import { GatewayError } from '../base/errors';

/** Bad options given to the P1 parser or link (checked in the constructor). */
export class P1OptionsError extends GatewayError {
  constructor(message: string) {
    super('GW_ERR_P1_OPTIONS', message);
  }
}

/** `parseTelegram` was handed text that is not a P1 telegram (no '/' header or no '!' end). */
export class P1TelegramError extends GatewayError {
  constructor(message: string) {
    super('GW_ERR_P1_TELEGRAM', message);
  }
}

/** The serial port could not be opened (missing device, permissions, bad settings). */
export class P1PortError extends GatewayError {
  readonly path: string;
  constructor(path: string, message: string, cause?: unknown) {
    super('GW_ERR_P1_PORT', `${path}: ${message}`, { cause });
    this.path = path;
  }
}

/** The link was closed while an `open()` was still waiting. */
export class P1ClosedError extends GatewayError {
  constructor(message = 'DSMR P1 link closed') {
    super('GW_ERR_P1_CLOSED', message);
  }
}
