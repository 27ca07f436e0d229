/**
 * DeviceFrame: one Modbus device's point values as columns (docs/architecture.md,
 * "The reading path"). The poller decodes each register block straight into it;
 * nothing here allocates per reading on the way in.
 *
 *  - `words` holds the registers (bits as 0/1) of every point's last good read,
 *    `at` its time; a point that failed keeps its previous words and time.
 *  - `rawLo`/`rawHi` hold a counter point's raw value as the metering core
 *    takes it (the unsigned register value at the type's width, or micro-units
 *    for float and scale-factor counters) in two u32 halves: no BigInt.
 *  - `fresh` marks the points read in the last cycle.
 *  - Engineering values (`value(i)`, decimal strings) are decoded only when
 *    someone asks (the API, an alarm, a stream subscriber), with the same
 *    decodePoint as ever, and cached until the point is read again.
 *
 * A cycle writes into a staging copy (take) and publishes at its end
 * (endCycle), so a reader never sees a half-written cycle. Integer points are
 * taken without decoding (they cannot fail); floats are checked to be finite;
 * strings, bits and bools are copied; scale-factor points and float counters
 * go through decodePoint at once (they can fail, and their counter value needs
 * exact decimal arithmetic).
 */
import { decodePoint, type DecodedValue } from '../devices/decode';
import { DecodeError } from '../devices/errors';
import { pointWidth, type ResolvedPoint, type WordOrder } from '../devices/point';
import { isFloatType, isIntegerType } from '../devices/registers';
import type { ReadRequest } from './planner';

/** How a planned point is taken from a block. */
const Op = {
  /** Integer gauge, bool, string: copy the registers (they always decode). */
  Copy: 0,
  /** Integer counter: copy, and put the raw value at the type's width into rawLo/rawHi. */
  Counter: 1,
  /** Float gauge: copy when finite, else the point fails. */
  Float: 2,
  /** Scale-factor points and float counters: decodePoint now (may fail; counters need exact micro-units). */
  Decode: 3,
  /** Coil / discrete input: one bit. */
  Bit: 4,
} as const;
type Op = (typeof Op)[keyof typeof Op];

/** Program entry size: point index, offset in the block, width, op. */
const STEP = 4;

export class DeviceFrame {
  readonly device: string;
  readonly points: readonly ResolvedPoint[];
  readonly indexOf: ReadonlyMap<string, number>;
  /** First word of each point in `words`. */
  readonly wordAt: Uint32Array;
  /** Registers of each point's last good read (bits as 0/1), in device order. */
  readonly words: Uint16Array;
  /** Time of each point's last good read, epoch ms (0: never read). */
  readonly at: Float64Array;
  /** 1 for the points read in the last cycle. */
  readonly fresh: Uint8Array;
  /** 1 for counter points. */
  readonly isCounter: Uint8Array;
  /** Counter points: raw value of the last good read, low and high 32 bits. */
  readonly rawLo: Uint32Array;
  readonly rawHi: Uint32Array;
  /** 1 when a counter's raw value does not fit u64 (a float counter below 0 or beyond 2^64 micro): the core ignores it. */
  readonly rawBad: Uint8Array;
  /** End of the last cycle that reached the device, epoch ms. */
  tsMs = 0;
  /** How long that cycle took on the bus, ms (queue wait included). */
  cycleMs = 0;
  /** Points read in the last cycle. */
  freshCount = 0;
  /** End of the last cycle that read at least one point (see `hasRead`). */
  lastReadMs = 0;
  /** True once a cycle read at least one point. */
  hasRead = false;

  // staging of the cycle in progress
  private readonly next: Uint16Array;
  private readonly nextLo: Uint32Array;
  private readonly nextHi: Uint32Array;
  private readonly nextBad: Uint8Array;
  private readonly nextDecoded: Array<DecodedValue | undefined>;
  /** Points in the order they were read / failed this cycle (for the DeviceReadings adapter). */
  private readonly readOrder: Uint16Array;
  private readCount = 0;
  private readonly failedOrder: Uint16Array;
  private readonly failedFlag: Uint8Array;
  private failedCount = 0;
  // decoded values, valid while `cacheSeq[i] === seq[i]`
  private readonly decoded: Array<DecodedValue | undefined>;
  private readonly seq: Uint32Array;
  private readonly cacheSeq: Uint32Array;
  private readonly programs = new WeakMap<ReadRequest, Int32Array>();
  private readonly scratch = new DataView(new ArrayBuffer(8));

