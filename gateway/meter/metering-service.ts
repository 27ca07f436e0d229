/**
 * The hot path: decoded readings -> core batches -> ledger commits.
 * Counter readings come in as columns (`meterCounter`, reading-columns.ts: no
 * object per reading) and are metered together (every `flushMs`, or at once
 * when `maxBatch` are pending: the input never grows beyond that), so the
 * WASM call is paid per batch, not per reading. What the core metered is
 * folded into a pending commit (pending-commit.ts) and committed every
 * `commitMs` — or at once when an event, a voucher, a credit crossing or an
 * in-process delivery counter is due (docs/ledger.md, "Cadence"). Counters
 * are cumulative, so a crash between commits loses no consumption: the
 * restart bills it from the last committed raw value. After a commit, the
 * results are published to listeners (API stream, uplink). Node-RED is never
 * on this path. `ingest(MeterInput[])` stays for the few callers that hold
 * objects anyway (P1 telegrams, marketplace deliveries, service fees).
 */
import { EventEmitter } from 'node:events';
import type { Logger } from '../base/log';
import type { HistorySampler } from '../ledger/history';
import type { LedgerBatch, LedgerEvent, LedgerMetered, LedgerStore, LedgerVoucher } from '../ledger/store';
import type { PolicyRegistry } from './policy-registry';
import type { SlotMap } from './slot-map';
import type { CoreState, MeteringCore } from '../core/types';
import { CommitGroups, commitGroupCount } from './commit-groups';
import { AccrualSpans, PendingCommit, type PendingChannel } from './pending-commit';
import { meterToColumns, ReadingColumns } from './reading-columns';
import { type TariffHorizon, TouGapGuard } from './tou-gaps';

/** One decoded value from a device, as the metering service takes it. */
export interface MeterInput {
  device: string;
  point: string;
  tsMs: number;
  /** Engineering value (decimal string or "true"/"false" or text), for the reading history. */
  value: string;
  /** Counters only: the raw value the core meters. */
  counterRaw?: bigint;
}

/** A reading's value as the history takes it (`readingsArrived`). */
export interface ReadingValue {
  device: string;
  point: string;
  tsMs: number;
  value: string;
}

export interface CommittedBatch {
  seq: number;
  hash: string;
  batch: LedgerBatch;
  /** What the commit summarises (readings, non-zero deltas, accruals metered since the last one). */
  metered: LedgerMetered;
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

/** Money metered and not committed yet, as the settler sees it. */
export interface PendingSettlement {
  /** The time the commit will carry. */
  atMs: number;
  /** Per channel: accrued since the last commit (not in the ledger's channel totals yet). */
  channels: readonly PendingChannel[];
}

/**
 * Asked after the core metered new money (and when settlement was requested):
 * the vouchers due. They commit at once, in the same transaction as the
 * account state they settle, so a crash never separates the two.
 */
export interface BatchSettler {
  due(pending: PendingSettlement): BatchSettlement[];
}

export interface MeteringServiceOptions {
  /** Meter buffered readings this often (default 250 ms). */
  flushMs?: number;
  /** Counter readings that make a batch at once (default 8192); the input buffer's fixed size. */
  maxBatch?: number;
  /** Commit to the ledger this often (default 5000 ms, `ledger.commitMs`); events and vouchers commit at once. */
  commitMs?: number;
  /** Device groups the cadence commits one at a time (default: commit-groups.ts, by the number of counter slots). */
  commitGroups?: number;
  /** Reading history (`ledger.history`); none by default. */
  history?: { sampler: HistorySampler; maxBytes: number };
  /** Hand every reading's value to the history (default true; only matters with `history`). */
  readingValues?: boolean;
}

export const DEFAULT_COMMIT_MS = 5000;

export class MeteringService extends EventEmitter {
  /** Counter readings waiting for the core (bounded: metered when full). */
  private readonly input: ReadingColumns;
  /** Readings (all points) since the last flush. */
  private readingCount = 0;
  /** True when readings' values are wanted (the reading history is on): `readingsArrived` callers build them only then. */
  readonly keepsReadingValues: boolean;
  private pendingEvents: LedgerEvent[] = [];
  private timer: NodeJS.Timeout | null = null;
  private commitTimer: NodeJS.Timeout | null = null;
  private policyVersion = 0;
  private readonly flushMs: number;
  private readonly maxBatch: number;
  private readonly commitMs: number;
  private stopped = false;
  private settler: BatchSettler | null = null;
  private readonly extraSettlers = new Set<BatchSettler>();
  private settleRequested = false;
  /** New money since the settler was last asked (with device groups it is asked with each group's commit). */
  private moneySinceAsk = false;
  private uncommitted: PendingCommit;
  /** Scratch of PendingCommit.add, kept from commit to commit. */
  private readonly spans = new AccrualSpans();
  private lastCommitAt = Date.now();
  /** Null: one group, every commit takes everything. */
  private readonly groups: CommitGroups | null;
  /** The group the cadence commits next. */
  private nextGroup = 0;
  private readonly gaps = new TouGapGuard();
  private readonly history: { sampler: HistorySampler; maxBytes: number } | null;

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
    this.commitMs = opts.commitMs ?? DEFAULT_COMMIT_MS;
    this.history = opts.history ?? null;
    this.keepsReadingValues = this.history !== null && (opts.readingValues ?? true);
    this.uncommitted = new PendingCommit(slots, registry, this.spans);
    const groups = opts.commitGroups ?? commitGroupCount(slots.slots.length, this.commitMs);
    this.groups = groups > 1 ? new CommitGroups(slots, groups) : null;
  }

