/**
 * The hot path: decoded readings -> one core batch -> one ledger transaction.
 * Counter readings come in as columns (`meterCounter`, reading-columns.ts: no
 * object per reading) and are metered together (every `flushMs`, or at once
 * when `maxBatch` are pending: the input never grows beyond that), so the
 * WASM call and the SQLite commit are paid per batch, not per reading. After
 * a commit, the results are published to listeners (API stream, uplink).
 * Node-RED is never on this path. `ingest(MeterInput[])` stays for the few
 * callers that hold objects anyway (P1 telegrams, marketplace deliveries).
 */
import { EventEmitter } from 'node:events';
import type { Logger } from '../base/log';
import type { LedgerBatch, LedgerEvent, LedgerReading, LedgerStore, LedgerVoucher } from '../ledger/store';
import type { PolicyRegistry } from './policy-registry';
import { formatMoney } from '../base/decimal';
import type { SlotMap } from './slot-map';
import type { BatchResult, CoreEvent, CoreState, MeteringCore } from '../core/types';
import { meterColumns, ReadingColumns } from './reading-columns';

/** One decoded value from a device, as the metering service takes it. */
export interface MeterInput {
  device: string;
  point: string;
  tsMs: number;
  /** Engineering value, for the ledger's raw readings (decimal string or "true"/"false" or text). */
  value: string;
  /** Counters only: the raw value the core meters. */
  counterRaw?: bigint;
}

export interface CommittedBatch {
  seq: number;
  hash: string;
  batch: LedgerBatch;
  /** Readings (every point, counters or not) metered with this batch. */
  readings: number;
  /** Wall time the ledger commit took, ms (for /metrics). */
  commitMs?: number;
  /** Ledger ids of `batch.events`, in order (what /api/events calls them). */
  eventIds: number[];
}

/**
 * What settlement commits with a batch (gateway/settle): a voucher this
 * gateway issued, and/or `settleNano` of an account settled in the core
 * because its payee RECEIVED the money (a buyer's voucher arrived, a payee's
 * collector reported it), with the event that records why.
 */
export interface BatchSettlement {
  account: string;
  /** 0 for a voucher issued: issuing settles nothing (docs/settlement.md, "Funded channels"). */
  settleNano: bigint;
  voucher?: LedgerVoucher;
  event?: LedgerEvent;
}

/**
 * Asked inside every flush, after the core metered the batch and before the
 * commit: the vouchers due with it. They commit in the same transaction as
 * the account state they settle, so a crash never separates the two.
 */
export interface BatchSettler {
  /** `batch` is not committed yet: its accruals are not in the ledger's channel totals. */
  due(batch: Readonly<LedgerBatch>): BatchSettlement[];
}

export interface MeteringServiceOptions {
  flushMs?: number;
  /** Counter readings that make a batch at once (default 8192); the input buffer's fixed size. */
  maxBatch?: number;
  /**
   * Hand every reading's engineering value to the ledger batch (`LedgerBatch.readings`,
   * raw reading history; default true). Off, nothing per reading is kept but the counters.
   */
  readingValues?: boolean;
}

export class MeteringService extends EventEmitter {
  /** Counter readings waiting for the core (bounded: metered when full). */
  private readonly input: ReadingColumns;
  /** Readings (all points) since the last batch. */
  private readingCount = 0;
  /** Their values, when kept for the ledger (`readingValues`). */
  private values: LedgerReading[] = [];
  /** True when the ledger batch takes every reading's value (raw reading history). */
  readonly keepsReadingValues: boolean;
  private pendingEvents: LedgerEvent[] = [];
  private timer: NodeJS.Timeout | null = null;
  private policyVersion = 0;
  private readonly flushMs: number;
  private readonly maxBatch: number;
  private stopped = false;
  private settler: BatchSettler | null = null;
  private readonly extraSettlers = new Set<BatchSettler>();
  private settleRequested = false;