  constructor(device: string, points: readonly ResolvedPoint[]) {
    this.device = device;
    this.points = points;
    const n = points.length;
    this.indexOf = new Map(points.map((p, i) => [p.name, i]));
    this.wordAt = new Uint32Array(n);
    let words = 0;
    for (let i = 0; i < n; i++) {
      this.wordAt[i] = words;
      words += pointWidth(points[i]!);
    }
    this.words = new Uint16Array(words);
    this.next = new Uint16Array(words);
    this.at = new Float64Array(n);
    this.fresh = new Uint8Array(n);
    this.isCounter = Uint8Array.from(points, (p) => (p.kind === 'counter' ? 1 : 0));
    this.rawLo = new Uint32Array(n);
    this.rawHi = new Uint32Array(n);
    this.rawBad = new Uint8Array(n);
    this.nextBad = new Uint8Array(n);
    this.nextLo = new Uint32Array(n);
    this.nextHi = new Uint32Array(n);
    this.nextDecoded = new Array<DecodedValue | undefined>(n);
    this.readOrder = new Uint16Array(n);
    this.failedOrder = new Uint16Array(n);
    this.failedFlag = new Uint8Array(n);
    this.decoded = new Array<DecodedValue | undefined>(n);
    this.seq = new Uint32Array(n);
    this.cacheSeq = new Uint32Array(n);
  }

  // -- writing (the poller) --

  /** Start a cycle: no point is fresh. */
  beginCycle(): void {
    this.fresh.fill(0);
    this.failedFlag.fill(0);
    this.freshCount = 0;
    this.readCount = 0;
    this.failedCount = 0;
  }

  /**
   * Take a block a request returned: every planned point is decoded into the
   * staging columns. Returns the first point error (the point stays not fresh), or null.
   */
  take(req: ReadRequest, data: Uint16Array | readonly boolean[]): Error | null {
    const prog = this.program(req);
    let firstError: Error | null = null;
    for (let k = 0; k < prog.length; k += STEP) {
      const i = prog[k]!;
      if (this.fresh[i] === 1) continue; // overlapping requests: read once
      const err = this.takePoint(i, prog[k + 1]!, prog[k + 2]!, prog[k + 3] as Op, data);
      if (err) {
        firstError ??= err;
        this.fail(i);
        continue;
      }
      this.fresh[i] = 1;
      this.freshCount += 1;
      this.readOrder[this.readCount++] = i;
    }
    return firstError;
  }

  /** A point that could not be read in this cycle (its request failed). */
  fail(i: number): void {
    if (this.failedFlag[i] === 1 || this.fresh[i] === 1) return;
    this.failedFlag[i] = 1;
    this.failedOrder[this.failedCount++] = i;
  }

  /** End a cycle that reached the device at `tsMs` after `cycleMs`: fresh points take their new values. */
  endCycle(tsMs: number, cycleMs = 0): void {
    this.tsMs = tsMs;
    this.cycleMs = cycleMs;
    for (let i = 0; i < this.points.length; i++) {
      if (this.fresh[i] === 1) {
        const w = this.wordAt[i]!;
        const end = i + 1 < this.points.length ? this.wordAt[i + 1]! : this.words.length;
        for (let j = w; j < end; j++) this.words[j] = this.next[j]!;
        this.at[i] = tsMs;
        this.rawLo[i] = this.nextLo[i]!;
        this.rawHi[i] = this.nextHi[i]!;
        this.rawBad[i] = this.nextBad[i]!;
        this.seq[i] = (this.seq[i]! + 1) >>> 0;
        const d = this.nextDecoded[i];
        if (d !== undefined) {
          this.decoded[i] = d;
          this.cacheSeq[i] = this.seq[i]!;
          this.nextDecoded[i] = undefined;
        }
      } else {
        this.fail(i); // points of requests never made (the cycle was cut short)
      }
    }
    if (this.freshCount > 0) {
      this.lastReadMs = tsMs;
      this.hasRead = true;
    }
  }

  // -- reading (views, alarms, stream) --

  /** Names of the points that failed in the last cycle, in the order they failed. */
  failedNames(): string[] {
    const out: string[] = [];
    for (let k = 0; k < this.failedCount; k++) out.push(this.points[this.failedOrder[k]!]!.name);
    return out;
  }

  /** Indices of the points read in the last cycle, in the order they were read. */
  readIndices(): number[] {
    return Array.from(this.readOrder.subarray(0, this.readCount));
  }

  /** True once point i was read. */
  hasValue(i: number): boolean {
    return this.seq[i] !== 0;
  }

  /** The decoded last good read of point i (undefined before its first read). */
  decodedAt(i: number): DecodedValue | undefined {
    if (this.seq[i] === 0) return undefined; // never read
    if (this.decoded[i] !== undefined && this.cacheSeq[i] === this.seq[i]) return this.decoded[i];
    const p = this.points[i]!;
    const w = this.wordAt[i]!;
    const width = pointWidth(p);
    const d = decodePoint(p, isBit(p) ? [this.words[w] !== 0] : this.words.slice(w, w + width));
    this.decoded[i] = d;
    this.cacheSeq[i] = this.seq[i]!;
    return d;
  }

