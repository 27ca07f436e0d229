/**
 * The aggregation rules: what deltas and accruals add to the totals per
 * (device, point, account, payee), to the hourly aggregates of the same, and
 * to the accrued amount per channel. Used by the store to fold a batch's
 * deltas and accruals into usage (batchUsage), by the metering service for
 * what it commits, and by `verifyLedger` when replaying v1 bodies, so all
 * agree by construction.
 *
 * Rules:
 *  - Every accrual adds (qtyMicro, amountNano) under (device, point, account, payee).
 *  - A delta with no accrual of the same (device, point) inside its
 *    [fromMs, toMs] in the same batch is untariffed: it adds (qtyMicro, 0)
 *    under (device, point, delta.account, payee '').
 *  - Hour attribution: an accrual/delta covers (fromMs, toMs]; it counts in
 *    the UTC hour holding its last millisecond, toMs − 1 (toMs itself when
 *    fromMs == toMs). So consumption ending exactly on the hour stays in the
 *    hour it happened in, and time-of-use segments split at an hour boundary
 *    land on both sides of it.
 */

import type { LedgerUsage } from './store';

export const HOUR_MS = 3_600_000;

export interface AggregateKey {
  device: string;
  point: string;
  account: string;
  payee: string;
}

export interface TotalPart extends AggregateKey {
  quantityMicro: bigint;
  amountNano: bigint;
}

export interface HourlyPart extends TotalPart {
  hourMs: number;
}

export interface ChannelPart {
  channel: string;
  payer: string;
  payee: string;
  accruedNano: bigint;
}

export interface BatchAggregates {
  totals: Map<string, TotalPart>;
  hourly: Map<string, HourlyPart>;
  channels: Map<string, ChannelPart>;
}

interface Spanned {
  device: string;
  point: string;
  fromMs: number;
  toMs: number;
}

interface DeltaLike extends Spanned {
  account: string;
  qtyMicro: bigint;
}

interface AccrualLike extends Spanned {
  account: string;
  payee: string;
  channel: string;
  qtyMicro: bigint;
  amountNano: bigint;
}

const SEP = '\u0000';

export function totalKey(k: AggregateKey): string {
  return k.device + SEP + k.point + SEP + k.account + SEP + k.payee;
}

export function hourlyKey(k: AggregateKey, hourMs: number): string {
  return totalKey(k) + SEP + hourMs;
}

/** Start of the UTC hour an interval (fromMs, toMs] is counted in. */
export function hourOf(fromMs: number, toMs: number): number {
  const t = toMs > fromMs ? toMs - 1 : toMs;
  return Math.floor(t / HOUR_MS) * HOUR_MS;
}

/** The hour-aligned window a totals query actually covers: from rounded down, to rounded up. */
export function hourWindow(fromMs?: number, toMs?: number): { fromMs: number | null; toMs: number | null } {
  return {
    fromMs: fromMs === undefined ? null : Math.floor(fromMs / HOUR_MS) * HOUR_MS,
    toMs: toMs === undefined ? null : Math.ceil(toMs / HOUR_MS) * HOUR_MS,
  };
}

/** The channel id of a payer -> payee pair. */
export function channelId(payer: string, payee: string): string {
  return `${payer}>${payee}`;
}

/** Split a channel id at its first '>'; null when it has none. */
export function parseChannel(channel: string): { payer: string; payee: string } | null {
  const i = channel.indexOf('>');
  if (i <= 0 || i === channel.length - 1) return null;
  return { payer: channel.slice(0, i), payee: channel.slice(i + 1) };
}

function add(into: BatchAggregates, k: AggregateKey, qty: bigint, amount: bigint, hourMs: number): void {
  const tk = totalKey(k);
  const t = into.totals.get(tk);
  if (t) {
    t.quantityMicro += qty;
    t.amountNano += amount;
  } else {
    into.totals.set(tk, { device: k.device, point: k.point, account: k.account, payee: k.payee, quantityMicro: qty, amountNano: amount });
  }
  const hk = tk + SEP + hourMs;
  const h = into.hourly.get(hk);
  if (h) {
    h.quantityMicro += qty;
    h.amountNano += amount;
  } else {
    into.hourly.set(hk, {
      device: k.device,
      point: k.point,
      account: k.account,
      payee: k.payee,
      hourMs,
      quantityMicro: qty,
      amountNano: amount,
    });
  }
}

export function emptyAggregates(): BatchAggregates {
  return { totals: new Map(), hourly: new Map(), channels: new Map() };
}

/** Add one batch's deltas and accruals to `into` (a fresh one by default). */
export function aggregateBatch(
  deltas: readonly DeltaLike[],
  accruals: readonly AccrualLike[],
  into: BatchAggregates = emptyAggregates(),
): BatchAggregates {
  const spans = new Map<string, Spanned[]>();
  for (const a of accruals) {
    add(into, a, a.qtyMicro, a.amountNano, hourOf(a.fromMs, a.toMs));
    const c = into.channels.get(a.channel);
    if (c) c.accruedNano += a.amountNano;
    else into.channels.set(a.channel, { channel: a.channel, payer: a.account, payee: a.payee, accruedNano: a.amountNano });
    const sk = a.device + SEP + a.point;
    const list = spans.get(sk);
    if (list) list.push(a);
    else spans.set(sk, [a]);
  }
  for (const d of deltas) {
    const list = spans.get(d.device + SEP + d.point);
    const tariffed = list !== undefined && list.some((a) => a.fromMs >= d.fromMs && a.toMs <= d.toMs);
    if (tariffed) continue;
    add(into, { device: d.device, point: d.point, account: d.account, payee: '' }, d.qtyMicro, 0n, hourOf(d.fromMs, d.toMs));
  }
  return into;
}

/** A batch's usage: its `usage` as given, then its deltas and accruals folded by the rules above. */
export function batchUsage(b: {
  usage?: readonly LedgerUsage[];
  deltas?: readonly DeltaLike[];
  accruals?: readonly AccrualLike[];
}): LedgerUsage[] {
  const out: LedgerUsage[] = b.usage ? [...b.usage] : [];
  if ((b.deltas?.length ?? 0) > 0 || (b.accruals?.length ?? 0) > 0) {
    for (const h of aggregateBatch(b.deltas ?? [], b.accruals ?? []).hourly.values()) out.push(h);
  }
  return out;
}
