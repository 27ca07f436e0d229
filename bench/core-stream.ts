/**
 * The benchmark's workload, generated deterministically (mulberry32): a stream
 * of counter readings over `slotCount` slots of all widths (16-bit ones roll
 * over, 32-bit ones start anywhere), every slot priced by a flat line, every tenth also by a time-of-use
 * line, 100 payer accounts, some with credit limits. Columns only: the stream
 * is 10M records.
 */
import type { CounterWidth, PolicyTables, PriceSegment, SlotConfig, TariffLine } from '../gateway/core/types';

export interface BenchStream {
  n: number;
  slotCount: number;
  slots: Uint32Array;
  /** Raw counter values as the WASM core takes them (u64 bits). */
  raws: BigInt64Array;
  /** The same values as Numbers (exact: they stay below 2^53), for the naive Number core. */
  rawsNum: Float64Array;
  ts: Float64Array;
  configs: SlotConfig[];
  tables: PolicyTables;
}

export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const WIDTHS: CounterWidth[] = [16, 32, 64, 0];
const MPC = [1_000n, 1_000_000n, 10n, 1n];
export const T0 = Date.UTC(2026, 9, 25, 0); // the night of the Oslo DST change
const ACCOUNTS = 100;

export function slotConfigs(slotCount: number): SlotConfig[] {
  return Array.from({ length: slotCount }, (_, slot) => ({
    slot,
    widthBits: WIDTHS[slot % 4]!,
    microPerCount: MPC[slot % 4]!,
    maxRateMicroPerS: slot % 4 === 1 ? 1_000_000_000_000n : 0n, // a generous limit: checked, never hit
  }));
}

export function benchPolicy(slotCount: number): PolicyTables {
  const lines: TariffLine[] = [];
  const segments: PriceSegment[] = [];
  for (let k = 0; k < 24; k++)
    segments.push({ fromMs: T0 + k * 1_800_000, toMs: T0 + k * 1_800_000 + 900_000, priceNano: 20_000_000n + BigInt(k) });
  for (let slot = 0; slot < slotCount; slot++) {
    lines.push({ line: lines.length, slot, channel: slot % ACCOUNTS, priceNano: 12_000_000n, segments: [] });
    if (slot % 10 === 0) lines.push({ line: lines.length, slot, channel: (slot + 1) % ACCOUNTS, priceNano: 8_000_000n, segments });
  }
  return {
    version: 1,
    lines,
    channels: Array.from({ length: ACCOUNTS }, (_, channel) => ({ channel, account: channel })),
    creditLimits: Array.from({ length: 10 }, (_, i) => ({ account: i * 10, limitNano: 10n ** 15n, rearmNano: 10n ** 14n })),
  };
}

export function makeStream(n: number, slotCount: number, seed = 42): BenchStream {
  const rnd = mulberry32(seed);
  const cur = new Float64Array(slotCount);
  const mod = new Float64Array(slotCount); // 16- and 32-bit counters wrap; the others start high and never do
  for (let s = 0; s < slotCount; s++) {
    const w = WIDTHS[s % 4]!;
    mod[s] = w === 16 || w === 32 ? 2 ** w : Infinity;
    cur[s] = Math.floor(rnd() * (w === 16 ? 2 ** 16 : w === 32 ? 2 ** 32 : 2 ** 40));
  }
  const slots = new Uint32Array(n);
  const raws = new BigInt64Array(n);
  const rawsNum = new Float64Array(n);
  const ts = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const s = Math.floor(rnd() * slotCount);
    let v = cur[s]! + Math.floor(rnd() * 200);
    if (v >= mod[s]!) v -= mod[s]!;
    cur[s] = v;
    slots[i] = s;
    raws[i] = BigInt(v);
    rawsNum[i] = v;
    ts[i] = T0 + i; // one reading per ms overall: every slot's time increases
  }
  return { n, slotCount, slots, raws, rawsNum, ts, configs: slotConfigs(slotCount), tables: benchPolicy(slotCount) };
}
