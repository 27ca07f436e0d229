/**
 * What the metering service has metered since its last ledger commit
 * (docs/ledger.md, "Cadence"): the core meters every flush, the ledger
 * commits every `ledger.commitMs`. In between, the core's results are folded
 * here — deltas and accruals into usage per (line, hour), events as ledger
 * events, the slots, lines and accounts they touched — so nothing is kept per
 * reading and a commit holds one usage entry per line and hour.
 *
 * The untariffed rule is the ledger's (gateway/ledger/batch-aggregates.ts): a
 * non-zero delta with no accrual of its slot inside it counts under payee ''.
 *
 * `urgent` says the commit should not wait for the cadence: an event was
 * metered, or money on a slot whose counter lives in this process (a data
 * marketplace delivery counter: a crash would lose it, unlike a meter's
 * cumulative register).
 */
import { formatMoney } from '../base/decimal';
import type { CoreEvent, MeteringCore } from '../core/types';
import { hourOf } from '../ledger/batch-aggregates';
import type { LedgerBatch, LedgerEvent, LedgerUsage } from '../ledger/store';
import { ExactSum, wordsOf } from './exact-sum';
import type { PolicyRegistry } from './policy-registry';
import type { MeteredColumns } from './reading-columns';
import type { SlotMap } from './slot-map';

/** Usage of one key (line or untariffed slot) in one hour. */
interface Acc {
  hourMs: number;
  qty: ExactSum;
  amount: ExactSum;
  /** The same key in another hour. */
  next: Acc | null;
}

/**
 * The accruals of one core call grouped by slot (a linked list through typed
 * arrays, reused from call to call): a delta is untariffed unless an accrual
 * of its slot lies inside its span.
 */
export class AccrualSpans {
  private head = new Int32Array(0);
  /** The call that last wrote head[slot]; an older stamp means "no accrual in this call". */
  private stamp = new Uint32Array(0);
  private next = new Int32Array(0);
  private call = 0;
  private m: MeteredColumns | null = null;

  index(m: MeteredColumns): void {
    this.m = m;
    this.call = (this.call + 1) >>> 0;
    if (this.call === 0) {
      this.stamp.fill(0);
      this.call = 1;
    }
    if (this.next.length < m.accrualCount) this.next = new Int32Array(Math.max(m.accrualCount, this.next.length * 2));
    for (let k = 0; k < m.accrualCount; k++) {
      const slot = m.accrualSlot[k]!;
      if (slot >= this.head.length) this.grow(slot);
      this.next[k] = this.stamp[slot] === this.call ? this.head[slot]! : -1;
      this.head[slot] = k;
      this.stamp[slot] = this.call;
    }
  }

  /** Whether an accrual of `slot` in the indexed call lies within [fromMs, toMs]. */
  covers(slot: number, fromMs: number, toMs: number): boolean {
    const m = this.m!;
    if (slot >= this.stamp.length || this.stamp[slot] !== this.call) return false;
    for (let k = this.head[slot]!; k >= 0; k = this.next[k]!) {
      if (m.accrualFromMs[k]! >= fromMs && m.accrualToMs[k]! <= toMs) return true;
    }
    return false;
  }

  private grow(slot: number): void {
    const size = Math.max(slot + 1, this.head.length * 2);
    const head = new Int32Array(size);
    head.set(this.head);
    const stamp = new Uint32Array(size);
    stamp.set(this.stamp);
    this.head = head;
    this.stamp = stamp;
  }
}

/** Money metered on one channel and not committed yet. */
export interface PendingChannel {
  channel: string;
  payer: string;
  payee: string;
  accruedNano: bigint;
}

export class PendingCommit {
  readings = 0;
  deltas = 0;
  accruals = 0;
  urgent = false;
  /** Set when money was added since the last `takeMoneyChanged()`. */
  private moneyChanged = false;
  /** Key: line × 2 (tariffed) or slot × 2 + 1 (untariffed). */
  private readonly usage = new Map<number, Acc>();
  private readonly channelNano = new Map<number, ExactSum>();
  readonly events: LedgerEvent[] = [];
  readonly slots = new Set<number>();
  readonly lines = new Set<number>();
  readonly accounts = new Set<number>();

  constructor(
    private readonly slotMap: SlotMap,
    private readonly reg: PolicyRegistry,
    private readonly spans: AccrualSpans = new AccrualSpans(),
  ) {}

  get empty(): boolean {
    return this.readings === 0 && this.usage.size === 0 && this.events.length === 0 && this.slots.size === 0 && this.accounts.size === 0;
  }

  /** The accumulator of `key` in `hourMs`. */
  private usageAt(key: number, hourMs: number): Acc {
    let u = this.usage.get(key);
    if (!u) {
      u = { hourMs, qty: new ExactSum(), amount: new ExactSum(), next: null };
      this.usage.set(key, u);
      return u;
    }
    for (;;) {
      if (u.hourMs === hourMs) return u;
      if (!u.next) return (u.next = { hourMs, qty: new ExactSum(), amount: new ExactSum(), next: null });
      u = u.next;
    }
  }

