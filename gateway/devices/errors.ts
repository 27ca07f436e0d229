/**
 * Coded errors of register decoding and encoding. Every error names the
 * point it is about (`pointName`), so a failed point can be reported
 * without guessing which one broke.
 */
import { GatewayError } from '../errors';

/** Registers could not be turned into a value (too few words, NaN/Infinity float, unusable type). */
export class DecodeError extends GatewayError {
  readonly pointName: string;
  constructor(pointName: string, detail: string) {
    super('GW_ERR_DECODE', `point ${pointName}: ${detail}`);
    this.pointName = pointName;
  }
}

/** A point's type cannot be metered as a counter (bool, string, a coil). */
export class CounterTypeError extends GatewayError {
  readonly pointName: string;
  constructor(pointName: string, detail: string) {
    super('GW_ERR_COUNTER_TYPE', `point ${pointName}: ${detail}`);
    this.pointName = pointName;
  }
}

/** A value to write is not of a usable form for the point (not a number, not a boolean, bad characters). */
export class EncodeValueError extends GatewayError {
  readonly pointName: string;
  constructor(pointName: string, detail: string) {
    super('GW_ERR_ENCODE_VALUE', `point ${pointName}: ${detail}`);
    this.pointName = pointName;
  }
}

/** A value to write falls outside what the point's type can hold. */
export class EncodeRangeError extends GatewayError {
  readonly pointName: string;
  constructor(pointName: string, detail: string) {
    super('GW_ERR_ENCODE_RANGE', `point ${pointName}: ${detail}`);
    this.pointName = pointName;
  }
}

/** A value to write is in range but the point would not store it exactly (scale/offset/float precision). */
export class EncodeInexactError extends GatewayError {
  readonly pointName: string;
  constructor(pointName: string, detail: string) {
    super('GW_ERR_ENCODE_INEXACT', `point ${pointName}: ${detail}`);
    this.pointName = pointName;
  }
}

/** Codes declared here (checked unique by the tests). */
export const DEVICE_ERROR_CODES = [
  'GW_ERR_DECODE',
  'GW_ERR_COUNTER_TYPE',
  'GW_ERR_ENCODE_VALUE',
  'GW_ERR_ENCODE_RANGE',
  'GW_ERR_ENCODE_INEXACT',
] as const;
