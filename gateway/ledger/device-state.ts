/**
 * The compact core state of one device, as the ledger keeps it: one packed
 * row per device (table `device_state`), rewritten only when something of the
 * device changed, so a commit writes about 20 bytes per changed counter
 * instead of a row per reading (docs/ledger.md, "Storage").
 *
 * A device holds, in a fixed order (its layout, table `device_layout`,
 * rewritten only when a key is added):
 *  - slots: per counter point the latest raw value and its time, a held jump;
 *  - remainders: per tariff line of the core (point, account, payee) the
 *    carried sub-nano remainder;
 *  - open hours: per ledger line (by line id) the quantity and amount
 *    accrued in the line's open hour, not yet added to the hourly table.
 *
 * Packed form (varint.ts), values in layout order:
 *   version byte (1) · base time (uint) · shape byte ·
 *   per slot: [flags] · raw · [lastTs − base] · [heldRaw · heldTs − base] ·
 *   per remainder: remainder ·
 *   per open line: [0 (nothing open) | zigzag(hour − base hour) + 1] · [quantity · amount (dec)]
 * The base time is the latest slot time. The shape byte says when every
 * slot is plain (a baseline, nothing held, read at the base time: no flags,
 * no times) and when every line is open in the base hour (no hour tags),
 * the usual case of a device read in one poll: about 15 bytes a counter.
 * Encoding is deterministic: the same state, the same bytes.
 */
import { HOUR_MS } from './batch-aggregates';
import { ByteReader, ByteWriter } from './varint';

export interface SlotValue {
  hasBaseline: boolean;
  lastRaw: bigint;
  lastTsMs: number;
  heldRaw: bigint | null;
  heldTsMs: number;
}

export interface RemainderValue {
  point: string;
  account: string;
  payee: string;
  remainder: bigint;
}

export interface OpenHour {
  hourMs: number;
  quantityMicro: bigint;
  amountNano: bigint;
}

interface Layout {
  /** Slot points. */
  s: string[];
  /** Remainder keys [point, account, payee]. */
  r: Array<[string, string, string]>;
  /** Ledger line ids with an open-hour entry. */
  l: number[];
}

const FORMAT = 1;
const F_BASELINE = 1;
const F_HELD = 2;
const F_OWN_TIME = 4;
/** Shape: every slot has a baseline, nothing held, its time is the base time. */
const S_PLAIN_SLOTS = 1;
/** Shape: every line has an open hour, the base hour. */
const S_BASE_HOURS = 2;

/** account → payee → point → value: found without building a key string (the last account and payee remembered). */
type RemainderIndex = Map<string, Map<string, Map<string, RemainderValue>>>;

export class DeviceState {
  readonly slots = new Map<string, SlotValue>();
  /** In layout order. */
  readonly remainders: RemainderValue[] = [];
  private readonly remainderIndex: RemainderIndex = new Map();
  private lastRemainders: { account: string; payee: string; points: Map<string, RemainderValue> } | null = null;
  /** By ledger line id; null: the line has nothing open. */
  readonly open = new Map<number, OpenHour | null>();
  /** Set when a key was added (the layout row must be written). */
  layoutChanged = false;
  private layout: string | null = null;

  constructor(readonly device: string) {}

  private added(): void {
    this.layoutChanged = true;
    this.layout = null;
  }

  putSlot(point: string, v: SlotValue): void {
    if (!this.slots.has(point)) this.added();
    this.slots.set(point, v);
  }

  private remainderPoints(account: string, payee: string, create: boolean): Map<string, RemainderValue> | undefined {
    const l = this.lastRemainders;
    if (l && l.account === account && l.payee === payee) return l.points;
    let byPayee = this.remainderIndex.get(account);
    if (!byPayee && create) this.remainderIndex.set(account, (byPayee = new Map()));
    let points = byPayee?.get(payee);
    if (!points && byPayee && create) byPayee.set(payee, (points = new Map()));
    if (points) this.lastRemainders = { account, payee, points };
    return points;
  }

  remainderOf(point: string, account: string, payee: string): RemainderValue | undefined {
    return this.remainderPoints(account, payee, false)?.get(point);
  }

  putRemainder(point: string, account: string, payee: string, remainder: bigint): void {
    const r = this.remainderOf(point, account, payee);
    if (r) {
      r.remainder = remainder;
      return;
    }
    this.added();
    const v = { point, account, payee, remainder };
    this.remainders.push(v);
    this.remainderPoints(account, payee, true)!.set(point, v);
  }

