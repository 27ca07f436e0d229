/**
 * The metering core in plain BigInt: the oracle the WASM core is held to.
 * Written to be read, not to be fast. Semantics (docs/architecture.md §3, §5):
 *
 * Per reading of a configured slot, in order:
 *  1. raw outside the width or tsMs not an integer -> 'ignored'.
 *  2. first reading -> 'baseline' (bills nothing).
 *  3. tsMs <= the latest accepted (or held) tsMs -> 'ignored', no state change.
 *  4. a held jump pending: if the reading continues from the held value (no reset,
 *     within maxRate from it) -> 'confirmed', bill last -> reading in one delta;
 *     otherwise the held value was a glitch: drop it and go on with step 5.
 *  5. delta from last: raw >= last plain; raw < last: wrapped = raw + 2^W - last,
 *     < 2^(W-1) -> 'rollover', else 'reset' (raw is the new baseline, delta 0); width 0: any decrease is a reset.
 *     qty = rawDelta × microPerCount. qty×1000 > maxRate×dtMs -> 'held' (not billed).
 *  6. qty beyond i64 -> 'overflow', no delta. Else a Delta, then each tariff line of
 *     the slot (ascending line index) bills it, split across time-of-use segments in
 *     proportion to time (integer-exact), one Accrual per non-empty piece:
 *     amount = (qty×price + remainder) / 10^6, remainder carried per line.
 *     Any amount or account total beyond i64 -> 'overflow': nothing billed for the delta.
 *  7. each account that crossed above its credit limit -> 'credit-over' (once, until
 *     settle() brings it to <= rearmNano -> 'credit-under').
 */
import type {
  Accrual,
  BatchResult,
  CoreEvent,
  CoreEventKind,
  CoreState,
  CreditLimit,
  MeteringCore,
  PolicyTables,
  Reading,
  SlotConfig,
  SnapshotFilter,
  TariffLine,
} from './types';
import {
  checkSettle,
  checkSlotConfigs,
  checkState,
  checkPolicyTables,
  I64_MAX,
  isTimestamp,
  MICRO,
  rawFitsWidth,
  U64_MAX,
} from './validate';

interface SlotRec {
  cfg: SlotConfig;
  hasBaseline: boolean;
  lastRaw: bigint;
  lastTsMs: number;
  heldRaw: bigint | null;
  heldTsMs: number;
}

interface LineRec {
  def: TariffLine;
  account: number;
  remainder: bigint;
}

interface AccountRec {
  unsettled: bigint;
  overLimit: boolean;
  limit: CreditLimit | undefined;
}

type Step = { kind: 'normal' | 'rollover' | 'reset'; rawDelta: bigint };

/**
 * How far a counter moved from `last` to `raw` (docs/architecture.md §3 rollover vs reset).
 * A reset makes `raw` the new baseline: like a counter's very first reading it
 * bills nothing (docs/architecture.md §3), and the 'reset' event carries the raw value.
 */
export function counterStep(last: bigint, raw: bigint, widthBits: number): Step {
  if (raw >= last) return { kind: 'normal', rawDelta: raw - last };
  if (widthBits === 0) return { kind: 'reset', rawDelta: 0n };
  const wrapped = raw + (1n << BigInt(widthBits)) - last;
  if (wrapped < 1n << BigInt(widthBits - 1)) return { kind: 'rollover', rawDelta: wrapped };
  return { kind: 'reset', rawDelta: 0n };
}

/** Time pieces of [fromMs, toMs) under a line: inside a segment its price, elsewhere the line price. */
export function timePieces(line: TariffLine, fromMs: number, toMs: number): { fromMs: number; toMs: number; priceNano: bigint }[] {
  const out: { fromMs: number; toMs: number; priceNano: bigint }[] = [];
  let cur = fromMs;
  for (const seg of line.segments) {
    if (seg.toMs <= cur) continue;
    if (seg.fromMs >= toMs) break;
    if (seg.fromMs > cur) out.push({ fromMs: cur, toMs: seg.fromMs, priceNano: line.priceNano });
    const end = Math.min(seg.toMs, toMs);
    out.push({ fromMs: Math.max(seg.fromMs, cur), toMs: end, priceNano: seg.priceNano });
    cur = end;
  }
  if (cur < toMs) out.push({ fromMs: cur, toMs, priceNano: line.priceNano });
  return out;
}

