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
import type { BatchResult, CoreEvent, MeteringCore } from '../core/types';
import { hourOf } from '../ledger/batch-aggregates';
import type { LedgerBatch, LedgerEvent, LedgerUsage } from '../ledger/store';
import type { PolicyRegistry } from './policy-registry';
import type { SlotMap } from './slot-map';

interface Acc {
  hourMs: number;
  qty: bigint;
  amount: bigint;
  /** The same key in another hour. */
  next: Acc | null;
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
  private readonly channelNano = new Map<number, bigint>();
  readonly events: LedgerEvent[] = [];
  readonly slots = new Set<number>();
  readonly lines = new Set<number>();
  readonly accounts = new Set<number>();

  constructor(
    private readonly slotMap: SlotMap,
    private readonly reg: PolicyRegistry,
  ) {}

  get empty(): boolean {
    return this.readings === 0 && this.usage.size === 0 && this.events.length === 0 && this.slots.size === 0 && this.accounts.size === 0;
  }

  private addUsage(key: number, hourMs: number, qty: bigint, amount: bigint): void {
    let u = this.usage.get(key);
    if (!u) {
      this.usage.set(key, { hourMs, qty, amount, next: null });
      return;
    }
    for (;;) {
      if (u.hourMs === hourMs) {
        u.qty += qty;
        u.amount += amount;
        return;
      }
      if (!u.next) {
        u.next = { hourMs, qty, amount, next: null };
        return;
      }
      u = u.next;
    }
  }

  /** Fold one core result in (`readings`: how many readings it metered). */
  add(r: BatchResult, readings: number): void {
    this.readings += readings;
    let spans: Map<number, Array<[number, number]>> | null = null;
    for (const a of r.accruals) {
      this.accruals++;
      this.lines.add(a.line);
      this.accounts.add(this.reg.channelAccount(a.channel));
      this.addUsage(a.line * 2, hourOf(a.fromMs, a.toMs), a.qtyMicro, a.amountNano);
      this.channelNano.set(a.channel, (this.channelNano.get(a.channel) ?? 0n) + a.amountNano);
      this.moneyChanged = true;
      if (this.slotMap.at(a.slot).ledgerPoint !== undefined) this.urgent = true; // an in-process delivery counter
      spans ??= new Map();
      const list = spans.get(a.slot);
      if (list) list.push([a.fromMs, a.toMs]);
      else spans.set(a.slot, [[a.fromMs, a.toMs]]);
    }
    for (const d of r.deltas) {
      // An unchanged counter gives a zero delta on every poll: its slot state is
      // saved, but it adds nothing to the totals (no empty untariffed rows).
      this.slots.add(d.slot);
      if (d.qtyMicro === 0n) continue;
      this.deltas++;
      const covered = spans?.get(d.slot)?.some(([from, to]) => from >= d.fromMs && to <= d.toMs) ?? false;
      if (!covered) this.addUsage(d.slot * 2 + 1, hourOf(d.fromMs, d.toMs), d.qtyMicro, 0n);
    }
    for (const e of r.events) this.addCoreEvent(e);
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
      out.push({ channel: info.id, payer: info.payer, payee: info.payee, accruedNano: nano });
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
        usage.push({ ...names, hourMs: u.hourMs, quantityMicro: u.qty, amountNano: u.amount });
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
