/**
 * Input checks shared by both core implementations, so that ReferenceCore and
 * WasmCore accept and reject exactly the same calls. Semantics (what a
 * reading does) live in each implementation; this file only decides what is
 * well-formed and normalises it (sorted copies, dense index checks).
 */
import { CoreConfigError, CorePolicyError, CoreSettleError, CoreStateError } from './errors';
import type { CoreEventKind, CoreState, CounterWidth, CreditLimit, PolicyTables, SlotConfig, TariffLine } from './types';

export const I64_MAX = (1n << 63n) - 1n;
export const U64_MAX = (1n << 64n) - 1n;
/** amount = qty_micro × price_nano / MICRO */
export const MICRO = 1_000_000n;
/** Upper bounds on dense indexes (memory guard: 2^22 slots × 64 bytes = 256 MiB). */
export const MAX_SLOTS = 1 << 22;
export const MAX_LINES = 1 << 22;
export const MAX_CHANNELS = 1 << 22;
export const MAX_ACCOUNTS = 1 << 22;
export const MAX_SEGMENTS = 1 << 24;
/** Tariff lines pricing one slot. */
export const MAX_LINES_PER_SLOT = 65_535;

/** Event kinds by the numeric code the WASM core writes (assembly/layout.ts EV_*). */
export const EVENT_KINDS: readonly CoreEventKind[] = [
  'baseline',
  'rollover',
  'reset',
  'held',
  'confirmed',
  'ignored',
  'overflow',
  'unknown-slot',
  'credit-over',
  'credit-under',
];

const WIDTHS: readonly number[] = [0, 16, 32, 64];

const isIndex = (v: unknown, max: number): v is number => Number.isInteger(v) && (v as number) >= 0 && (v as number) < max;
const isU63 = (v: unknown): v is bigint => typeof v === 'bigint' && v >= 0n && v <= I64_MAX;

/** A timestamp the core accepts: an integer number of ms (safe integer). */
export function isTimestamp(v: unknown): v is number {
  return Number.isSafeInteger(v);
}

/** Whether a raw value is a possible register value for the width (width 0: micro-units, 0..2^63-1). */
export function rawFitsWidth(raw: unknown, width: CounterWidth): raw is bigint {
  if (typeof raw !== 'bigint' || raw < 0n) return false;
  if (width === 0) return raw <= I64_MAX;
  return raw < 1n << BigInt(width);
}

/** Validated copies of slot configs, sorted by slot. */
export function checkSlotConfigs(slots: SlotConfig[]): SlotConfig[] {
  if (!Array.isArray(slots)) throw new CoreConfigError('slots: expected an array');
  const seen = new Set<number>();
  const out = slots.map((s, i) => {
    const at = `slots[${i}]`;
    if (s === null || typeof s !== 'object') throw new CoreConfigError(`${at}: expected an object`);
    if (!isIndex(s.slot, MAX_SLOTS)) throw new CoreConfigError(`${at}.slot: expected an integer 0..${MAX_SLOTS - 1}`);
    if (seen.has(s.slot)) throw new CoreConfigError(`${at}.slot: slot ${s.slot} configured twice`);
    seen.add(s.slot);
    if (!WIDTHS.includes(s.widthBits)) throw new CoreConfigError(`${at}.widthBits: expected one of 0, 16, 32, 64`);
    if (!isU63(s.microPerCount)) throw new CoreConfigError(`${at}.microPerCount: expected a bigint 0..2^63-1`);
    if (!isU63(s.maxRateMicroPerS)) throw new CoreConfigError(`${at}.maxRateMicroPerS: expected a bigint 0..2^63-1`);
    return { slot: s.slot, widthBits: s.widthBits, microPerCount: s.microPerCount, maxRateMicroPerS: s.maxRateMicroPerS };
  });
  return out.sort((a, b) => a.slot - b.slot);
}

/** Policy tables in index order, checked; what both cores install. */
export interface CheckedPolicyTables {
  version: number;
  /** lines[i].line === i; segments copied. */
  lines: TariffLine[];
  /** Payer account of each channel, by channel index. */
  channelAccounts: number[];
  /** 1 + the largest account index referenced (channels and limits). */
  accountCount: number;
  limits: Map<number, CreditLimit>;
}