export class ReferenceCore implements MeteringCore {
  private slots: (SlotRec | undefined)[] = [];
  private lines: LineRec[] = [];
  private linesBySlot = new Map<number, LineRec[]>();
  private accounts: AccountRec[] = [];
  private policyVersion = 0;

  configureSlots(configs: SlotConfig[]): void {
    const next: (SlotRec | undefined)[] = [];
    for (const cfg of checkSlotConfigs(configs)) {
      const old = this.slots[cfg.slot];
      const keep = old !== undefined && old.cfg.widthBits === cfg.widthBits && old.cfg.microPerCount === cfg.microPerCount;
      next[cfg.slot] = keep ? { ...old, cfg } : { cfg, hasBaseline: false, lastRaw: 0n, lastTsMs: 0, heldRaw: null, heldTsMs: 0 };
    }
    this.slots = next;
  }

  setPolicy(tables: PolicyTables): void {
    const p = checkPolicyTables(tables);
    while (this.accounts.length < p.accountCount) this.accounts.push({ unsettled: 0n, overLimit: false, limit: undefined });
    this.accounts.forEach((a, i) => (a.limit = p.limits.get(i)));
    this.lines = p.lines.map((def, i) => ({ def, account: p.channelAccounts[def.channel]!, remainder: this.lines[i]?.remainder ?? 0n }));
    this.linesBySlot = new Map();
    for (const l of this.lines) {
      const list = this.linesBySlot.get(l.def.slot) ?? [];
      list.push(l);
      this.linesBySlot.set(l.def.slot, list);
    }
    this.policyVersion = p.version;
  }

  process(readings: Reading[]): BatchResult {
    const out: BatchResult = { deltas: [], accruals: [], events: [] };
    for (const r of readings) this.meter(r, out);
    return out;
  }

  private slotAt(slot: number): SlotRec | undefined {
    return Number.isInteger(slot) && slot >= 0 ? this.slots[slot] : undefined;
  }

  private meter(r: Reading, out: BatchResult): void {
    const counterEvent = (kind: CoreEventKind): void => {
      out.events.push({ kind, slot: r.slot, tsMs: r.tsMs, value: r.raw });
    };
    const s = this.slotAt(r.slot);
    if (s === undefined) return counterEvent('unknown-slot');
    const { widthBits, microPerCount, maxRateMicroPerS } = s.cfg;
    if (!rawFitsWidth(r.raw, widthBits) || !isTimestamp(r.tsMs)) return counterEvent('ignored');
    const raw = r.raw;
    const tsMs = r.tsMs === 0 ? 0 : r.tsMs; // -0 -> 0
    if (!s.hasBaseline) {
      Object.assign(s, { hasBaseline: true, lastRaw: raw, lastTsMs: tsMs, heldRaw: null, heldTsMs: 0 });
      return counterEvent('baseline');
    }
    // times as bigint: the difference of two safe integers may not be one
    const withinRate = (qty: bigint, fromMs: number): boolean =>
      maxRateMicroPerS === 0n || qty * 1000n <= maxRateMicroPerS * (BigInt(tsMs) - BigInt(fromMs));
    const fromMs = s.lastTsMs;

    if (s.heldRaw !== null) {
      if (tsMs <= s.heldTsMs) return counterEvent('ignored');
      const fromHeld = counterStep(s.heldRaw, raw, widthBits);
      if (fromHeld.kind !== 'reset' && withinRate(fromHeld.rawDelta * microPerCount, s.heldTsMs)) {
        const toHeld = counterStep(s.lastRaw, s.heldRaw, widthBits);
        counterEvent('confirmed');
        if (toHeld.kind !== 'normal') counterEvent(toHeld.kind);
        if (fromHeld.kind !== 'normal') counterEvent(fromHeld.kind);
        Object.assign(s, { lastRaw: raw, lastTsMs: tsMs, heldRaw: null, heldTsMs: 0 });
        return this.billDelta(s, r, toHeld.rawDelta + fromHeld.rawDelta, fromMs, out, counterEvent);
      }
      // the held value was a glitch: forget it, meter this reading against last
      s.heldRaw = null;
      s.heldTsMs = 0;
    } else if (tsMs <= s.lastTsMs) {
      return counterEvent('ignored');
    }

    const step = counterStep(s.lastRaw, raw, widthBits);
    if (!withinRate(step.rawDelta * microPerCount, s.lastTsMs)) {
      s.heldRaw = raw;
      s.heldTsMs = tsMs;
      return counterEvent('held');
    }
    if (step.kind !== 'normal') counterEvent(step.kind);
    s.lastRaw = raw;
    s.lastTsMs = tsMs;
    this.billDelta(s, r, step.rawDelta, fromMs, out, counterEvent);
  }