  /** The window the active time-of-use segments cover, and how to widen it for a long gap (tou-gaps.ts). */
  setTariffHorizon(h: TariffHorizon | null): void {
    this.gaps.setHorizon(h);
  }

  /**
   * The policy version the core meters with from now on. What was metered with
   * the previous one is committed first, under its own version: every commit
   * names the version its money was priced with.
   */
  setPolicyVersion(v: number): void {
    if (v !== this.policyVersion && !this.uncommitted.empty) {
      try {
        this.commit(null);
      } catch {
        // logged in commit; the core went back to the committed state
      }
    }
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
    this.gaps.reset(this.slots.slots.length);
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
      if (s.hasBaseline) this.gaps.restored(info.slot, s.lastTsMs);
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
    this.log.info(
      { slots: state.slots.length, lines: state.lines.length, accounts: state.accounts.length },
      'metering state restored from ledger',
    );
  }

  /** Readings given as objects: counters go into the input columns, values to the history when kept. */
  ingest(inputs: MeterInput[]): void {
    if (this.stopped) return;
    for (const i of inputs) {
      const info = i.counterRaw === undefined ? undefined : this.slots.get(i.device, i.point);
      if (info && this.input.full) this.flushSafely();
      this.readingCount += 1;
      if (this.keepsReadingValues) this.history!.sampler.observe(i.device, i.point, i.tsMs, i.value);
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

  /** `n` readings (counters and others) arrived: counted into the next commit; `values` go to the history when it is on. */
  readingsArrived(n: number, values?: ReadingValue[]): void {
    if (this.stopped || n === 0) return;
    this.readingCount += n;
    if (values && this.keepsReadingValues) for (const v of values) this.history!.sampler.observe(v.device, v.point, v.tsMs, v.value);
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
      // Logged in commit. The core went back to the committed state, so the next
      // reading bills the whole delta since then: no money is lost.
    }
  }

  /**
   * Meter everything pending now, and commit when it is due (the cadence, an
   * event, a voucher). Returns the committed batch, or null when nothing was committed.
   */
  flush(): CommittedBatch | null {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const extraEvents = this.pendingEvents;
    const readingCount = this.readingCount;
    this.pendingEvents = [];
    this.readingCount = 0;
    const batch = this.uncommitted;
    if (this.input.length > 0 || readingCount > 0) {
      const wide = this.gaps.check(this.input.slot, this.input.ts, this.input.length);
      if (wide) this.core.setPolicy(wide);
      let result;
      try {
        result = meterToColumns(this.core, this.input);
      } finally {
        this.input.clear();
      }
      this.gaps.metered(result);
      batch.add(result, readingCount);
    }
    for (const e of extraEvents) batch.addEvent(e);
    const due = this.settle(batch);
    if (batch.empty && !due) return null;
    if (batch.urgent || due || this.stopped) {
      // With device groups, events and vouchers issued commit at once with their
      // slots only; money received (settled in the core), account events and a
      // site small enough for one group commit everything.
      if (!this.groups || batch.needsAll || this.stopped || due?.some((d) => d.settleNano !== 0n)) return this.commit(due);
      return this.commitSlots(due);
    }
    const since = Date.now() - this.lastCommitAt;
    if (since >= this.commitMs / (this.groups?.count ?? 1) || since < 0) return this.groups ? this.commitGroup() : this.commit(null);
    this.scheduleCommit();
    return null;
  }

  private scheduleCommit(): void {
    if (this.commitTimer) return;
    const wait = Math.max(0, this.lastCommitAt + this.commitMs / (this.groups?.count ?? 1) - Date.now());
    this.commitTimer = setTimeout(() => {
      this.commitTimer = null;
      try {
        if (this.groups) this.commitGroup();
        else this.commit(null);
      } catch {
        // logged in commit; the next flush tries again
      }
    }, wait);
    this.commitTimer.unref();
  }

  /** Commit everything metered (and the settlement due) in one batch. */
  private commit(due: BatchSettlement[] | null): CommittedBatch | null {
    if (this.commitTimer) clearTimeout(this.commitTimer);
    this.commitTimer = null;
    const pending = this.uncommitted;
    if (pending.empty && !due) return null;
    this.uncommitted = new PendingCommit(this.slots, this.registry, this.spans);
    this.lastCommitAt = Date.now();
    const batch = pending.build(this.core, this.lastCommitAt, this.policyVersion);
    if (due) this.addSettlement(batch, due);
    return this.write(batch);
  }

  /**
   * The cadence's commit with device groups: the next group that has
   * something pending commits its slots, lines and accounts (less what the
   * other groups still hold) and closes its devices' ended hours.
   */
  private commitGroup(): CommittedBatch | null {
    if (this.commitTimer) clearTimeout(this.commitTimer);
    this.commitTimer = null;
    const groups = this.groups!;
    this.lastCommitAt = Date.now();
    // the vouchers due ride this commit, with the pending money of the slots feeding their channels
    const due = this.askVouchers();
    const feeding = this.uncommitted.slotsOfChannels(channelsOf(due));
    for (let tries = 0; tries < groups.count; tries++) {
      const g = this.nextGroup;
      this.nextGroup = (g + 1) % groups.count;
      const part = this.uncommitted.takeGroup((slot) => groups.of(slot) === g || feeding.has(slot));
      if (part.empty && !due) continue;
      const batch = part.build(this.core, this.lastCommitAt, this.policyVersion, this.uncommitted.accountSums());
      batch.closeDevices = groups.devices(g);
      if (due) this.addSettlement(batch, due);
      if (!this.uncommitted.empty || this.moneySinceAsk) this.scheduleCommit();
      return this.write(batch);
    }
    return null;
  }

  /**
   * A commit that cannot wait for the cadence (docs/ledger.md, "Cadence"):
   * the events pending and the vouchers due (issued, settling nothing), with
   * the pending money of the slots they concern — an event's slot, a
   * delivery counter, the slots feeding a voucher's channel — not with
   * everything metered: on a large site counters wrap and vouchers come
   * several times a second.
   */
  private commitSlots(due: BatchSettlement[] | null): CommittedBatch | null {
    const slots = this.uncommitted.slotsOfChannels(channelsOf(due));
    for (const s of this.uncommitted.urgentSlots) slots.add(s);
    const part = this.uncommitted.takeGroup((slot) => slots.has(slot));
    const batch = part.build(this.core, Date.now(), this.policyVersion, this.uncommitted.accountSums());
    batch.closeDevices = [];
    if (due) this.addSettlement(batch, due);
    if (!this.uncommitted.empty) this.scheduleCommit(); // the rest keeps its cadence even if no reading comes
    return this.write(batch);
  }

  private write(batch: LedgerBatch): CommittedBatch {
    try {
      const t0 = performance.now();
      const { seq, hash } = this.ledger.commitBatch(batch);
      const eventIds = batch.events.length > 0 ? this.ledger.eventIdsOf(seq) : [];
      const committed: CommittedBatch = { seq, hash, batch, metered: batch.metered!, eventIds, commitMs: performance.now() - t0 };
      this.recordHistory(false);
      this.emit('batch', committed);
      return committed;
    } catch (err) {
      // The core has advanced but the ledger did not take the commit: put the core
      // back to the last committed state so nothing is billed twice or lost (what
      // other groups held is dropped with it: the core bills it again).
      this.log.error({ err }, 'ledger commit failed; core state rolled back to the ledger');
      this.uncommitted = new PendingCommit(this.slots, this.registry, this.spans);
      this.restore();
      throw err;
    }
  }

  /** Completed history intervals (all of them when stopping) into the ledger; a failure loses history, never money. */
  private recordHistory(all: boolean): void {
    if (!this.history) return;
    const samples = this.history.sampler.take(Date.now(), all);
    if (samples.length === 0) return;
    try {
      const dropped = this.ledger.recordHistory(samples, this.history.maxBytes);
      if (dropped > 0) this.emit('history-dropped', dropped);
    } catch (err) {
      this.log.error({ err }, 'reading history not recorded');
    }
  }

  /**
   * What settlement commits now: the payments received (extra settlers, asked
   * every flush) and the vouchers due (the settler, asked when new money was
   * metered or settlement was requested).
   */
  private settle(batch: PendingCommit): BatchSettlement[] | null {
    const requested = this.settleRequested;
    this.settleRequested = false;
    if (batch.takeMoneyChanged()) this.moneySinceAsk = true;
    const ask = [...this.extraSettlers];
    // A large site (device groups) has vouchers due several times a second: the settler
    // is asked with each group's cadence commit (commitGroup), so they share it instead of
    // a commit each; asked now when settlement was requested, at the stop, on a small site.
    if (this.settler && (this.moneySinceAsk || requested) && (!this.groups || requested || this.stopped)) {
      ask.push(this.settler);
      this.moneySinceAsk = false;
    }
    return this.due(ask, batch);
  }

  /** With device groups: the vouchers due now (the settler's answer), if money was metered since it was last asked. */
  private askVouchers(): BatchSettlement[] | null {
    if (!this.settler || !this.moneySinceAsk) return null;
    this.moneySinceAsk = false;
    return this.due([this.settler], this.uncommitted);
  }

  private due(ask: BatchSettler[], batch: PendingCommit): BatchSettlement[] | null {
    if (ask.length === 0) return null;
    const pending: PendingSettlement = { atMs: Date.now(), channels: batch.pendingChannels() };
    const out: BatchSettlement[] = [];
    for (const settler of ask) {
      try {
        out.push(...settler.due(pending));
      } catch (err) {
        // Never lose the metered money over settlement: the vouchers follow with a later commit.
        this.log.error({ err }, 'settlement failed; vouchers deferred to a later commit');
      }
    }
    return out.length > 0 ? out : null;
  }

  stop(): void {
    this.stopped = true;
    try {
      this.flush();
      this.commit(null);
    } finally {
      if (this.timer) clearTimeout(this.timer);
      this.timer = null;
      if (this.commitTimer) clearTimeout(this.commitTimer);
      this.commitTimer = null;
      this.recordHistory(true);
    }
  }

  /** Settle what was received in the core; the vouchers, their events and the settled account rows join the batch. */
  private addSettlement(batch: LedgerBatch, due: BatchSettlement[]): void {
    const settled = new Set<number>();
    const events = new PendingCommit(this.slots, this.registry);
    const vouchers: LedgerVoucher[] = batch.vouchers ?? [];
    for (const s of due) {
      if (s.settleNano !== 0n) {
        const account = this.registry.findAccount(s.account);
        try {
          if (account === undefined) throw new RangeError(`account ${s.account} is unknown to the core`);
          // Money received ahead of accrual (a buyer's prepayment) settles only what is owed.
          const owed = this.core.snapshot({ slots: [], lines: [], accounts: [account] }).accounts[0]?.unsettledNano ?? 0n;
          const amount = s.settleNano < owed ? s.settleNano : owed > 0n ? owed : 0n;
          if (amount > 0n) for (const e of this.core.settle(account, amount)) events.addCoreEvent(e);
        } catch (err) {
          this.log.error(
            { err, account: s.account, channel: s.voucher?.channel, seq: s.voucher?.seq },
            'settlement not committed: its amount cannot be settled',
          );
          continue;
        }
        settled.add(account);
      }
      if (s.event) events.addEvent(s.event);
      if (s.voucher) vouchers.push(s.voucher);
    }
    batch.events.push(...events.events);
    if (vouchers.length > 0) batch.vouchers = vouchers;
    if (settled.size === 0) return;
    const rows = new Map(batch.state.accounts.map((a) => [a.account, a]));
    for (const a of this.core.snapshot({ slots: [], lines: [], accounts: settled }).accounts) {
      const name = this.registry.accountName(a.account);
      rows.set(name, { account: name, unsettledNano: a.unsettledNano, overLimit: a.overLimit });
    }
    batch.state.accounts = [...rows.values()];
  }
}

/** The channels of the vouchers in a settlement. */
function channelsOf(due: BatchSettlement[] | null): Set<string> {
  const channels = new Set<string>();
  for (const d of due ?? []) if (d.voucher) channels.add(d.voucher.channel);
  return channels;
}
