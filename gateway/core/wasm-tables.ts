/**
 * Slot configs, policy tables and core state written into / read from the WASM
 * core's memory. Inputs are checked by ./validate first (the same checks as
 * ReferenceCore), so a rejected call changes nothing.
 *
 * Lines are stored grouped by slot (so a slot's lines are one contiguous run
 * next to each other in memory); `physOf` maps a policy line index to its
 * record. Identical time-of-use segment lists are stored once.
 */
import type { CoreState, CounterWidth, PolicyTables, PriceSegment, SlotConfig, SlotState, SnapshotFilter } from './types';
import { checkSlotConfigs, checkState, checkPolicyTables, I64_MAX, type CheckedPolicyTables } from './validate';
import { ACCT, C, COLD, F_BASELINE, F_CONFIGURED, F_HELD, F_RATE, LINE, SEG, SLOT, type CoreMemory } from './wasm-layout';

export class CoreTables {
  private policy: CheckedPolicyTables = { version: 0, lines: [], channelAccounts: [], accountCount: 0, limits: new Map() };
  /** Record index of each policy line. */
  private physOf = new Uint32Array(0);
  /** First record and count of the lines of each priced slot. */
  private ranges = new Map<number, [number, number]>();

  constructor(private readonly m: CoreMemory) {}

  get version(): number {
    return this.policy.version;
  }

  private slotAddr(slot: number): number {
    return this.m.ctrl(C.SLOT_PTR) + slot * SLOT.SIZE;
  }
  private coldAddr(slot: number): number {
    return this.m.ctrl(C.COLD_PTR) + slot * COLD.SIZE;
  }
  private lineAddr(line: number): number {
    return this.m.ctrl(C.LINE_PTR) + this.physOf[line]! * LINE.SIZE;
  }

  /** Width of a configured slot, undefined otherwise. */
  widthOf(slot: number): CounterWidth | undefined {
    if (!Number.isInteger(slot) || slot < 0 || slot >= this.m.ctrl(C.SLOT_COUNT)) return undefined;
    const sp = this.slotAddr(slot);
    return this.m.u8[sp + SLOT.FLAGS]! & F_CONFIGURED ? (this.m.u8[sp + SLOT.WIDTH] as CounterWidth) : undefined;
  }

  configureSlots(configs: SlotConfig[]): void {
    const list = checkSlotConfigs(configs);
    const count = list.length === 0 ? 0 : list[list.length - 1]!.slot + 1;
    this.m.ex.resizeSlots(count);
    const { u8, u64 } = this.m.sync();
    const bySlot = new Array<SlotConfig | undefined>(count);
    for (const c of list) bySlot[c.slot] = c;
    for (let slot = 0; slot < count; slot++) {
      const sp = this.slotAddr(slot);
      const kp = this.coldAddr(slot);
      const cfg = bySlot[slot];
      const flags = u8[sp + SLOT.FLAGS]!;
      const keep =
        cfg !== undefined &&
        (flags & F_CONFIGURED) !== 0 &&
        u8[sp + SLOT.WIDTH] === cfg.widthBits &&
        u64[(sp + SLOT.MPC) >> 3] === cfg.microPerCount;
      if (!keep) {
        u8.fill(0, sp, sp + SLOT.SIZE);
        u8.fill(0, kp, kp + COLD.SIZE);
      }
      if (cfg === undefined) continue;
      const state = keep ? flags & (F_BASELINE | F_HELD) : 0;
      u8[sp + SLOT.FLAGS] = F_CONFIGURED | state | (cfg.maxRateMicroPerS > 0n ? F_RATE : 0);
      u8[sp + SLOT.WIDTH] = cfg.widthBits;
      u64[(sp + SLOT.MPC) >> 3] = cfg.microPerCount;
      u64[(kp + COLD.MAXRATE) >> 3] = cfg.maxRateMicroPerS;
    }
    this.indexLines();
  }