  /** Records the delta ending at the slot's (just updated) last reading and bills it. */
  private billDelta(
    s: SlotRec,
    r: Reading,
    rawDelta: bigint,
    fromMs: number,
    out: BatchResult,
    counterEvent: (k: CoreEventKind) => void,
  ): void {
    const qty = rawDelta * s.cfg.microPerCount;
    if (rawDelta > U64_MAX || qty > I64_MAX) return counterEvent('overflow');
    const { slot } = s.cfg;
    const toMs = s.lastTsMs;
    out.deltas.push({ slot, qtyMicro: qty, fromMs, toMs });
    const priced = this.price(slot, qty, fromMs, toMs);
    if (priced === null) return counterEvent('overflow');
    // commit: all of the delta or (above) nothing
    for (const [line, remainder] of priced.remainders) line.remainder = remainder;
    for (const [id, amount] of priced.added) this.accounts[id]!.unsettled += amount;
    for (const a of priced.accruals) {
      out.accruals.push(a);
      const id = this.lines[a.line]!.account;
      const acct = this.accounts[id]!;
      if (!acct.overLimit && acct.limit !== undefined && acct.unsettled > acct.limit.limitNano) {
        acct.overLimit = true;
        out.events.push({ kind: 'credit-over', account: id, tsMs: r.tsMs, value: acct.unsettled });
      }
    }
  }

  /**
   * Prices one delta on every line of its slot, without changing anything:
   * the accruals, each line's new remainder and what each account gains,
   * or null when an amount or an account total would not fit i64.
   */
  private price(
    slot: number,
    qty: bigint,
    fromMs: number,
    toMs: number,
  ): { accruals: Accrual[]; remainders: Map<LineRec, bigint>; added: Map<number, bigint> } | null {
    const accruals: Accrual[] = [];
    const remainders = new Map<LineRec, bigint>();
    const added = new Map<number, bigint>();
    const totalTime = BigInt(toMs) - BigInt(fromMs);
    for (const line of this.linesBySlot.get(slot) ?? []) {
      let remainder = line.remainder;
      let timeSoFar = 0n;
      let qtySoFar = 0n;
      for (const piece of timePieces(line.def, fromMs, toMs)) {
        // piece quantities are differences of cumulative floors: they sum exactly to qty
        timeSoFar += BigInt(piece.toMs) - BigInt(piece.fromMs);
        const qtyThrough = (qty * timeSoFar) / totalTime;
        const pieceQty = qtyThrough - qtySoFar;
        qtySoFar = qtyThrough;
        if (pieceQty === 0n) continue;
        const exact = pieceQty * piece.priceNano + remainder;
        const amount = exact / MICRO;
        remainder = exact % MICRO;
        const gained = (added.get(line.account) ?? 0n) + amount;
        if (amount > I64_MAX || this.accounts[line.account]!.unsettled + gained > I64_MAX) return null;
        added.set(line.account, gained);
        accruals.push({
          line: line.def.line,
          slot,
          channel: line.def.channel,
          qtyMicro: pieceQty,
          amountNano: amount,
          priceNano: piece.priceNano,
          fromMs: piece.fromMs,
          toMs: piece.toMs,
          policyVersion: this.policyVersion,
        });
      }
      remainders.set(line, remainder);
    }
    return { accruals, remainders, added };
  }