  /** The open entry of a line, creating an empty one (a layout change) on first use. */
  openOf(lineId: number): OpenHour | null {
    const o = this.open.get(lineId);
    if (o !== undefined) return o;
    this.added();
    this.open.set(lineId, null);
    return null;
  }

  layoutText(): string {
    if (this.layout === null) {
      const layout: Layout = {
        s: [...this.slots.keys()],
        r: this.remainders.map((r) => [r.point, r.account, r.payee]),
        l: [...this.open.keys()],
      };
      this.layout = JSON.stringify(layout);
    }
    return this.layout;
  }

  encode(): Buffer {
    let base = 0;
    for (const s of this.slots.values()) if (s.lastTsMs > base) base = s.lastTsMs;
    const baseHour = Math.floor(base / HOUR_MS);
    let shape = S_PLAIN_SLOTS | S_BASE_HOURS;
    for (const s of this.slots.values()) if (!s.hasBaseline || s.heldRaw !== null || s.lastTsMs !== base) shape &= ~S_PLAIN_SLOTS;
    for (const o of this.open.values()) if (o === null || o.hourMs !== baseHour * HOUR_MS) shape &= ~S_BASE_HOURS;
    const w = new ByteWriter();
    w.byte(FORMAT);
    w.uint(base);
    w.byte(shape);
    for (const s of this.slots.values()) {
      if (shape & S_PLAIN_SLOTS) {
        w.big(s.lastRaw);
        continue;
      }
      const own = s.lastTsMs !== base;
      w.byte((s.hasBaseline ? F_BASELINE : 0) | (s.heldRaw !== null ? F_HELD : 0) | (own ? F_OWN_TIME : 0));
      w.big(s.lastRaw);
      if (own) w.int(s.lastTsMs - base);
      if (s.heldRaw !== null) {
        w.big(s.heldRaw);
        w.int(s.heldTsMs - base);
      }
    }
    for (const r of this.remainders) w.big(r.remainder);
    for (const o of this.open.values()) {
      if (!(shape & S_BASE_HOURS)) {
        if (o === null) {
          w.uint(0);
          continue;
        }
        const d = o.hourMs / HOUR_MS - baseHour;
        w.uint((d >= 0 ? d * 2 : -d * 2 - 1) + 1); // zigzag + 1: 0 is "nothing open"
      }
      w.dec(o!.quantityMicro);
      w.dec(o!.amountNano);
    }
    return w.bytes();
  }

  /** Rebuild a device from its layout and packed rows. Throws RangeError on a malformed row. */
  static decode(device: string, layoutText: string, data: Uint8Array): DeviceState {
    const layout = JSON.parse(layoutText) as Layout;
    if (!Array.isArray(layout?.s) || !Array.isArray(layout.r) || !Array.isArray(layout.l))
      throw new RangeError('device layout is malformed');
    const d = new DeviceState(device);
    const r = new ByteReader(data);
    if (r.byte() !== FORMAT) throw new RangeError('device state has an unknown format');
    const base = r.uint();
    const baseHour = Math.floor(base / HOUR_MS);
    const shape = r.byte();
    for (const point of layout.s) {
      if (shape & S_PLAIN_SLOTS) {
        d.slots.set(String(point), { hasBaseline: true, lastRaw: r.big(), lastTsMs: base, heldRaw: null, heldTsMs: 0 });
        continue;
      }
      const flags = r.byte();
      const lastRaw = r.big();
      const lastTsMs = flags & F_OWN_TIME ? base + r.int() : base;
      let heldRaw: bigint | null = null;
      let heldTsMs = 0;
      if (flags & F_HELD) {
        heldRaw = r.big();
        heldTsMs = base + r.int();
      }
      d.slots.set(String(point), { hasBaseline: (flags & F_BASELINE) !== 0, lastRaw, lastTsMs, heldRaw, heldTsMs });
    }
    for (const [point, account, payee] of layout.r) d.putRemainder(point, account, payee, r.big());
    for (const id of layout.l) {
      if (!Number.isSafeInteger(id)) throw new RangeError('device layout has a bad line id');
      let hour = baseHour;
      if (!(shape & S_BASE_HOURS)) {
        const tag = r.uint();
        if (tag === 0) {
          d.open.set(id, null);
          continue;
        }
        const z = tag - 1;
        hour = baseHour + (z % 2 === 0 ? z / 2 : -(z + 1) / 2);
      }
      d.open.set(id, { hourMs: hour * HOUR_MS, quantityMicro: r.dec(), amountNano: r.dec() });
    }
    if (!r.done) throw new RangeError('device state has trailing bytes');
    d.layoutChanged = false;
    return d;
  }
}