function denseOrder<T>(items: T[], indexOf: (t: T) => unknown, what: string, max: number): T[] {
  if (!Array.isArray(items)) throw new CorePolicyError(`${what}: expected an array`);
  if (items.length > max) throw new CorePolicyError(`${what}: more than ${max} entries`);
  const out: T[] = new Array<T>(items.length);
  items.forEach((it, i) => {
    if (it === null || typeof it !== 'object') throw new CorePolicyError(`${what}[${i}]: expected an object`);
    const idx = indexOf(it);
    if (!isIndex(idx, items.length)) {
      throw new CorePolicyError(`${what}[${i}]: index ${String(idx)} is not dense (expected 0..${items.length - 1})`);
    }
    if (out[idx] !== undefined) throw new CorePolicyError(`${what}[${i}]: index ${idx} used twice`);
    out[idx] = it;
  });
  return out;
}

export function checkPolicyTables(t: PolicyTables): CheckedPolicyTables {
  if (t === null || typeof t !== 'object') throw new CorePolicyError('policy: expected an object');
  if (!Number.isSafeInteger(t.version)) throw new CorePolicyError('version: expected an integer');
  const channels = denseOrder(t.channels, (c) => c.channel, 'channels', MAX_CHANNELS);
  const channelAccounts = channels.map((c) => {
    if (!isIndex(c.account, MAX_ACCOUNTS))
      throw new CorePolicyError(`channels[${c.channel}].account: expected an integer 0..${MAX_ACCOUNTS - 1}`);
    return c.account;
  });
  let segmentTotal = 0;
  const lines = denseOrder(t.lines, (l) => l.line, 'lines', MAX_LINES).map((l) => {
    const at = `lines[${l.line}]`;
    if (!isIndex(l.slot, MAX_SLOTS)) throw new CorePolicyError(`${at}.slot: expected an integer 0..${MAX_SLOTS - 1}`);
    if (!isIndex(l.channel, channels.length)) throw new CorePolicyError(`${at}.channel: no channel ${String(l.channel)}`);
    if (!isU63(l.priceNano)) throw new CorePolicyError(`${at}.priceNano: expected a bigint 0..2^63-1`);
    const segs = l.segments ?? [];
    if (!Array.isArray(segs)) throw new CorePolicyError(`${at}.segments: expected an array`);
    segmentTotal += segs.length;
    if (segmentTotal > MAX_SEGMENTS) throw new CorePolicyError(`segments: more than ${MAX_SEGMENTS} in total`);
    let prevTo = -Infinity;
    const segments = segs.map((s, k) => {
      const sat = `${at}.segments[${k}]`;
      if (s === null || typeof s !== 'object') throw new CorePolicyError(`${sat}: expected an object`);
      if (!isTimestamp(s.fromMs) || !isTimestamp(s.toMs) || s.fromMs >= s.toMs) {
        throw new CorePolicyError(`${sat}: expected integer fromMs < toMs`);
      }
      if (s.fromMs < prevTo) throw new CorePolicyError(`${sat}: segments must be sorted and not overlap`);
      prevTo = s.toMs;
      if (!isU63(s.priceNano)) throw new CorePolicyError(`${sat}.priceNano: expected a bigint 0..2^63-1`);
      return { fromMs: s.fromMs, toMs: s.toMs, priceNano: s.priceNano };
    });
    return { line: l.line, slot: l.slot, channel: l.channel, priceNano: l.priceNano, segments };
  });
  const perSlot = new Map<number, number>();
  for (const l of lines) {
    const n = (perSlot.get(l.slot) ?? 0) + 1;
    if (n > MAX_LINES_PER_SLOT) throw new CorePolicyError(`lines: slot ${l.slot} is priced by more than ${MAX_LINES_PER_SLOT} lines`);
    perSlot.set(l.slot, n);
  }
  if (!Array.isArray(t.creditLimits)) throw new CorePolicyError('creditLimits: expected an array');
  const limits = new Map<number, CreditLimit>();
  t.creditLimits.forEach((c, i) => {
    const at = `creditLimits[${i}]`;
    if (c === null || typeof c !== 'object') throw new CorePolicyError(`${at}: expected an object`);
    if (!isIndex(c.account, MAX_ACCOUNTS)) throw new CorePolicyError(`${at}.account: expected an integer 0..${MAX_ACCOUNTS - 1}`);
    if (limits.has(c.account)) throw new CorePolicyError(`${at}.account: account ${c.account} has two limits`);
    if (!isU63(c.limitNano)) throw new CorePolicyError(`${at}.limitNano: expected a bigint 0..2^63-1`);
    if (!isU63(c.rearmNano) || c.rearmNano > c.limitNano) throw new CorePolicyError(`${at}.rearmNano: expected a bigint 0..limitNano`);
    limits.set(c.account, { account: c.account, limitNano: c.limitNano, rearmNano: c.rearmNano });
  });
  let accountCount = 0;
  for (const a of channelAccounts) accountCount = Math.max(accountCount, a + 1);
  for (const a of limits.keys()) accountCount = Math.max(accountCount, a + 1);
  return { version: t.version, lines, channelAccounts, accountCount, limits };
}

