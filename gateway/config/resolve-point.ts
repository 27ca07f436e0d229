/**
 * One merged point config -> a DevicePoint, one step per rule group: where
 * it is read (Modbus area/address/register, or a DSMR P1 OBIS code), its
 * value type, whether it may be written, its scale factor register, its
 * width on the bus, and its scale/offset/maxRate. Every step reports all it
 * finds (the caller collects the problems with their paths); the steps run in
 * this order, so the problems come out in the same order every time.
 */
import { parseDecimal } from '../base/decimal';
import { pointWidth, valueWidth, type ScalarType } from '../devices/point';
import type { Area } from '../links/link';
import { parseModicon } from './modicon';
import { MAX_STRING_LENGTH, NUMERIC_TYPES, type DevicePoint, type PointConfig } from './schema';

/** What the device's link reads: Modbus registers and bits, or DSMR P1 telegrams. */
export type Family = 'modbus' | 'dsmr-p1';
/** Report a problem with one field of the point. */
export type Report = (field: string, message: string) => void;

/** "+0.50" -> "0.50": a decimal as written, without a leading plus. */
export const normDecimal = (v: string | number): string => String(v).trim().replace(/^\+/, '');

interface Place {
  area: Area | undefined;
  address: number | undefined;
}

interface ValueType {
  type: ScalarType;
  /** Characters of a string(N) point, else 0. */
  length: number;
  /** The type as written (or defaulted), for messages: `string(8)`, `uint16`. */
  typeText: string;
}

const isBitArea = (area: Area | undefined): boolean => area === 'coil' || area === 'discrete';

/** DSMR P1 points are read by OBIS code; area/address are fixed ("input"/0) and unused. */
function p1Place(pt: PointConfig, bad: Report): Place {
  for (const f of ['area', 'address', 'register'] as const) {
    if (pt[f] !== undefined) bad(f, 'dsmr-p1 points are read by OBIS code: give obis, not area/address/register');
  }
  if (!pt.obis) bad('obis', 'required for dsmr-p1 points: an OBIS code like "1-0:1.8.1"');
  return { area: 'input', address: 0 };
}

/** Modbus points: a Modicon register, or an area and a 0-based address. */
function modbusPlace(pt: PointConfig, bad: Report): Place {
  if (pt.obis !== undefined) bad('obis', 'only dsmr-p1 devices have OBIS points');
  if (pt.register !== undefined) {
    if (pt.area !== undefined || pt.address !== undefined) bad('register', 'give either register or area + address, not both');
    const m = parseModicon(pt.register);
    if (m.ok) return { area: m.area, address: m.address };
    bad('register', m.message);
    return { area: pt.area, address: pt.address };
  }
  if (pt.area === undefined) bad('area', 'required: holding, input, coil or discrete (or a Modicon register like "40001")');
  if (pt.address === undefined) bad('address', 'required: the 0-based protocol address');
  return { area: pt.area, address: pt.address };
}

/** The value type: defaulted by area, string(N) parsed, bits are bool, counters are numeric. */
function valueType(pt: PointConfig, family: Family, area: Area | undefined, bad: Report): ValueType {
  const bitArea = isBitArea(area);
  const typeText = pt.type ?? (family === 'dsmr-p1' ? 'float64' : bitArea ? 'bool' : 'uint16');
  let type = typeText as ScalarType;
  let length = 0;
  const sm = /^string\((\d+)\)$/.exec(typeText);
  if (sm) {
    type = 'string';
    length = Number(sm[1]);
    if (length < 1 || length > MAX_STRING_LENGTH) bad('type', `string length must be 1..${MAX_STRING_LENGTH} characters, got ${sm[1]}`);
  }
  if (bitArea && type !== 'bool') bad(pt.type !== undefined ? 'type' : 'area', `coil and discrete points are bool, not ${typeText}`);
  if (pt.kind === 'counter' && (type === 'bool' || type === 'string')) {
    bad(pt.type !== undefined ? 'type' : 'kind', `counter points must be numeric (${NUMERIC_TYPES.join(', ')}), not ${typeText}`);
  }
  return { type, length, typeText };
}

/** Only Modbus holding registers and coils can be written. */
function writability(pt: PointConfig, family: Family, area: Area | undefined, bad: Report): boolean {
  const writable = pt.writable ?? false;
  if (writable && family === 'dsmr-p1') bad('writable', 'dsmr-p1 points are read-only');
  else if (writable && area !== undefined && area !== 'holding' && area !== 'coil') {
    bad('writable', `only holding and coil points can be written, this one is ${area}`);
  }
  return writable;
}

