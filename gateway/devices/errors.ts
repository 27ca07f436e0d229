/**
 * Coded errors of register decoding and encoding. Every error names the
 * point it is about (`pointName`), so a failed point can be reported
 * without guessing which one broke.
 */
import { GatewayError, type ErrorCode } from '../base/errors';

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

/** A value to write cannot be encoded for the point: the parent of the three GW_ERR_ENCODE_* classes. */
export abstract class EncodeError extends GatewayError {
  readonly pointName: string;
  constructor(code: ErrorCode, pointName: string, detail: string) {
    super(code, `point ${pointName}: ${detail}`);
    this.pointName = pointName;
  }
}

/** A value to write is not of a usable form for the point (not a number, not a boolean, bad characters). */
export class EncodeValueError extends EncodeError {
  constructor(pointName: string, detail: string) {
    super('GW_ERR_ENCODE_VALUE', pointName, detail);
  }
}

/** A value to write falls outside what the point's type can hold. */
export class EncodeRangeError extends EncodeError {
  constructor(pointName: string, detail: string) {
    super('GW_ERR_ENCODE_RANGE', pointName, detail);
  }
}

/** A value to write is in range but the point would not store it exactly (scale/offset/float precision). */
export class EncodeInexactError extends EncodeError {
  constructor(pointName: string, detail: string) {
    super('GW_ERR_ENCODE_INEXACT', pointName, detail);
  }
}
