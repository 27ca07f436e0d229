/**
 * fast-check arbitraries for the core property tests: slot configs, policy
 * tables (flat, random time-of-use segments, Oslo bands around the 2026 DST
 * changes) and reading streams built from counter "moves" (increments, wraps,
 * resets, jumps, duplicates, out-of-order and invalid values).
 */
import fc from 'fast-check';
import type { CounterWidth, PolicyTables, PriceSegment, Reading, SlotConfig, TariffLine } from '../../gateway/core/types';
import { DST_END_2026, DST_START_2026, osloBands } from './core-fixtures';

export const I64_MAX = (1n << 63n) - 1n;
const DAY = 86_400_000;

export const widthArb = fc.constantFrom<CounterWidth>(0, 16, 32, 64);
export const mpcArb = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(1n, 1_000n, 1_000_000n, 100_000n) },
  { weight: 2, arbitrary: fc.bigInt(0n, 1n << 24n) },
  { weight: 1, arbitrary: fc.constantFrom(10n ** 15n, I64_MAX) },
);
export const priceArb = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(0n, 1n, 3n, 12_000_000n, 999_999n, 1_000_001n) },
  { weight: 3, arbitrary: fc.bigInt(0n, 10n ** 12n) },
  { weight: 1, arbitrary: fc.constantFrom(10n ** 15n, I64_MAX / 1000n, I64_MAX) },
);

export function slotsArb(maxSlots = 6): fc.Arbitrary<SlotConfig[]> {
  return fc.uniqueArray(fc.nat(maxSlots - 1), { minLength: Math.min(3, maxSlots), maxLength: maxSlots }).chain((idx) =>
    fc.tuple(
      ...idx.map((slot) =>
        fc.record({
          slot: fc.constant(slot),
          widthBits: widthArb,
          microPerCount: mpcArb,
          maxRateMicroPerS: fc.oneof({ weight: 3, arbitrary: fc.constant(0n) }, { weight: 2, arbitrary: fc.bigInt(1n, 10n ** 10n) }),
        }),
      ),
    ),
  );
}

/** Where the time-of-use tests live: two days around each 2026 Oslo DST change. */
export const EPOCHS = [DST_START_2026 - 2 * DAY, DST_END_2026 - 2 * DAY];

function randomSegments(epoch: number): fc.Arbitrary<PriceSegment[]> {
  return fc.uniqueArray(fc.integer({ min: 0, max: 4 * DAY }), { minLength: 0, maxLength: 8 }).chain((points) => {
    const sorted = [...points].sort((a, b) => a - b);
    const pairs: [number, number][] = [];
    for (let i = 0; i + 1 < sorted.length; i += 2) pairs.push([sorted[i]!, sorted[i + 1]!]);
    return fc.tuple(...pairs.map(([a, b]) => priceArb.map((priceNano) => ({ fromMs: epoch + a, toMs: epoch + b, priceNano }))));
  });
}

function osloSegments(): fc.Arbitrary<PriceSegment[]> {
  return fc
    .record({ autumn: fc.boolean(), band: fc.constantFrom<[number, number]>([7, 22], [0, 6], [1, 4], [2, 3]), price: priceArb })
    .map(({ autumn, band, price }) =>
      autumn ? osloBands(2026, 10, 23, 5, band[0], band[1], price) : osloBands(2026, 3, 27, 5, band[0], band[1], price),
    );
}

export function segmentsArb(): fc.Arbitrary<PriceSegment[]> {
  return fc.oneof(
    { weight: 3, arbitrary: fc.constant<PriceSegment[]>([]) },
    { weight: 2, arbitrary: fc.constantFrom(...EPOCHS).chain(randomSegments) },
    { weight: 2, arbitrary: osloSegments() },
  );
}