  /** Engineering value of point i (decimal string, boolean or text), null before its first read. */
  value(i: number): string | boolean | null {
    return this.decodedAt(i)?.value ?? null;
  }

  // -- decoding --

  private program(req: ReadRequest): Int32Array {
    let prog = this.programs.get(req);
    if (prog) return prog;
    prog = new Int32Array(req.points.length * STEP);
    req.points.forEach((pp, k) => {
      const i = this.indexOf.get(pp.point.name);
      if (i === undefined || this.points[i] !== pp.point) throw new RangeError(`point ${pp.point.name} is not a point of ${this.device}`);
      prog[k * STEP] = i;
      prog[k * STEP + 1] = pp.offset;
      prog[k * STEP + 2] = pp.width;
      prog[k * STEP + 3] = opOf(pp.point);
    });
    this.programs.set(req, prog);
    return prog;
  }

  private takePoint(i: number, offset: number, width: number, op: Op, data: Uint16Array | readonly boolean[]): Error | null {
    const p = this.points[i]!;
    const w = this.wordAt[i]!;
    if (data.length < offset + width)
      return new DecodeError(p.name, `needs ${width} ${isBit(p) ? 'bits' : 'registers'}, got ${Math.max(0, data.length - offset)}`);
    if (op === Op.Bit) {
      if (data instanceof Uint16Array) return new DecodeError(p.name, `a ${p.area} decodes from bits, got registers`);
      this.next[w] = data[offset] ? 1 : 0;
      return null;
    }
    if (!(data instanceof Uint16Array)) return new DecodeError(p.name, `a ${p.area} register decodes from words, got bits`);
    if (op === Op.Decode) {
      let d: DecodedValue;
      try {
        d = decodePoint(p, data.subarray(offset, offset + width));
      } catch (e) {
        return e as Error;
      }
      this.nextDecoded[i] = d;
      if (d.counterRaw !== undefined) {
        const raw = d.counterRaw;
        const fits = raw >= 0n && raw <= 0xffff_ffff_ffff_ffffn;
        this.nextBad[i] = fits ? 0 : 1;
        this.nextHi[i] = fits ? Number(raw >> 32n) : 0;
        this.nextLo[i] = fits ? Number(raw & 0xffff_ffffn) : 0;
      }
    } else if (op === Op.Float) {
      if (!this.finite(p, data, offset, width)) return new DecodeError(p.name, `${p.type} is not a finite number`);
    } else if (op === Op.Counter) {
      this.counterRaw(i, p.wordOrder, data, offset, width);
    }
    for (let j = 0; j < width; j++) this.next[w + j] = data[offset + j]!;
    return null;
  }

  /** Canonical (big-endian) word k of a value of `n` registers at `offset`. */
  private static canonical(order: WordOrder, data: Uint16Array, offset: number, n: number, k: number): number {
    const wv = order === 'CDAB' || order === 'DCBA' ? data[offset + n - 1 - k]! : data[offset + k]!;
    return order === 'BADC' || order === 'DCBA' ? ((wv & 0xff) << 8) | (wv >> 8) : wv;
  }

  /** The unsigned raw value at the type's width (two's complement for signed types), as u32 halves. */
  private counterRaw(i: number, order: WordOrder, data: Uint16Array, offset: number, n: number): void {
    const c = DeviceFrame.canonical;
    if (n === 1) {
      this.nextLo[i] = c(order, data, offset, 1, 0);
      this.nextHi[i] = 0;
    } else if (n === 2) {
      this.nextLo[i] = c(order, data, offset, 2, 0) * 0x1_0000 + c(order, data, offset, 2, 1);
      this.nextHi[i] = 0;
    } else {
      this.nextHi[i] = c(order, data, offset, 4, 0) * 0x1_0000 + c(order, data, offset, 4, 1);
      this.nextLo[i] = c(order, data, offset, 4, 2) * 0x1_0000 + c(order, data, offset, 4, 3);
    }
  }

  private finite(p: ResolvedPoint, data: Uint16Array, offset: number, n: number): boolean {
    for (let k = 0; k < n; k++) this.scratch.setUint16(2 * k, DeviceFrame.canonical(p.wordOrder, data, offset, n, k), false);
    return Number.isFinite(n === 2 ? this.scratch.getFloat32(0, false) : this.scratch.getFloat64(0, false));
  }
}

const isBit = (p: ResolvedPoint): boolean => p.area === 'coil' || p.area === 'discrete';

function opOf(p: ResolvedPoint): Op {
  if (isBit(p)) return Op.Bit;
  if (p.scaleFactorOffset !== undefined) return Op.Decode;
  if (isIntegerType(p.type)) return p.kind === 'counter' ? Op.Counter : Op.Copy;
  if (isFloatType(p.type)) return p.kind === 'counter' ? Op.Decode : Op.Float;
  return Op.Copy; // bool, string
}