  settle(account: number, amountNano: bigint): CoreEvent[] {
    const acct = Number.isInteger(account) && account >= 0 ? this.accounts[account] : undefined;
    checkSettle(account, amountNano, acct?.unsettled);
    acct!.unsettled -= amountNano;
    if (acct!.overLimit && (acct!.limit === undefined || acct!.unsettled <= acct!.limit.rearmNano)) {
      acct!.overLimit = false;
      return [{ kind: 'credit-under', account, tsMs: this.clock(), value: acct!.unsettled }];
    }
    return [];
  }

  /** The core's notion of now for events outside a batch: the latest accepted reading time (0 before any). */
  private clock(): number {
    let now = 0;
    for (const s of this.slots) if (s?.hasBaseline && s.lastTsMs > now) now = s.lastTsMs;
    return now;
  }

  snapshot(only?: SnapshotFilter): CoreState {
    const pick = <T>(all: readonly (T | undefined)[], ids: Iterable<number> | undefined): Array<[number, T]> => {
      const out: Array<[number, T]> = [];
      for (const i of ids ?? all.keys()) {
        const v = Number.isInteger(i) ? all[i] : undefined;
        if (v !== undefined) out.push([i, v]);
      }
      return out;
    };
    return {
      slots: pick(this.slots, only?.slots).map(([, s]) => ({
        slot: s.cfg.slot,
        hasBaseline: s.hasBaseline,
        lastRaw: s.lastRaw,
        lastTsMs: s.lastTsMs,
        heldRaw: s.heldRaw,
        heldTsMs: s.heldTsMs,
      })),
      lines: pick(this.lines, only?.lines).map(([, l]) => ({ line: l.def.line, remainder: l.remainder })),
      accounts: pick(this.accounts, only?.accounts).map(([i, a]) => ({ account: i, unsettledNano: a.unsettled, overLimit: a.overLimit })),
    };
  }

  restore(state: CoreState): void {
    checkState(state, (slot) => this.slots[slot]?.cfg.widthBits);
    for (const s of this.slots) if (s) Object.assign(s, { hasBaseline: false, lastRaw: 0n, lastTsMs: 0, heldRaw: null, heldTsMs: 0 });
    for (const st of state.slots) {
      const s = this.slots[st.slot];
      if (s === undefined || !st.hasBaseline) continue;
      Object.assign(s, {
        hasBaseline: true,
        lastRaw: st.lastRaw,
        lastTsMs: st.lastTsMs,
        heldRaw: st.heldRaw,
        heldTsMs: st.heldRaw === null ? 0 : st.heldTsMs,
      });
    }
    for (const l of this.lines) l.remainder = 0n;
    for (const st of state.lines) if (this.lines[st.line]) this.lines[st.line]!.remainder = st.remainder;
    for (const st of state.accounts) {
      while (this.accounts.length <= st.account) this.accounts.push({ unsettled: 0n, overLimit: false, limit: undefined });
    }
    for (const a of this.accounts) Object.assign(a, { unsettled: 0n, overLimit: false });
    for (const st of state.accounts) Object.assign(this.accounts[st.account]!, { unsettled: st.unsettledNano, overLimit: st.overLimit });
  }
}
