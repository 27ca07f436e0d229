/** Batch builders shared by the ledger tests (names, not core indices). */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { LedgerAccrual, LedgerBatch, LedgerDelta, LedgerEvent, LedgerState, LedgerUsage } from '../../gateway/ledger/store';

export const HOUR = 3_600_000;
/** 2025-01-06T10:00:00Z, hour-aligned, safely before the wall clock. */
export const T0 = Date.UTC(2025, 0, 6, 10, 0, 0);
export const I64_MAX = 2n ** 63n - 1n;
export const U64_MAX = 2n ** 64n - 1n;

export function emptyState(): LedgerState {
  return { slots: [], lines: [], accounts: [] };
}

export function batch(atMs: number, parts: Partial<LedgerBatch> = {}): LedgerBatch {
  return {
    atMs,
    policyVersion: 0,
    deltas: [],
    accruals: [],
    events: [],
    state: emptyState(),
    ...parts,
  };
}

export function usage(
  device: string,
  point: string,
  account: string,
  payee: string,
  hourMs: number,
  quantityMicro: bigint,
  amountNano: bigint,
): LedgerUsage {
  return { device, point, account, payee, hourMs, quantityMicro, amountNano };
}

export function delta(device: string, point: string, account: string, qtyMicro: bigint, fromMs: number, toMs: number): LedgerDelta {
  return { device, point, account, qtyMicro, fromMs, toMs };
}

export function accrual(
  device: string,
  point: string,
  account: string,
  payee: string,
  qtyMicro: bigint,
  amountNano: bigint,
  fromMs: number,
  toMs: number,
  priceNano = 1_000_000_000n,
): LedgerAccrual {
  return { device, point, account, payee, channel: `${account}>${payee}`, qtyMicro, amountNano, priceNano, fromMs, toMs, policyVersion: 1 };
}

export function event(kind: string, tsMs: number, more: Partial<LedgerEvent> = {}): LedgerEvent {
  return { kind, tsMs, detail: {}, ...more };
}

/**
 * One metered reading of a tariffed counter: its delta, one flat accrual, the
 * slot, line and account state after it.
 */
export function meterBatch(
  n: number,
  opts: { device?: string; point?: string; account?: string; payee?: string; qty?: bigint; amount?: bigint; t0?: number } = {},
): LedgerBatch {
  const device = opts.device ?? 'purifier-1';
  const point = opts.point ?? 'water';
  const account = opts.account ?? device;
  const payee = opts.payee ?? 'waterworks';
  const qty = opts.qty ?? 1_500_000n;
  const amount = opts.amount ?? 30_000_000n;
  const t0 = opts.t0 ?? T0;
  const toMs = t0 + n * 60_000;
  const fromMs = toMs - 60_000;
  return batch(toMs + 10, {
    policyVersion: 1,
    metered: { readings: 1, deltas: 1, accruals: 1 },
    deltas: [delta(device, point, account, qty, fromMs, toMs)],
    accruals: [accrual(device, point, account, payee, qty, amount, fromMs, toMs)],
    state: {
      slots: [{ device, point, hasBaseline: true, lastRaw: BigInt(n * 15), lastTsMs: toMs, heldRaw: null, heldTsMs: 0 }],
      lines: [{ device, point, account, payee, remainder: BigInt(n) }],
      accounts: [{ account, unsettledNano: amount * BigInt(n), overLimit: false }],
    },
  });
}

export function tmpDir(prefix = 'm2m-ledger-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export function rmDir(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
}
