/**
 * The probe table: one register range shown as every type × word order side
 * by side, so the layout of an unknown device can be spotted at a glance
 * (230.4 in "float32 CDAB" at offset 0 → a float32 voltage, word-swapped).
 *
 * Rows are the start offsets within the range; a row shows what a point of
 * each type and word order starting there would decode to — through the
 * gateway's own decodePoint, so what you see is what a point configured that
 * way reads. Multi-register columns stay empty where the range ends too soon.
 * Pure formatting: no I/O.
 */
import { WORD_ORDERS } from '../config/schema';
import { decodePoint } from '../devices/decode';
import { pointWith, type ResolvedPoint, type ScalarType, type WordOrder } from '../devices/point';
import { isFloatType, reorderWords, wordsToFloat } from '../devices/registers';
import type { Area } from '../links/link';

export const PROBE_TYPES = ['uint16', 'int16', 'uint32', 'int32', 'float32', 'uint64', 'int64', 'float64'] as const;
export type ProbeType = (typeof PROBE_TYPES)[number];
export const PROBE_ORDERS: readonly WordOrder[] = WORD_ORDERS;

const WIDTH: Record<ProbeType, number> = { uint16: 1, int16: 1, uint32: 2, int32: 2, float32: 2, uint64: 4, int64: 4, float64: 4 };

/** One value column: a 16-bit type (no word order), or a wider type in one word order. */
export interface ProbeColumn {
  /** "uint16", "float32 CDAB". */
  key: string;
  type: ProbeType;
  order: WordOrder;
  width: number;
}

/** What was read: registers (holding/input) or bits (coil/discrete), from `address` on. */
export interface ProbeRange {
  area: Area;
  address: number;
  words?: readonly number[];
  bits?: readonly boolean[];
}

export interface ProbeRow {
  offset: number;
  /** 0-based protocol address. */
  address: number;
  /** Modicon number ("30001", "440001" beyond 9999), null past 65536. */
  register: string | null;
  /** Registers: the word as 4 hex digits. */
  hex?: string;
  /** Registers: its two bytes as text, high byte first, "." for unprintable bytes. */
  ascii?: string;
  /** Bits: the bit. */
  bit?: boolean;
  /** Column key -> decimal string; null where the type does not fit in the range. */
  values?: Record<string, string | null>;
}

export interface ProbeTableOptions {
  types?: readonly ProbeType[];
  orders?: readonly WordOrder[];
}

const AREA_DIGIT: Record<Area, string> = { coil: '0', discrete: '1', input: '3', holding: '4' };

/** Modicon number of a 0-based address: 5 digits up to 9999 ("40001"), 6 beyond ("440001"). */
export function modiconRegister(area: Area, address: number): string | null {
  const n = address + 1;
  if (n > 65536) return null;
  return `${AREA_DIGIT[area]}${String(n).padStart(n > 9999 ? 5 : 4, '0')}`;
}

/** The value columns, in table order: 16-bit types first, then each wider type in each order. */
export function probeColumns(opts: ProbeTableOptions = {}): ProbeColumn[] {
  const types = PROBE_TYPES.filter((t) => (opts.types ?? PROBE_TYPES).includes(t));
  const orders = PROBE_ORDERS.filter((o) => (opts.orders ?? PROBE_ORDERS).includes(o));
  const cols: ProbeColumn[] = [];
  for (const type of types) {
    const width = WIDTH[type];
    if (width === 1) cols.push({ key: type, type, order: 'ABCD', width });
    else for (const order of orders) cols.push({ key: `${type} ${order}`, type, order, width });
  }
  return cols;
}

function probePoint(col: ProbeColumn): ResolvedPoint {
  return pointWith(col.key.replace(' ', '_'), { type: col.type as ScalarType, wordOrder: col.order });
}

/** A column's value at the start of `words`, as a decimal string (floats: shortest form; NaN/Infinity spelled out). */
export function columnValue(col: ProbeColumn, words: readonly number[]): string | null {
  if (words.length < col.width) return null;
  const regs = Uint16Array.from(words.slice(0, col.width));
  if (isFloatType(col.type)) {
    const x = wordsToFloat(reorderWords(regs, col.order), col.type);
    if (!Number.isFinite(x)) return String(x); // decodePoint refuses these (a point never reads NaN)
  }
  return String(decodePoint(probePoint(col), regs).raw);
}

const asciiByte = (b: number): string => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.');

export function probeRows(range: ProbeRange, opts: ProbeTableOptions = {}): ProbeRow[] {
  if (range.bits) {
    return range.bits.map((bit, offset) => ({
      offset,
      address: range.address + offset,
      register: modiconRegister(range.area, range.address + offset),
      bit,
    }));
  }
  const words = range.words ?? [];
  const cols = probeColumns(opts);
  return words.map((w, offset) => {
    const rest = words.slice(offset);
    const values: Record<string, string | null> = {};
    for (const c of cols) values[c.key] = columnValue(c, rest);
    return {
      offset,
      address: range.address + offset,
      register: modiconRegister(range.area, range.address + offset),
      hex: w.toString(16).toUpperCase().padStart(4, '0'),
      ascii: asciiByte(w >> 8) + asciiByte(w & 0xff),
      values,
    };
  });
}

/** Lay out rows of cells: a header line, then one line per row; numbers right-aligned. */
export function layoutTable(
  header: readonly string[],
  rows: ReadonlyArray<readonly string[]>,
  leftAligned: ReadonlySet<number> = new Set(),
): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (leftAligned.has(i) ? c.padEnd(widths[i]) : c.padStart(widths[i])))
      .join('  ')
      .replace(/\s+$/, '');
  return [line(header), ...rows.map(line)].join('\n');
}

/** The probe table as text (no trailing newline). */
export function formatProbeTable(range: ProbeRange, opts: ProbeTableOptions = {}): string {
  const rows = probeRows(range, opts);
  if (range.bits) {
    return layoutTable(
      ['offset', 'address', 'register', 'value'],
      rows.map((r) => [String(r.offset), String(r.address), r.register ?? '', r.bit ? '1' : '0']),
    );
  }
  const cols = probeColumns(opts);
  const header = ['offset', 'address', 'register', 'hex', 'ascii', ...cols.map((c) => c.key)];
  const cells = rows.map((r) => [
    String(r.offset),
    String(r.address),
    r.register ?? '',
    r.hex ?? '',
    r.ascii ?? '',
    ...cols.map((c) => r.values?.[c.key] ?? ''),
  ]);
  return layoutTable(header, cells, new Set([3, 4])); // hex and ascii read left to right
}

/** Machine form of a probe (`--json`): the words or bits, and every row with every column. */
export function probeReport(
  range: ProbeRange,
  opts: ProbeTableOptions = {},
): {
  area: Area;
  address: number;
  count: number;
  words?: number[];
  bits?: boolean[];
  columns: string[];
  rows: ProbeRow[];
} {
  const count = range.bits ? range.bits.length : (range.words ?? []).length;
  return {
    area: range.area,
    address: range.address,
    count,
    ...(range.bits ? { bits: [...range.bits] } : { words: [...(range.words ?? [])] }),
    columns: range.bits ? [] : probeColumns(opts).map((c) => c.key),
    rows: probeRows(range, opts),
  };
}
