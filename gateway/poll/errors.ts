/**
 * Coded errors of polling: the poller, the bus queue and device writes.
 * Link errors (timeouts, exceptions, link down) live in links/errors.ts and
 * pass through unchanged; decode/encode errors live in devices/errors.ts.
 */
import { GatewayError } from '../base/errors';

export class PointNotFoundError extends GatewayError {
  constructor(deviceId: string, pointName: string) {
    super('GW_ERR_POINT_NOT_FOUND', `device ${deviceId} has no point ${JSON.stringify(pointName)}`);
  }
}

/**
 * A point that cannot be written. `configured` is false when the config does
 * not mark it writable (the caller's mistake); true when it is marked writable
 * but this gateway cannot write it (read-only Modbus area, device not polled).
 */
export class PointNotWritableError extends GatewayError {
  readonly configured: boolean;
  constructor(deviceId: string, pointName: string, why: string, configured = true) {
    super('GW_ERR_POLL_NOT_WRITABLE', `device ${deviceId} point ${pointName} cannot be written: ${why}`);
    this.configured = configured;
  }
}

/** The value read back after a write is not the value written. */
export class WriteReadbackError extends GatewayError {
  readonly expected: string | boolean;
  readonly actual: string | boolean;
  constructor(deviceId: string, pointName: string, expected: string | boolean, actual: string | boolean) {
    super('GW_ERR_WRITE_READBACK', `device ${deviceId} point ${pointName}: wrote ${String(expected)} but read back ${String(actual)}`);
    this.expected = expected;
    this.actual = actual;
  }
}

/** The bus queue was closed while the transaction waited. */
export class QueueClosedError extends GatewayError {
  constructor(busKey: string) {
    super('GW_ERR_QUEUE_CLOSED', `bus queue ${busKey} is closed`);
  }
}

/** The bus queue already holds its bound of waiting transactions: this one is shed, never queued. */
export class QueueFullError extends GatewayError {
  constructor(busKey: string, maxPending: number) {
    super('GW_ERR_QUEUE_FULL', `bus queue ${busKey} is full (${maxPending} transactions waiting): request shed`);
  }
}

/** The poller is stopped (or stopping): no more writes or polls. */
export class PollerStoppedError extends GatewayError {
  constructor(deviceId: string) {
    super('GW_ERR_POLLER_STOPPED', `poller for device ${deviceId} is stopped`);
  }
}
