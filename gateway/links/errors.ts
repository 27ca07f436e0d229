/**
 * Coded errors of the link layer (modbus-tcp, modbus-rtu, rtu-over-tcp).
 * Drivers map whatever their library throws onto exactly these classes, so
 * the poller decides on codes, never on library message strings:
 *  - GW_ERR_MODBUS_EXCEPTION: the device answered with an exception (code 1..11);
 *  - GW_ERR_MODBUS_TIMEOUT:   no answer within the link's timeoutMs;
 *  - GW_ERR_MODBUS_PROTOCOL:  an answer that is not a valid reply (CRC, length, function);
 *  - GW_ERR_MODBUS_REQUEST:   the caller asked for something Modbus cannot carry;
 *  - GW_ERR_LINK_DOWN:        the link is not connected, or dropped mid-request;
 *  - GW_ERR_LINK_OPTIONS:     a link built with options it cannot use (serial framing, baud).
 * RTU links count each dropped frame (bad CRC, truncated, noise, stray reply)
 * in their stats(); the request it answered fails with GW_ERR_MODBUS_PROTOCOL.
 */
import { GatewayError } from '../base/errors';

/** Standard Modbus exception codes and their names. */
export const MODBUS_EXCEPTION_NAMES: Readonly<Record<number, string>> = {
  1: 'illegal function',
  2: 'illegal data address',
  3: 'illegal data value',
  4: 'server device failure',
  5: 'acknowledge',
  6: 'server device busy',
  7: 'negative acknowledge',
  8: 'memory parity error',
  10: 'gateway path unavailable',
  11: 'gateway target device failed to respond',
};

export class ModbusExceptionError extends GatewayError {
  readonly exceptionCode: number;
  constructor(exceptionCode: number, context: string, options?: { cause?: unknown }) {
    const name = MODBUS_EXCEPTION_NAMES[exceptionCode] ?? 'unknown exception';
    super('GW_ERR_MODBUS_EXCEPTION', `${context}: Modbus exception ${exceptionCode} (${name})`, options);
    this.exceptionCode = exceptionCode;
  }
}

export class ModbusTimeoutError extends GatewayError {
  constructor(context: string, timeoutMs: number, options?: { cause?: unknown }) {
    super('GW_ERR_MODBUS_TIMEOUT', `${context}: no answer within ${timeoutMs} ms`, options);
  }
}

export class ModbusProtocolError extends GatewayError {
  constructor(context: string, detail: string, options?: { cause?: unknown }) {
    super('GW_ERR_MODBUS_PROTOCOL', `${context}: ${detail}`, options);
  }
}

export class ModbusRequestError extends GatewayError {
  constructor(context: string, detail: string) {
    super('GW_ERR_MODBUS_REQUEST', `${context}: ${detail}`);
  }
}

export class LinkDownError extends GatewayError {
  readonly linkId: string;
  constructor(linkId: string, detail: string, options?: { cause?: unknown }) {
    super('GW_ERR_LINK_DOWN', `link ${linkId}: ${detail}`, options);
    this.linkId = linkId;
  }
}

/** A link was constructed with options it cannot use (bad baud rate, framing …). */
export class LinkOptionsError extends GatewayError {
  constructor(linkId: string, detail: string) {
    super('GW_ERR_LINK_OPTIONS', `link ${linkId}: ${detail}`);
  }
}

export const isModbusException = (e: unknown, ...codes: number[]): e is ModbusExceptionError =>
  e instanceof ModbusExceptionError && (codes.length === 0 || codes.includes(e.exceptionCode));