  constructor(
    private readonly core: MeteringCore,
    private readonly slots: SlotMap,
    private readonly registry: PolicyRegistry,
    private readonly ledger: LedgerStore,
    private readonly log: Logger,
    opts: MeteringServiceOptions = {},
  ) {
    super();
    this.flushMs = opts.flushMs ?? 250;
    this.maxBatch = Math.max(1, Math.min(opts.maxBatch ?? 8192, 1 << 20));
    this.input = new ReadingColumns(this.maxBatch);
    this.keepsReadingValues = opts.readingValues ?? true;
  }

  setPolicyVersion(v: number): void {
    this.policyVersion = v;
  }

  /** Settlement (vouchers) asked with every batch; null turns it off. */
  setSettler(settler: BatchSettler | null): void {
    this.settler = settler;
  }

  /** Another settler asked with every batch (payments received); see BatchSettlement. */
  addSettler(settler: BatchSettler): void {
    this.extraSettlers.add(settler);
  }

  removeSettler(settler: BatchSettler): void {
    this.extraSettlers.delete(settler);
  }

  /** Flush soon even when no reading is pending, so the settler can issue what is due (an interval ended). */
  requestSettlement(): void {
    if (this.stopped || (!this.settler && this.extraSettlers.size === 0)) return;
    this.settleRequested = true;
    this.schedule();
  }

  /** Load the committed state from the ledger into the core (call after the policy tables are set). */
  restore(): void {
    const st = this.ledger.loadState();
    const state: CoreState = { slots: [], lines: [], accounts: [] };
    for (const s of st.slots) {
      const info = this.slots.get(s.device, s.point);
      if (!info) continue; // point no longer configured: its totals stay in the ledger
      state.slots.push({
        slot: info.slot,
        hasBaseline: s.hasBaseline,
        lastRaw: s.lastRaw,
        lastTsMs: s.lastTsMs,
        heldRaw: s.heldRaw,
        heldTsMs: s.heldTsMs,
      });
    }
    for (const l of st.lines) {
      const info = this.slots.get(l.device, l.point);
      if (!info) continue;
      const channel = this.registry.channel(l.account, l.payee);
      state.lines.push({ line: this.registry.line(info.slot, channel), remainder: l.remainder });
    }
    for (const a of st.accounts) {
      state.accounts.push({ account: this.registry.account(a.account), unsettledNano: a.unsettledNano, overLimit: a.overLimit });
    }
    this.core.restore(state);
    this.log.info({ slots: state.slots.length, lines: state.lines.length, accounts: state.accounts.length }, 'metering state restored from ledger');
  }

  /** Readings given as objects: counters go into the input columns, values to the batch when kept. */
  ingest(inputs: MeterInput[]): void {
    if (this.stopped) return;
    for (const i of inputs) {
      const info = i.counterRaw === undefined ? undefined : this.slots.get(i.device, i.point);
      if (info && this.input.full) this.flushSafely();
      this.readingCount += 1;
      if (this.keepsReadingValues) this.values.push({ device: i.device, point: i.point, tsMs: i.tsMs, value: i.value });
      if (info) this.input.pushBig(info.slot, i.counterRaw!, i.tsMs);
    }
    this.schedule();
  }

  /**
   * One counter reading of core slot `slot`: raw value as its low and high 32 bits
   * (the columns the poller decoded into). Nothing is allocated; a full input is metered first.
   * Readings are counted by `readingsArrived` (call it first, for the whole poll).
   */
  meterCounter(slot: number, lo: number, hi: number, tsMs: number): void {
    if (this.stopped) return;
    if (this.input.full) this.flushSafely();
    this.input.push(slot, lo, hi, tsMs);
  }

  /** A counter reading as a bigint (float and scale-factor counters: micro-units, possibly out of u64 range). */
  meterCounterBig(slot: number, raw: bigint, tsMs: number): void {
    if (this.stopped) return;
    if (this.input.full) this.flushSafely();
    this.input.pushBig(slot, raw, tsMs);
  }

  /** `n` readings (counters and others) arrived: counted into the next batch; `values` when they are kept. */
  readingsArrived(n: number, values?: LedgerReading[]): void {
    if (this.stopped || n === 0) return;
    this.readingCount += n;
    if (values && this.keepsReadingValues) for (const v of values) this.values.push(v);
    this.schedule();
  }