/** A SunSpec-style scale factor register: integer registers only, after the value, read-only. */
function checkScaleFactor(pt: PointConfig, family: Family, area: Area | undefined, vt: ValueType, writable: boolean, bad: Report): void {
  const sfOffset = pt.scaleFactorOffset;
  if (sfOffset === undefined) return;
  const { type, length, typeText } = vt;
  if (family === 'dsmr-p1') bad('scaleFactorOffset', 'dsmr-p1 points have no scale factor register');
  else if (isBitArea(area)) bad('scaleFactorOffset', `only holding and input registers have scale factors, this one is ${area}`);
  else if (!(NUMERIC_TYPES as readonly string[]).includes(type) || type.startsWith('float')) {
    bad(pt.type !== undefined ? 'type' : 'scaleFactorOffset', `a scale factor applies to integer types, not ${typeText}`);
  } else if (sfOffset < valueWidth({ type, length, area: area ?? 'holding' })) {
    const w = valueWidth({ type, length, area: area ?? 'holding' });
    bad(
      'scaleFactorOffset',
      `${sfOffset} lands inside the ${typeText} value itself (${w} registers); the scale factor register follows the value`,
    );
  }
  if (writable) bad('writable', 'a point with a scale factor cannot be written');
}

/** The point (value and scale factor register) must end at or before address 65535. */
function checkAddressRange(pt: PointConfig, place: Place, vt: ValueType, bad: Report): void {
  const { area, address } = place;
  if (area === undefined || address === undefined) return;
  const width = pointWidth({ type: vt.type, length: vt.length, area, scaleFactorOffset: pt.scaleFactorOffset });
  if (address + width > 65536) {
    bad(
      pt.register !== undefined ? 'register' : 'address',
      `${vt.typeText} at address ${address} needs ${width} ${isBitArea(area) ? 'bits' : 'registers'}, beyond the last address 65535`,
    );
  }
}

/** Scale, offset and maxRate as decimal strings; a scale is never 0, a counter's scale and maxRate never negative. */
function scaling(pt: PointConfig, bad: Report): Pick<DevicePoint, 'scale' | 'offset' | 'maxRate'> {
  const scale = pt.scale === undefined ? '1' : normDecimal(pt.scale);
  const offset = pt.offset === undefined ? '0' : normDecimal(pt.offset);
  const maxRate = pt.maxRate === undefined || pt.maxRate === '' ? '' : normDecimal(pt.maxRate);
  const scaleValue = parseDecimal(scale, 6); // format already checked by the schema
  if (scaleValue === 0n) bad('scale', 'must not be 0');
  else if (pt.kind === 'counter' && scaleValue < 0n) bad('scale', 'counter scale must be positive');
  if (maxRate !== '') {
    if (pt.kind !== 'counter') bad('maxRate', 'only counter points have a maxRate');
    else if (parseDecimal(maxRate, 6) < 0n) bad('maxRate', 'must not be negative');
  }
  return { scale, offset, maxRate };
}

/** One merged point -> DevicePoint (+obis), or undefined after reporting every reason why not. */
export function resolvePoint(pt: PointConfig, family: Family, report: Report): DevicePoint | undefined {
  let ok = true;
  const bad: Report = (f, m) => {
    ok = false;
    report(f, m);
  };
  if (!pt.kind) bad('kind', 'required: one of counter, gauge, setpoint, switch');
  const place = family === 'dsmr-p1' ? p1Place(pt, bad) : modbusPlace(pt, bad);
  const vt = valueType(pt, family, place.area, bad);
  const writable = writability(pt, family, place.area, bad);
  checkScaleFactor(pt, family, place.area, vt, writable, bad);
  if (family === 'modbus') checkAddressRange(pt, place, vt, bad);
  const { scale, offset, maxRate } = scaling(pt, bad);
  const { area, address } = place;
  if (!ok || area === undefined || address === undefined || pt.kind === undefined) return undefined;
  const resolved: DevicePoint = {
    name: pt.name,
    kind: pt.kind,
    area,
    address,
    type: vt.type,
    length: vt.length,
    wordOrder: pt.wordOrder ?? 'ABCD',
    scale,
    offset,
    unit: pt.unit ?? '',
    writable,
    maxRate,
  };
  if (family === 'dsmr-p1') resolved.obis = pt.obis;
  if (pt.scaleFactorOffset !== undefined) resolved.scaleFactorOffset = pt.scaleFactorOffset;
  return resolved;
}