  /**
   * Fold one core call in (`readings`: how many readings it metered). Reads
   * the output columns in place: no object and no BigInt per reading.
   */
  add(m: MeteredColumns, readings: number): void {
    this.readings += readings;
    this.spans.index(m);
    const qty = wordsOf(m.accrualQty);
    const amount = wordsOf(m.accrualAmount);
    for (let k = 0; k < m.accrualCount; k++) {
      const line = m.accrualLine[k]!;
      const channel = m.accrualChannel[k]!;
      this.accruals++;
      this.lines.add(line);
      this.accounts.add(this.reg.channelAccount(channel));
      const u = this.usageAt(line * 2, hourOf(m.accrualFromMs[k]!, m.accrualToMs[k]!));
      u.qty.addAt(qty, m.accrualQty, k);
      u.amount.addAt(amount, m.accrualAmount, k);
      let ch = this.channelNano.get(channel);
      if (!ch) this.channelNano.set(channel, (ch = new ExactSum()));
      ch.addAt(amount, m.accrualAmount, k);
      this.moneyChanged = true;
      if (this.slotMap.at(m.accrualSlot[k]!).ledgerPoint !== undefined) this.urgent = true; // an in-process delivery counter
    }
    const dq = wordsOf(m.deltaQty);
    for (let k = 0; k < m.deltaCount; k++) {
      // An unchanged counter gives a zero delta on every poll: its slot state is
      // saved, but it adds nothing to the totals (no empty untariffed rows).
      const slot = m.deltaSlot[k]!;
      this.slots.add(slot);
      if (dq[2 * k] === 0 && dq[2 * k + 1] === 0) continue;
      this.deltas++;
      const from = m.deltaFromMs[k]!;
      const to = m.deltaToMs[k]!;
      if (!this.spans.covers(slot, from, to)) this.usageAt(slot * 2 + 1, hourOf(from, to)).qty.addAt(dq, m.deltaQty, k);
    }
    for (const e of m.events) this.addCoreEvent(e);
  }

  addCoreEvent(e: CoreEvent): void {
    const detail: Record<string, string | number | boolean | null> = {};
    let device: string | undefined;
    let point: string | undefined;
    let account: string | undefined;
    if (e.slot !== undefined && e.kind !== 'unknown-slot') {
      this.slots.add(e.slot);
      const s = this.slotMap.at(e.slot);
      device = s.device;
      point = s.point;
      if (e.value !== undefined) detail.raw = e.value.toString();
    } else if (e.slot !== undefined) {
      detail.slot = e.slot;
    }
    if (e.account !== undefined) {
      this.accounts.add(e.account);
      account = this.reg.accountName(e.account);
      if (e.value !== undefined) detail.unsettled = formatMoney(e.value);
    }
    this.addEvent({ kind: e.kind, device, point, account, tsMs: e.tsMs, detail });
  }

  addEvent(e: LedgerEvent): void {
    this.events.push(e);
    this.urgent = true;
  }

  /** True once after money was added (the settler need not look again before more comes). */
  takeMoneyChanged(): boolean {
    const c = this.moneyChanged;
    this.moneyChanged = false;
    return c;
  }

  /** The money of every channel metered since the last commit. */
  pendingChannels(): PendingChannel[] {
    const out: PendingChannel[] = [];
    for (const [ch, nano] of this.channelNano) {
      const info = this.reg.channelInfo(ch);
      out.push({ channel: info.id, payer: info.payer, payee: info.payee, accruedNano: nano.value });
    }
    return out;
  }

  /** The ledger batch: usage by names, the state of what was touched (a core snapshot), the events. */
  build(core: MeteringCore, atMs: number, policyVersion: number): LedgerBatch {
    const reg = this.reg;
    const usage: LedgerUsage[] = [];
    for (const [key, first] of this.usage) {
      let names: { device: string; point: string; account: string; payee: string };
      if (key % 2 === 0) {
        const li = reg.lineInfo(key / 2);
        const s = this.slotMap.at(li.slot);
        const ch = reg.channelInfo(li.channel);
        names = { device: s.device, point: s.ledgerPoint ?? s.point, account: ch.payer, payee: ch.payee };
      } else {
        const s = this.slotMap.at((key - 1) / 2);
        names = { device: s.device, point: s.ledgerPoint ?? s.point, account: s.account, payee: '' };
      }
      for (let u: Acc | null = first; u; u = u.next) {
        usage.push({ ...names, hourMs: u.hourMs, quantityMicro: u.qty.value, amountNano: u.amount.value });
      }
    }
    // Only what was touched: the cost stays per commit, not per configured slot.
    const snap = core.snapshot({ slots: this.slots, lines: this.lines, accounts: this.accounts });
    const state: LedgerBatch['state'] = {
      slots: snap.slots.map((s) => {
        const info = this.slotMap.at(s.slot);
        return {
          device: info.device,
          point: info.point,
          hasBaseline: s.hasBaseline,
          lastRaw: s.lastRaw,
          lastTsMs: s.lastTsMs,
          heldRaw: s.heldRaw,
          heldTsMs: s.heldTsMs,
        };
      }),
      lines: snap.lines.map((l) => {
        const li = reg.lineInfo(l.line);
        const info = this.slotMap.at(li.slot);
        const ch = reg.channelInfo(li.channel);
        return { device: info.device, point: info.point, payee: ch.payee, account: ch.payer, remainder: l.remainder };
      }),
      accounts: snap.accounts.map((a) => ({ account: reg.accountName(a.account), unsettledNano: a.unsettledNano, overLimit: a.overLimit })),
    };
    return {
      atMs,
      policyVersion,
      metered: { readings: this.readings, deltas: this.deltas, accruals: this.accruals },
      usage,
      events: [...this.events],
      state,
    };
  }
}
