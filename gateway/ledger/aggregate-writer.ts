/**
 * Writes the never-pruned aggregates (totals, hourly buckets, channels) in
 * the commit transaction, as read-modify-write in JS bigint (TEXT columns,
 * see schema.ts).
 *
 * A read-through cache of the current rows saves the SELECT half of each
 * read-modify-write. It is only trusted while the ledger head is the one it
 * was filled at: `begin` (inside the write transaction) drops it when
 * another connection has committed since, and the rows a transaction writes
 * join the cache only after that transaction committed (`committed`), so a
 * rolled-back batch leaves no trace in it.
 */
import { parseChannel } from './batch-aggregates';
import type { BatchAggregates } from './batch-aggregates';
import { LedgerVoucherError } from './errors';
import type { AmountRow, ChannelDbRow, Statements } from './sqlite-statements';
import type { LedgerVoucher } from './store';

interface Amount {
  q: bigint;
  a: bigint;
}

interface Channel {
  payer: string;
  payee: string;
  accrued: bigint;
  vouchered: bigint;
  lastSeq: number;
}

/** Cache entries kept at most (per map); beyond, the cache restarts empty and refills from the database. */
const MAX_CACHED = 50_000;

const SEP = '\u0000';

export class AggregateWriter {
  private cachedAtSeq = -1;
  private totals = new Map<string, Amount>();
  private hourly = new Map<string, Amount>();
  private channels = new Map<string, Channel>();
  private pendingTotals = new Map<string, Amount>();
  private pendingHourly = new Map<string, Amount>();
  private pendingChannels = new Map<string, Channel>();

  constructor(private readonly st: Statements) {}

  /** Start a transaction at head `seq` (call inside it). */
  begin(headSeq: number): void {
    if (headSeq !== this.cachedAtSeq) this.clear();
    this.pendingTotals = new Map();
    this.pendingHourly = new Map();
    this.pendingChannels = new Map();
  }

  /** The transaction that began at the cached head committed as `seq`. */
  committed(seq: number): void {
    for (const [k, v] of this.pendingTotals) this.totals.set(k, v);
    for (const [k, v] of this.pendingHourly) this.hourly.set(k, v);
    for (const [k, v] of this.pendingChannels) this.channels.set(k, v);
    this.pendingTotals = new Map();
    this.pendingHourly = new Map();
    this.pendingChannels = new Map();
    this.cachedAtSeq = seq;
    if (this.hourly.size > MAX_CACHED || this.totals.size > MAX_CACHED || this.channels.size > MAX_CACHED) this.clear();
  }

  clear(): void {
    this.totals.clear();
    this.hourly.clear();
    this.channels.clear();
    this.cachedAtSeq = -1;
  }

  write(agg: BatchAggregates): void {
    const st = this.st;
    const totals: unknown[] = [];
    for (const t of agg.totals.values()) {
      const k = t.device + SEP + t.point + SEP + t.account + SEP + t.payee;
      let old = this.pendingTotals.get(k) ?? this.totals.get(k);
      if (!old) old = amount(st.getTotal.get(t.device, t.point, t.account, t.payee) as AmountRow | undefined);
      const now = { q: old.q + t.quantityMicro, a: old.a + t.amountNano };
      totals.push(t.device, t.point, t.account, t.payee, now.q.toString(), now.a.toString());
      this.pendingTotals.set(k, now);
    }
    st.putTotals.run(totals);
    const hourly: unknown[] = [];
    for (const h of agg.hourly.values()) {
      const k = h.device + SEP + h.point + SEP + h.account + SEP + h.payee + SEP + h.hourMs;
      let old = this.pendingHourly.get(k) ?? this.hourly.get(k);
      if (!old) old = amount(st.getHourly.get(h.device, h.point, h.account, h.payee, h.hourMs) as AmountRow | undefined);
      const now = { q: old.q + h.quantityMicro, a: old.a + h.amountNano };
      hourly.push(h.device, h.point, h.account, h.payee, h.hourMs, now.q.toString(), now.a.toString());
      this.pendingHourly.set(k, now);
    }
    st.putHourly.run(hourly);
    for (const c of agg.channels.values()) {
      const old = this.channel(c.channel) ?? { payer: c.payer, payee: c.payee, accrued: 0n, vouchered: 0n, lastSeq: 0 };
      this.putChannel(c.channel, { ...old, accrued: old.accrued + c.accruedNano });
    }
  }

  /** Record a voucher: seq must increase and the amount must not decrease on its channel. */
  voucher(v: LedgerVoucher, batchSeq: number): void {
    const parts = parseChannel(v.channel)!;
    const old = this.channel(v.channel) ?? { payer: parts.payer, payee: parts.payee, accrued: 0n, vouchered: 0n, lastSeq: 0 };
    if (v.seq <= old.lastSeq) throw new LedgerVoucherError(`voucher seq ${v.seq} on ${v.channel} is not above the last seq ${old.lastSeq}`);
    if (v.amountNano < old.vouchered) {
      throw new LedgerVoucherError(`voucher amount ${v.amountNano} on ${v.channel} is below the vouchered ${old.vouchered}`);
    }
    this.putChannel(v.channel, { ...old, vouchered: v.amountNano, lastSeq: v.seq });
    this.st.insertVoucher.run(v.channel, v.seq, v.amountNano.toString(), v.json, v.issuedAtMs, batchSeq);
  }

  private channel(id: string): Channel | undefined {
    const hit = this.pendingChannels.get(id) ?? this.channels.get(id);
    if (hit) return hit;
    const r = this.st.getChannel.get(id) as ChannelDbRow | undefined;
    return r
      ? { payer: r.payer, payee: r.payee, accrued: BigInt(r.accrued_nano), vouchered: BigInt(r.vouchered_nano), lastSeq: r.last_seq }
      : undefined;
  }

  private putChannel(id: string, c: Channel): void {
    this.st.putChannel.run(id, c.payer, c.payee, c.accrued.toString(), c.vouchered.toString(), c.lastSeq);
    this.pendingChannels.set(id, c);
  }
}

function amount(r: AmountRow | undefined): Amount {
  return r ? { q: BigInt(r.quantity_micro), a: BigInt(r.amount_nano) } : { q: 0n, a: 0n };
}