  setPolicy(tables: PolicyTables): void {
    const p = checkPolicyTables(tables);
    const oldRemainders = this.remainders();
    const order = [...p.lines].sort((a, b) => a.slot - b.slot || a.line - b.line);
    const ranges = new Map<number, [number, number]>();
    order.forEach((l, phys) => {
      const r = ranges.get(l.slot);
      if (r) r[1]++;
      else ranges.set(l.slot, [phys, 1]);
    });
    const segStart = new Map<string, number>();
    const segLists: PriceSegment[][] = [];
    let segCount = 0;
    const startOf = (segs: PriceSegment[]): number => {
      const key = segs.map((s) => `${s.fromMs},${s.toMs},${s.priceNano}`).join(';');
      let at = segStart.get(key);
      if (at === undefined) {
        segStart.set(key, (at = segCount));
        segLists.push(segs);
        segCount += segs.length;
      }
      return at;
    };
    const starts = order.map((l) => startOf(l.segments));
    let widest = 1;
    for (const [, n] of ranges.values()) widest = Math.max(widest, n);

    this.m.ex.resizeLines(order.length);
    this.m.ex.resizeSegments(segCount);
    this.m.ex.resizeChannels(p.channelAccounts.length);
    this.m.ex.resizeAccounts(Math.max(this.m.ctrl(C.ACCT_COUNT), p.accountCount)); // accounts never shrink
    this.m.ex.resizeScratch(widest);
    const { u32, u64, i64 } = this.m.sync();
    const physOf = new Uint32Array(order.length);
    const linePtr = this.m.ctrl(C.LINE_PTR);
    order.forEach((l, phys) => {
      physOf[l.line] = phys;
      const lp = linePtr + phys * LINE.SIZE;
      u64[(lp + LINE.PRICE) >> 3] = l.priceNano;
      u64[(lp + LINE.REM) >> 3] = oldRemainders[l.line] ?? 0n; // a line that stays keeps its remainder
      u32[(lp + LINE.LINE) >> 2] = l.line;
      u32[(lp + LINE.CHANNEL) >> 2] = l.channel;
      u32[(lp + LINE.SEGSTART) >> 2] = starts[phys]!;
      u32[(lp + LINE.SEGCOUNT) >> 2] = l.segments.length;
    });
    let gp = this.m.ctrl(C.SEG_PTR);
    for (const s of segLists.flat()) {
      i64[(gp + SEG.FROM) >> 3] = BigInt(s.fromMs);
      i64[(gp + SEG.TO) >> 3] = BigInt(s.toMs);
      u64[(gp + SEG.PRICE) >> 3] = s.priceNano;
      gp += SEG.SIZE;
    }
    u32.set(p.channelAccounts, this.m.ctrl(C.CHAN_PTR) >> 2);
    this.policy = p;
    this.physOf = physOf;
    this.ranges = ranges;
    this.writeLimits();
    this.indexLines();
  }

  /** Remainder of each policy line, by line index. */
  private remainders(): bigint[] {
    const { u64 } = this.m.sync();
    return Array.from(this.physOf, (_p, line) => u64[(this.lineAddr(line) + LINE.REM) >> 3]!);
  }

  /** Credit limit and re-arm level of every account (no limit: 2^63-1, never over). */
  private writeLimits(): void {
    const { u64 } = this.m.sync();
    const acctPtr = this.m.ctrl(C.ACCT_PTR);
    for (let a = 0; a < this.m.ctrl(C.ACCT_COUNT); a++) {
      const lim = this.policy.limits.get(a);
      const ap = acctPtr + a * ACCT.SIZE;
      u64[(ap + ACCT.LIMIT) >> 3] = lim?.limitNano ?? I64_MAX;
      u64[(ap + ACCT.REARM) >> 3] = lim?.rearmNano ?? I64_MAX;
    }
  }

  /** Points every slot at its run of line records (after slots or lines changed). */
  private indexLines(): void {
    const { u16, u32 } = this.m.sync();
    for (let slot = 0; slot < this.m.ctrl(C.SLOT_COUNT); slot++) {
      const sp = this.slotAddr(slot);
      const [start, count] = this.ranges.get(slot) ?? [0, 0];
      u32[(sp + SLOT.LSTART) >> 2] = start;
      u16[(sp + SLOT.LCOUNT) >> 1] = count;
    }
  }