/** Policy tables with at least `minLines` lines / `minAccounts` accounts (so a later policy may grow them). */
export function policyArb(maxSlot: number, version: number, minLines = 0, minAccounts = 1): fc.Arbitrary<PolicyTables> {
  return fc
    .record({
      accounts: fc.array(fc.nat(4), { minLength: Math.max(1, minAccounts), maxLength: 4 }),
      lineCount: fc.integer({ min: minLines, max: minLines + 4 }),
      limits: fc.array(
        fc.record({
          account: fc.nat(4),
          limit: fc.oneof(fc.bigInt(0n, 10n ** 7n), fc.bigInt(0n, 10n ** 13n)),
          rearmFrac: fc.integer({ min: 0, max: 100 }),
        }),
        { maxLength: 3 },
      ),
    })
    .chain(({ accounts, lineCount, limits }) => {
      const line = fc.record({ slot: fc.nat(maxSlot), channel: fc.nat(accounts.length - 1), priceNano: priceArb, segments: segmentsArb() });
      return fc.array(line, { minLength: lineCount, maxLength: lineCount }).map((lines): PolicyTables => {
        const seen = new Set<number>();
        return {
          version,
          lines: lines.map((l, i): TariffLine => ({ line: i, ...l })),
          channels: accounts.map((account, channel) => ({ channel, account })),
          creditLimits: limits
            .filter((l) => !seen.has(l.account) && seen.add(l.account))
            .map((l) => ({ account: l.account, limitNano: l.limit, rearmNano: (l.limit * BigInt(l.rearmFrac)) / 100n })),
        };
      });
    });
}

export type MoveKind = 'inc' | 'big' | 'wrap' | 'reset' | 'jump' | 'same' | 'random' | 'invalid';
export interface Move {
  slot: number;
  kind: MoveKind;
  mag: bigint;
  dt: number;
}

/** Moves mostly on `slots` (the configured ones), sometimes on any slot up to maxSlot + 3. */
export function moveArb(maxSlot: number, slots: number[] = []): fc.Arbitrary<Move> {
  const known = slots.length > 0 ? [{ weight: 12, arbitrary: fc.constantFrom(...slots) }] : [];
  return fc.record({
    slot: fc.oneof(...known, { weight: 2, arbitrary: fc.nat(maxSlot + 3) }),
    kind: fc.constantFrom<MoveKind>('inc', 'inc', 'inc', 'big', 'wrap', 'reset', 'jump', 'same', 'random', 'invalid'),
    mag: fc.oneof({ weight: 4, arbitrary: fc.bigInt(0n, 2_000n) }, { weight: 1, arbitrary: fc.bigInt(0n, 1n << 64n) }),
    dt: fc.oneof(
      { weight: 8, arbitrary: fc.integer({ min: 1, max: 3_600_000 }) },
      { weight: 1, arbitrary: fc.integer({ min: -5_000, max: 0 }) },
      { weight: 1, arbitrary: fc.integer({ min: 1, max: 3 * DAY }) },
    ),
  });
}

/** Turns moves into readings, simulating each slot's true counter (width from `widthOf`, 64 if unknown). */
export class StreamBuilder {
  private readonly cur = new Map<number, bigint>();
  private readonly ts = new Map<number, number>();

  constructor(
    private readonly epoch: number,
    private readonly widthOf: (slot: number) => CounterWidth,
  ) {}

  reading(m: Move): Reading {
    const w = this.widthOf(m.slot);
    const mod = w === 0 ? 1n << 63n : 1n << BigInt(w);
    const cur = this.cur.get(m.slot) ?? m.mag % mod;
    let raw: bigint;
    switch (m.kind) {
      case 'inc':
        raw = (cur + (m.mag % 2_001n)) % mod;
        break;
      case 'big':
        raw = (cur + (m.mag % (mod / 4n))) % mod;
        break;
      case 'wrap':
        raw = (mod - 1n - (m.mag % 50n) + (cur % 3n)) % mod;
        break;
      case 'reset':
        raw = m.mag % 1_000n;
        break;
      case 'jump':
        raw = (cur + mod / 3n + (m.mag % 1000n)) % mod;
        break;
      case 'same':
        raw = cur;
        break;
      case 'random':
        raw = m.mag % mod;
        break;
      case 'invalid':
        raw = m.mag % 2n === 0n ? -1n - (m.mag % 10n) : mod + (m.mag % 10n);
        break;
    }
    if (m.kind !== 'invalid') this.cur.set(m.slot, raw);
    const last = this.ts.get(m.slot) ?? this.epoch;
    const tsMs = last + m.dt;
    if (tsMs > last) this.ts.set(m.slot, tsMs);
    return { slot: m.slot, raw, tsMs };
  }
}
