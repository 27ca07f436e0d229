/** Shared helpers for the core-*.test.ts suites: both cores, policy builders, Oslo time-of-use bands. */
import { ReferenceCore } from '../../gateway/core/reference';
import type { MeteringCore, PolicyTables, PriceSegment, SlotConfig, TariffLine } from '../../gateway/core/types';
import { loadWasmCore } from '../../gateway/core/wasm-core';

export type CoreFactory = () => MeteringCore;
export const CORES: [string, CoreFactory][] = [
  ['ReferenceCore', () => new ReferenceCore()],
  ['WasmCore', () => loadWasmCore()],
];

export const L = 1_000_000n; // one unit in micro-units
export const NOK = 1_000_000_000n; // one currency unit in nano

export function slot(slot: number, widthBits: SlotConfig['widthBits'], microPerCount = L, maxRateMicroPerS = 0n): SlotConfig {
  return { slot, widthBits, microPerCount, maxRateMicroPerS };
}

/** One channel per account given, line i on channel lines[i].channel. */
export function policy(
  version: number,
  lines: Omit<TariffLine, 'line'>[],
  accounts: number[] = [0],
  creditLimits: PolicyTables['creditLimits'] = [],
): PolicyTables {
  return {
    version,
    lines: lines.map((l, i) => ({ line: i, ...l })),
    channels: accounts.map((account, channel) => ({ channel, account })),
    creditLimits,
  };
}

export function flatLine(slot: number, priceNano: bigint, channel = 0): Omit<TariffLine, 'line'> {
  return { slot, channel, priceNano, segments: [] };
}

// ---- Europe/Oslo, 2026: CET (UTC+1), CEST (UTC+2) from 2026-03-29T01:00Z to 2026-10-25T01:00Z ----
export const DST_START_2026 = Date.UTC(2026, 2, 29, 1);
export const DST_END_2026 = Date.UTC(2026, 9, 25, 1);
const HOUR = 3_600_000;

export function osloOffsetMs(utcMs: number): number {
  return utcMs >= DST_START_2026 && utcMs < DST_END_2026 ? 2 * HOUR : HOUR;
}

/** UTC ms of a local Oslo wall-clock time (first occurrence when the hour repeats). */
export function osloToUtc(y: number, m: number, d: number, h: number, min = 0): number {
  const local = Date.UTC(y, m - 1, d, h, min);
  const summer = local - 2 * HOUR;
  return osloOffsetMs(summer) === 2 * HOUR ? summer : local - HOUR;
}

/** A daily local band [from, to) on consecutive days, as sorted UTC segments (empty ones left out). */
export function osloBands(
  y: number,
  m: number,
  firstDay: number,
  days: number,
  fromH: number,
  toH: number,
  priceNano: bigint,
): PriceSegment[] {
  const out: PriceSegment[] = [];
  for (let i = 0; i < days; i++) {
    const day = new Date(Date.UTC(y, m - 1, firstDay + i));
    const [yy, mm, dd] = [day.getUTCFullYear(), day.getUTCMonth() + 1, day.getUTCDate()];
    const band = { fromMs: osloToUtc(yy, mm, dd, fromH), toMs: osloToUtc(yy, mm, dd, toH), priceNano };
    if (band.toMs > band.fromMs) out.push(band); // a band inside the skipped spring hour does not exist
  }
  return out;
}