/**
 * Checks a CoreState for restore(). `widthOf` gives the width of configured slots
 * (undefined: not configured; such entries are skipped by restore, but still checked for shape).
 */
export function checkState(state: CoreState, widthOf: (slot: number) => CounterWidth | undefined): void {
  if (state === null || typeof state !== 'object') throw new CoreStateError('state: expected an object');
  for (const key of ['slots', 'lines', 'accounts'] as const) {
    if (!Array.isArray(state[key])) throw new CoreStateError(`state.${key}: expected an array`);
  }
  const seen = new Set<number>();
  state.slots.forEach((s, i) => {
    const at = `slots[${i}]`;
    if (s === null || typeof s !== 'object' || !isIndex(s.slot, MAX_SLOTS)) throw new CoreStateError(`${at}.slot: expected a slot index`);
    if (seen.has(s.slot)) throw new CoreStateError(`${at}.slot: slot ${s.slot} given twice`);
    seen.add(s.slot);
    if (typeof s.hasBaseline !== 'boolean') throw new CoreStateError(`${at}.hasBaseline: expected a boolean`);
    const width = widthOf(s.slot) ?? 64;
    if (!s.hasBaseline) {
      if (s.heldRaw !== null) throw new CoreStateError(`${at}.heldRaw: a slot without baseline holds nothing`);
      return;
    }
    if (!rawFitsWidth(s.lastRaw, width)) throw new CoreStateError(`${at}.lastRaw: not a ${width}-bit counter value`);
    if (!isTimestamp(s.lastTsMs)) throw new CoreStateError(`${at}.lastTsMs: expected an integer`);
    if (s.heldRaw !== null) {
      if (!rawFitsWidth(s.heldRaw, width)) throw new CoreStateError(`${at}.heldRaw: not a ${width}-bit counter value`);
      if (!isTimestamp(s.heldTsMs) || s.heldTsMs <= s.lastTsMs)
        throw new CoreStateError(`${at}.heldTsMs: expected an integer after lastTsMs`);
    }
  });
  const seenLines = new Set<number>();
  state.lines.forEach((l, i) => {
    if (l === null || typeof l !== 'object' || !isIndex(l.line, MAX_LINES))
      throw new CoreStateError(`lines[${i}].line: expected a line index`);
    if (seenLines.has(l.line)) throw new CoreStateError(`lines[${i}].line: line ${l.line} given twice`);
    seenLines.add(l.line);
    if (typeof l.remainder !== 'bigint' || l.remainder < 0n || l.remainder >= MICRO) {
      throw new CoreStateError(`lines[${i}].remainder: expected a bigint 0..999999`);
    }
  });
  const seenAccounts = new Set<number>();
  state.accounts.forEach((a, i) => {
    if (a === null || typeof a !== 'object' || !isIndex(a.account, MAX_ACCOUNTS))
      throw new CoreStateError(`accounts[${i}].account: expected an account index`);
    if (seenAccounts.has(a.account)) throw new CoreStateError(`accounts[${i}].account: account ${a.account} given twice`);
    seenAccounts.add(a.account);
    if (!isU63(a.unsettledNano)) throw new CoreStateError(`accounts[${i}].unsettledNano: expected a bigint 0..2^63-1`);
    if (typeof a.overLimit !== 'boolean') throw new CoreStateError(`accounts[${i}].overLimit: expected a boolean`);
  });
}

/** Checks a settle() call against the account's current unsettled amount (undefined: no such account). */
export function checkSettle(account: number, amountNano: bigint, unsettled: bigint | undefined): void {
  if (unsettled === undefined) throw new CoreSettleError(`settle: no account ${String(account)}`);
  if (typeof amountNano !== 'bigint' || amountNano < 0n) throw new CoreSettleError('settle: amount must be a bigint >= 0');
  if (amountNano > unsettled) {
    throw new CoreSettleError(`settle: amount ${amountNano} exceeds the unsettled ${unsettled} of account ${account}`);
  }
}
