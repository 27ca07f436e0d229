/**
 * Slot configs, policy tables and core state written into / read from the WASM
 * core's memory. Inputs are checked by ./validate first (the same checks as
 * ReferenceCore), so a rejected call changes nothing.
 */
import type { CoreState, CounterWidth, PolicyTables, SlotConfig, SlotState } from './types';
import { checkSlotConfigs, checkState, compilePolicy, I64_MAX, type CompiledPolicy } from './validate';
import { ACCT, C, F_BASELINE, F_CONFIGURED, F_HELD, LINE, SEG, SLOT, type CoreMemory } from './wasm-layout';

export class CoreTables {
  private policy: CompiledPolicy = { version: 0, lines: [], channelAccounts: [], accountCount: 0, limits: new Map() };

  constructor(private readonly m: CoreMemory) {}

  get version(): number {
    return this.policy.version;
  }

  private slotAddr(slot: number): number {
    return this.m.ctrl(C.SLOT_PTR) + slot * SLOT.SIZE;
  }

  /** Width of a configured slot, undefined otherwise. */
  widthOf(slot: number): CounterWidth | undefined {
    if (!Number.isInteger(slot) || slot < 0 || slot >= this.m.ctrl(C.SLOT_COUNT)) return undefined;
    const sp = this.slotAddr(slot);
    return this.m.u32[(sp + SLOT.FLAGS) >> 2]! & F_CONFIGURED ? (this.m.u32[(sp + SLOT.WIDTH) >> 2] as CounterWidth) : undefined;
  }

  configureSlots(configs: SlotConfig[]): void {
    const list = checkSlotConfigs(configs);
    const count = list.length === 0 ? 0 : list[list.length - 1]!.slot + 1;
    this.m.ex.resizeSlots(count);
    const { u8, u32, u64 } = this.m.sync();
    const bySlot = new Array<SlotConfig | undefined>(count);
    for (const c of list) bySlot[c.slot] = c;
    for (let slot = 0; slot < count; slot++) {
      const sp = this.slotAddr(slot);
      const cfg = bySlot[slot];
      if (cfg === undefined) {
        u8.fill(0, sp, sp + SLOT.SIZE);
        continue;
      }
      const flags = u32[(sp + SLOT.FLAGS) >> 2]!;
      const keep = (flags & F_CONFIGURED) !== 0 && u32[(sp + SLOT.WIDTH) >> 2] === cfg.widthBits && u64[(sp + SLOT.MPC) >> 3] === cfg.microPerCount;
      if (!keep) u8.fill(0, sp, sp + SLOT.SIZE);
      u32[(sp + SLOT.FLAGS) >> 2] = keep ? flags : F_CONFIGURED;
      u32[(sp + SLOT.WIDTH) >> 2] = cfg.widthBits;
      u64[(sp + SLOT.MPC) >> 3] = cfg.microPerCount;
      u64[(sp + SLOT.MAXRATE) >> 3] = cfg.maxRateMicroPerS;
    }
    this.indexLines();
  }