  snapshot(only?: SnapshotFilter): CoreState {
    const { u8, u32, u64, i64 } = this.m.sync();
    const slotCount = this.m.ctrl(C.SLOT_COUNT);
    const slots: SlotState[] = [];
    for (const slot of only?.slots ?? range(slotCount)) {
      if (!Number.isInteger(slot) || slot < 0 || slot >= slotCount) continue;
      const sp = this.slotAddr(slot);
      const kp = this.coldAddr(slot);
      const flags = u8[sp + SLOT.FLAGS]!;
      if (!(flags & F_CONFIGURED)) continue;
      const base = (flags & F_BASELINE) !== 0;
      const held = (flags & F_HELD) !== 0;
      slots.push({
        slot,
        hasBaseline: base,
        lastRaw: base ? u64[(sp + SLOT.LAST) >> 3]! : 0n,
        lastTsMs: base ? Number(i64[(sp + SLOT.LASTTS) >> 3]) : 0,
        heldRaw: held ? u64[(kp + COLD.HELD) >> 3]! : null,
        heldTsMs: held ? Number(i64[(kp + COLD.HELDTS) >> 3]) : 0,
      });
    }
    const lines = [];
    for (const line of only?.lines ?? range(this.physOf.length)) {
      if (!Number.isInteger(line) || line < 0 || line >= this.physOf.length) continue;
      lines.push({ line, remainder: u64[(this.lineAddr(line) + LINE.REM) >> 3]! });
    }
    const acctPtr = this.m.ctrl(C.ACCT_PTR);
    const acctCount = this.m.ctrl(C.ACCT_COUNT);
    const accounts = [];
    for (const account of only?.accounts ?? range(acctCount)) {
      if (!Number.isInteger(account) || account < 0 || account >= acctCount) continue;
      const ap = acctPtr + account * ACCT.SIZE;
      accounts.push({ account, unsettledNano: u64[(ap + ACCT.UNSETTLED) >> 3]!, overLimit: u32[(ap + ACCT.OVER) >> 2] !== 0 });
    }
    return { slots, lines, accounts };
  }

  restore(state: CoreState): void {
    checkState(state, (slot) => this.widthOf(slot));
    const needAccounts = state.accounts.reduce((n, a) => Math.max(n, a.account + 1), this.m.ctrl(C.ACCT_COUNT));
    this.m.ex.resizeAccounts(needAccounts);
    this.writeLimits();
    const { u8, u32, u64, i64 } = this.m.sync();
    for (let slot = 0; slot < this.m.ctrl(C.SLOT_COUNT); slot++) u8[this.slotAddr(slot) + SLOT.FLAGS]! &= ~(F_BASELINE | F_HELD);
    for (const st of state.slots) {
      if (this.widthOf(st.slot) === undefined || !st.hasBaseline) continue;
      const sp = this.slotAddr(st.slot);
      const kp = this.coldAddr(st.slot);
      u8[sp + SLOT.FLAGS]! |= F_BASELINE | (st.heldRaw !== null ? F_HELD : 0);
      u64[(sp + SLOT.LAST) >> 3] = st.lastRaw;
      i64[(sp + SLOT.LASTTS) >> 3] = BigInt(st.lastTsMs);
      u64[(kp + COLD.HELD) >> 3] = st.heldRaw ?? 0n;
      i64[(kp + COLD.HELDTS) >> 3] = BigInt(st.heldRaw !== null ? st.heldTsMs : 0);
    }
    const lineCount = this.physOf.length;
    for (let line = 0; line < lineCount; line++) u64[(this.lineAddr(line) + LINE.REM) >> 3] = 0n;
    for (const st of state.lines) if (st.line < lineCount) u64[(this.lineAddr(st.line) + LINE.REM) >> 3] = st.remainder;
    const acctPtr = this.m.ctrl(C.ACCT_PTR);
    for (let account = 0; account < this.m.ctrl(C.ACCT_COUNT); account++) {
      const ap = acctPtr + account * ACCT.SIZE;
      u64[(ap + ACCT.UNSETTLED) >> 3] = 0n;
      u32[(ap + ACCT.OVER) >> 2] = 0;
    }
    for (const st of state.accounts) {
      const ap = acctPtr + st.account * ACCT.SIZE;
      u64[(ap + ACCT.UNSETTLED) >> 3] = st.unsettledNano;
      u32[(ap + ACCT.OVER) >> 2] = st.overLimit ? 1 : 0;
    }
  }
}

function* range(n: number): Generator<number> {
  for (let i = 0; i < n; i++) yield i;
}