  /** Gateway events (device states, alarms) committed with the next batch. */
  addEvents(events: LedgerEvent[]): void {
    if (this.stopped) return;
    for (const e of events) this.pendingEvents.push(e);
    this.schedule();
  }

  private schedule(): void {
    if (this.input.length >= this.maxBatch) this.flushSafely();
    else if (!this.timer) {
      this.timer = setTimeout(() => this.flushSafely(), this.flushMs);
      this.timer.unref();
    }
  }

  private flushSafely(): void {
    try {
      this.flush();
    } catch {
      // Logged in flush. The core went back to the committed state, so the next
      // reading bills the whole delta since then: no money is lost, only raw readings.
    }
  }

  /** Meter and commit everything pending now. Returns the committed batch, or null when nothing was pending. */
  flush(): CommittedBatch | null {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.readingCount === 0 && this.input.length === 0 && this.pendingEvents.length === 0 && !this.settleRequested) return null;
    const extraEvents = this.pendingEvents;
    const values = this.values;
    const readingCount = this.readingCount;
    const metered = this.input.length;
    this.pendingEvents = [];
    this.values = [];
    this.readingCount = 0;
    this.settleRequested = false;
    let result: BatchResult;
    try {
      result = meterColumns(this.core, this.input);
    } finally {
      this.input.clear();
    }
    const batch = this.toLedgerBatch(values, result);
    for (const e of extraEvents) batch.events.push(e);
    for (const s of this.extraSettlers) this.addSettlement(batch, s);
    if (this.settler) this.addSettlement(batch, this.settler);
    if (readingCount === 0 && metered === 0 && batch.events.length === 0 && !batch.vouchers) return null; // a settlement request with nothing due
    try {
      const t0 = performance.now();
      const { seq, hash } = this.ledger.commitBatch(batch);
      const eventIds = batch.events.length > 0 ? this.ledger.eventIdsOf(seq) : [];
      const committed: CommittedBatch = { seq, hash, batch, readings: readingCount, eventIds, commitMs: performance.now() - t0 };
      this.emit('batch', committed);
      return committed;
    } catch (err) {
      // The core has advanced but the ledger did not take the batch: put the core
      // back to the last committed state so nothing is billed twice or lost.
      this.log.error({ err }, 'ledger commit failed; core state rolled back to the ledger');
      this.restore();
      throw err;
    }
  }

  stop(): void {
    this.stopped = true;
    try {
      this.flush();
    } finally {
      if (this.timer) clearTimeout(this.timer);
      this.timer = null;
    }
  }

  /** Settle each due voucher's amount in the core; the vouchers and the settled account rows join the batch. */
  private addSettlement(batch: LedgerBatch, settler: BatchSettler): void {
    let due: BatchSettlement[];
    try {
      due = settler.due(batch);
    } catch (err) {
      // Never lose the metered batch over settlement: the vouchers follow with a later batch.
      this.log.error({ err }, 'settlement failed; vouchers deferred to a later batch');
      return;
    }
    if (due.length === 0) return;
    const settled = new Set<number>();
    const vouchers: LedgerVoucher[] = batch.vouchers ?? [];
    for (const s of due) {
      if (s.settleNano !== 0n) {
        const account = this.registry.findAccount(s.account);
        try {
          if (account === undefined) throw new RangeError(`account ${s.account} is unknown to the core`);
          // Money received ahead of accrual (a buyer's prepayment) settles only what is owed.
          const owed = this.core.snapshot({ slots: [], lines: [], accounts: [account] }).accounts[0]?.unsettledNano ?? 0n;
          const amount = s.settleNano < owed ? s.settleNano : owed > 0n ? owed : 0n;
          if (amount > 0n) for (const e of this.core.settle(account, amount)) batch.events.push(this.eventRecord(e, new Set(), settled));
        } catch (err) {
          this.log.error({ err, account: s.account, channel: s.voucher?.channel, seq: s.voucher?.seq }, 'settlement not committed: its amount cannot be settled');
          continue;
        }
        settled.add(account);
      }
      if (s.event) batch.events.push(s.event);
      if (s.voucher) vouchers.push(s.voucher);
    }
    if (vouchers.length > 0) batch.vouchers = vouchers;
    if (settled.size === 0) return;
    const rows = new Map(batch.state.accounts.map((a) => [a.account, a]));
    for (const a of this.core.snapshot({ slots: [], lines: [], accounts: settled }).accounts) {
      const name = this.registry.accountName(a.account);
      rows.set(name, { account: name, unsettledNano: a.unsettledNano, overLimit: a.overLimit });
    }
    batch.state.accounts = [...rows.values()];
  }

  private toLedgerBatch(readings: LedgerReading[], r: BatchResult): LedgerBatch {
    const reg = this.registry;
    const touchedSlots = new Set<number>();
    const touchedLines = new Set<number>();
    const touchedAccounts = new Set<number>();
    // An unchanged counter gives a zero delta on every poll: its slot state is
    // saved, but it is not a delta of the ledger (it would add empty unpriced
    // total rows next to the tariffed ones, and a row per poll to every batch).
    const deltas = r.deltas
      .filter((d) => {
        touchedSlots.add(d.slot);
        return d.qtyMicro !== 0n;
      })
      .map((d) => {
        const s = this.slots.at(d.slot);
        return { device: s.device, point: s.ledgerPoint ?? s.point, account: s.account, qtyMicro: d.qtyMicro, fromMs: d.fromMs, toMs: d.toMs };
      });
    const accruals = r.accruals.map((a) => {
      touchedLines.add(a.line);
      const s = this.slots.at(a.slot);
      const ch = reg.channelInfo(a.channel);
      touchedAccounts.add(reg.account(ch.payer));
      return {
        device: s.device,
        point: s.ledgerPoint ?? s.point,
        account: ch.payer,
        payee: ch.payee,
        channel: ch.id,
        qtyMicro: a.qtyMicro,
        amountNano: a.amountNano,
        priceNano: a.priceNano,
        fromMs: a.fromMs,
        toMs: a.toMs,
        policyVersion: a.policyVersion,
      };
    });
    const events = r.events.map((e) => this.eventRecord(e, touchedSlots, touchedAccounts));
    // Only what this batch touched: the cost stays per batch, not per configured slot.
    const snap = this.core.snapshot({ slots: touchedSlots, lines: touchedLines, accounts: touchedAccounts });
    const state: LedgerBatch['state'] = {
      slots: snap.slots.map((s) => {
        const info = this.slots.at(s.slot);
        return { device: info.device, point: info.point, hasBaseline: s.hasBaseline, lastRaw: s.lastRaw, lastTsMs: s.lastTsMs, heldRaw: s.heldRaw, heldTsMs: s.heldTsMs };
      }),
      lines: snap.lines.map((l) => {
        const li = reg.lineInfo(l.line);
        const info = this.slots.at(li.slot);
        const ch = reg.channelInfo(li.channel);
        return { device: info.device, point: info.point, payee: ch.payee, account: ch.payer, remainder: l.remainder };
      }),
      accounts: snap.accounts.map((a) => ({ account: reg.accountName(a.account), unsettledNano: a.unsettledNano, overLimit: a.overLimit })),
    };
    return {
      atMs: Date.now(),
      policyVersion: this.policyVersion,
      readings,
      deltas,
      accruals,
      events,
      state,
    };
  }

  private eventRecord(e: CoreEvent, touchedSlots: Set<number>, touchedAccounts: Set<number>): LedgerBatch['events'][number] {
    const detail: Record<string, string | number | boolean | null> = {};
    let device: string | undefined;
    let point: string | undefined;
    let account: string | undefined;
    if (e.slot !== undefined && e.kind !== 'unknown-slot') {
      touchedSlots.add(e.slot);
      const s = this.slots.at(e.slot);
      device = s.device;
      point = s.point;
      if (e.value !== undefined) detail.raw = e.value.toString();
    } else if (e.slot !== undefined) {
      detail.slot = e.slot;
    }
    if (e.account !== undefined) {
      touchedAccounts.add(e.account);
      account = this.registry.accountName(e.account);
      if (e.value !== undefined) detail.unsettled = formatMoney(e.value);
    }
    return { kind: e.kind, device, point, account, tsMs: e.tsMs, detail };
  }
}