  setPolicy(tables: PolicyTables): void {
    const p = compilePolicy(tables);
    const segCount = p.lines.reduce((n, l) => n + l.segments.length, 0);
    this.m.ex.resizeLines(p.lines.length); // keeps the remainders of lines that stay
    this.m.ex.resizeSegments(segCount);
    this.m.ex.resizeAccounts(Math.max(this.m.ctrl(C.ACCT_COUNT), p.accountCount)); // accounts never shrink
    const { u32, u64, i64 } = this.m.sync();
    const linePtr = this.m.ctrl(C.LINE_PTR);
    const segPtr = this.m.ctrl(C.SEG_PTR);
    let seg = 0;
    for (const l of p.lines) {
      const lp = linePtr + l.line * LINE.SIZE;
      u32[(lp + LINE.SLOT) >> 2] = l.slot;
      u32[(lp + LINE.CHANNEL) >> 2] = l.channel;
      u32[(lp + LINE.ACCOUNT) >> 2] = p.channelAccounts[l.channel]!;
      u32[(lp + LINE.SEGSTART) >> 2] = seg;
      u32[(lp + LINE.SEGCOUNT) >> 2] = l.segments.length;
      u64[(lp + LINE.PRICE) >> 3] = l.priceNano;
      for (const s of l.segments) {
        const gp = segPtr + seg++ * SEG.SIZE;
        i64[(gp + SEG.FROM) >> 3] = BigInt(s.fromMs);
        i64[(gp + SEG.TO) >> 3] = BigInt(s.toMs);
        u64[(gp + SEG.PRICE) >> 3] = s.priceNano;
      }
    }
    this.policy = p;
    this.writeLimits();
    this.indexLines();
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

  /** Rebuilds the slot -> lines index (CSR, ascending line index) after slots or lines changed. */
  private indexLines(): void {
    const slotCount = this.m.ctrl(C.SLOT_COUNT);
    const bySlot = new Map<number, number[]>();
    for (const l of this.policy.lines) {
      if (l.slot >= slotCount) continue;
      const list = bySlot.get(l.slot);
      if (list) list.push(l.line);
      else bySlot.set(l.slot, [l.line]);
    }
    let total = 0;
    for (const list of bySlot.values()) total += list.length;
    this.m.ex.resizeLineIndex(total);
    const { u32 } = this.m.sync();
    const lidx = this.m.ctrl(C.LIDX_PTR) >> 2;
    let at = 0;
    for (let slot = 0; slot < slotCount; slot++) {
      const sp = this.slotAddr(slot);
      const list = bySlot.get(slot) ?? [];
      u32[(sp + SLOT.LSTART) >> 2] = at;
      u32[(sp + SLOT.LCOUNT) >> 2] = list.length;
      for (const line of list) u32[lidx + at++] = line;
    }
  }

  snapshot(): CoreState {
    const { u32, u64, i64 } = this.m.sync();
    const slots: SlotState[] = [];
    for (let slot = 0; slot < this.m.ctrl(C.SLOT_COUNT); slot++) {
      const sp = this.slotAddr(slot);
      const flags = u32[(sp + SLOT.FLAGS) >> 2]!;
      if (!(flags & F_CONFIGURED)) continue;
      const base = (flags & F_BASELINE) !== 0;
      const held = (flags & F_HELD) !== 0;
      slots.push({
        slot,
        hasBaseline: base,
        lastRaw: base ? u64[(sp + SLOT.LAST) >> 3]! : 0n,
        lastTsMs: base ? Number(i64[(sp + SLOT.LASTTS) >> 3]) : 0,
        heldRaw: held ? u64[(sp + SLOT.HELD) >> 3]! : null,
        heldTsMs: held ? Number(i64[(sp + SLOT.HELDTS) >> 3]) : 0,
      });
    }
    const linePtr = this.m.ctrl(C.LINE_PTR);
    const lines = [];
    for (let line = 0; line < this.m.ctrl(C.LINE_COUNT); line++) lines.push({ line, remainder: u64[(linePtr + line * LINE.SIZE + LINE.REM) >> 3]! });
    const acctPtr = this.m.ctrl(C.ACCT_PTR);
    const accounts = [];
    for (let account = 0; account < this.m.ctrl(C.ACCT_COUNT); account++) {
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
    for (let slot = 0; slot < this.m.ctrl(C.SLOT_COUNT); slot++) {
      const sp = this.slotAddr(slot);
      u32[(sp + SLOT.FLAGS) >> 2] &= ~(F_BASELINE | F_HELD);
    }
    for (const st of state.slots) {
      if (this.widthOf(st.slot) === undefined || !st.hasBaseline) continue;
      const sp = this.slotAddr(st.slot);
      u32[(sp + SLOT.FLAGS) >> 2] = F_CONFIGURED | F_BASELINE | (st.heldRaw !== null ? F_HELD : 0);
      u64[(sp + SLOT.LAST) >> 3] = st.lastRaw;
      i64[(sp + SLOT.LASTTS) >> 3] = BigInt(st.lastTsMs);
      u64[(sp + SLOT.HELD) >> 3] = st.heldRaw ?? 0n;
      i64[(sp + SLOT.HELDTS) >> 3] = BigInt(st.heldRaw !== null ? st.heldTsMs : 0);
    }
    const linePtr = this.m.ctrl(C.LINE_PTR);
    const lineCount = this.m.ctrl(C.LINE_COUNT);
    for (let line = 0; line < lineCount; line++) u64[(linePtr + line * LINE.SIZE + LINE.REM) >> 3] = 0n;
    for (const st of state.lines) if (st.line < lineCount) u64[(linePtr + st.line * LINE.SIZE + LINE.REM) >> 3] = st.remainder;
    const acctPtr = this.m.ctrl(C.ACCT_PTR);
    for (let account = 0; account < this.m.ctrl(C.ACCT_COUNT); account++) {
      const ap = acctPtr + account * ACCT.SIZE;
      u64[(ap + ACCT.UNSETTLED) >> 3] = 0n;
      u8.fill(0, ap + ACCT.OVER, ap + ACCT.OVER + 4);
    }
    for (const st of state.accounts) {
      const ap = acctPtr + st.account * ACCT.SIZE;
      u64[(ap + ACCT.UNSETTLED) >> 3] = st.unsettledNano;
      u32[(ap + ACCT.OVER) >> 2] = st.overLimit ? 1 : 0;
    }
  }
}
