/**
 * A point after config loading: profile merged, Modicon `register` converted
 * to area + 0-based address, defaults filled. The config schema (gateway/config)
 * produces exactly this shape; decoding and polling consume it.
 */
import type { Area } from '../links/link';

export type PointKind = 'counter' | 'gauge' | 'setpoint' | 'switch';
export type WordOrder = 'ABCD' | 'CDAB' | 'BADC' | 'DCBA';
export type ScalarType = 'bool' | 'int16' | 'uint16' | 'int32' | 'uint32' | 'int64' | 'uint64' | 'float32' | 'float64' | 'string';

export interface ResolvedPoint {
  name: string;
  kind: PointKind;
  area: Area;
  /** 0-based protocol address. */
  address: number;
  type: ScalarType;
  /** Characters, for type 'string' (config `string(N)`); 2 per register. 0 otherwise. */
  length: number;
  wordOrder: WordOrder;
  /** Decimal string, at most 6 fraction digits. Default "1". */
  scale: string;
  /** Decimal string, at most 6 fraction digits. Default "0". */
  offset: string;
  unit: string;
  writable: boolean;
  /** Counters: largest plausible rate in units per second (decimal string), "" = no limit. */
  maxRate: string;
  /**
   * SunSpec-style scale factor (optional): the register `scaleFactorOffset`
   * registers after `address` holds an int16 power of ten (sunssf), read in the
   * same request as the value: value = raw × scale × 10^sf + offset.
   * Absent for every other point.
   */
  scaleFactorOffset?: number;
}

/** A point with the config's defaults (a uint16 holding-register gauge at address 0) and `over` applied. */
export function pointWith(name: string, over: Partial<ResolvedPoint> = {}): ResolvedPoint {
  return {
    name,
    kind: 'gauge',
    area: 'holding',
    address: 0,
    type: 'uint16',
    length: 0,
    wordOrder: 'ABCD',
    scale: '1',
    offset: '0',
    unit: '',
    writable: false,
    maxRate: '',
    ...over,
  };
}

/**
 * Registers (16-bit words) a point reads; bits for coil/discrete. A point with
 * a scale factor spans from its address through its scale-factor register.
 */
export function pointWidth(p: Pick<ResolvedPoint, 'type' | 'length' | 'area' | 'scaleFactorOffset'>): number {
  const width = valueWidth(p);
  return p.scaleFactorOffset === undefined ? width : Math.max(width, p.scaleFactorOffset + 1);
}

/** Registers (16-bit words) the value itself occupies; bits for coil/discrete. */
export function valueWidth(p: Pick<ResolvedPoint, 'type' | 'length' | 'area'>): number {
  if (p.area === 'coil' || p.area === 'discrete') return 1;
  switch (p.type) {
    case 'bool':
    case 'int16':
    case 'uint16':
      return 1;
    case 'int32':
    case 'uint32':
    case 'float32':
      return 2;
    case 'int64':
    case 'uint64':
    case 'float64':
      return 4;
    case 'string':
      return Math.ceil(p.length / 2);
  }
}
