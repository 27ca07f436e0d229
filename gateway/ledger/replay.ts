/**
 * Replay of chained batch bodies into the tables they must have produced,
 * and the comparison against what the database holds. Used by verify.ts.
 * Aggregation rules are shared with the store (aggregate.ts).
 */
import type Database from 'better-sqlite3';
import { type BatchAggregates, aggregateBatch, emptyAggregates, parseChannel, totalKey } from './aggregate';
import type { BodyContent } from './hash-chain';

const SEP = '\u0000';

interface Row {
  value: string;
  /** The batch that wrote the row, when the table records it. */
  seq?: number;
}

interface ChannelReplay {
  payer: string;
  payee: string;
  accrued: bigint;
  vouchered: bigint;
  lastSeq: number;
}

export class LedgerReplay {
  readonly agg: BatchAggregates = emptyAggregates();
  readonly channels = new Map<string, ChannelReplay>();
  readonly vouchers = new Map<string, Row>();
  readonly policies = new Map<string, Row>();
  readonly slots = new Map<string, Row>();
  readonly lines = new Map<string, Row>();
  readonly accounts = new Map<string, Row>();
  private lastPolicy = 0;

  private channel(id: string, payer: string, payee: string): ChannelReplay {
    let c = this.channels.get(id);
    if (!c) this.channels.set(id, (c = { payer, payee, accrued: 0n, vouchered: 0n, lastSeq: 0 }));
    return c;
  }

  /** Apply one batch, in chain order, the way SqliteLedger.write does. Throws on a rule the store enforces. */
  apply(seq: number, b: BodyContent): void {
    const batchAgg = aggregateBatch(b.deltas, b.accruals);
    aggregateBatch(b.deltas, b.accruals, this.agg);
    for (const c of batchAgg.channels.values()) this.channel(c.channel, c.payer, c.payee).accrued += c.accruedNano;
    for (const s of b.state.slots) {
      const held = s.heldRaw === null ? 'null' : s.heldRaw.toString();
      this.slots.set(s.device + SEP + s.point, {
        value: [s.hasBaseline ? 1 : 0, s.lastRaw, s.lastTsMs, held, s.heldTsMs, seq].join('|'),
        seq,
      });
    }
    for (const l of b.state.lines) {
      this.lines.set([l.device, l.point, l.account, l.payee].join(SEP), { value: [l.remainder, seq].join('|'), seq });
    }
    for (const a of b.state.accounts) {
      this.accounts.set(a.account, { value: [a.unsettledNano, a.overLimit ? 1 : 0, seq].join('|'), seq });
    }
    for (const v of b.vouchers) {
      const parts = parseChannel(v.channel);
      if (!parts) throw new Error(`voucher channel ${JSON.stringify(v.channel)} is not "payer>payee"`);
      const c = this.channel(v.channel, parts.payer, parts.payee);
      if (v.seq <= c.lastSeq || v.amountNano < c.vouchered) throw new Error(`voucher ${v.channel}#${v.seq} does not advance its channel`);
      c.lastSeq = v.seq;
      c.vouchered = v.amountNano;
      this.vouchers.set(v.channel + SEP + v.seq, { value: [v.amountNano, v.json, v.issuedAtMs, seq].join('|'), seq });
    }
    if (b.policy) {
      if (b.policy.version <= this.lastPolicy) throw new Error(`policy version ${b.policy.version} does not increase`);
      this.lastPolicy = b.policy.version;
      this.policies.set(String(b.policy.version), { value: [b.policy.hash, b.policy.flowsJson, b.atMs, seq].join('|'), seq });
    }
  }

  expectedTotals(): Map<string, Row> {
    const m = new Map<string, Row>();
    for (const [k, t] of this.agg.totals) m.set(k, { value: `${t.quantityMicro}|${t.amountNano}` });
    return m;
  }

  expectedHourly(): Map<string, Row> {
    const m = new Map<string, Row>();
    for (const [k, h] of this.agg.hourly) m.set(k, { value: `${h.quantityMicro}|${h.amountNano}` });
    return m;
  }

  expectedChannels(): Map<string, Row> {
    const m = new Map<string, Row>();
    for (const [k, c] of this.channels) m.set(k, { value: [c.payer, c.payee, c.accrued, c.vouchered, c.lastSeq].join('|') });
    return m;
  }
}

interface TableSpec {
  table: string;
  sql: string;
  key: (r: Record<string, unknown>) => string;
  value: (r: Record<string, unknown>) => string;
  expected: (r: LedgerReplay) => Map<string, Row>;
}

const j = (...v: unknown[]): string => v.map((x) => (x === null ? 'null' : String(x))).join('|');

const TABLES: TableSpec[] = [
  {
    table: 'totals',
    sql: 'SELECT * FROM totals',
    key: (r) => totalKey(r as never),
    value: (r) => j(r.quantity_micro, r.amount_nano),
    expected: (r) => r.expectedTotals(),
  },
  {
    table: 'hourly',
    sql: 'SELECT * FROM hourly',
    key: (r) => totalKey(r as never) + SEP + String(r.hour_ms),
    value: (r) => j(r.quantity_micro, r.amount_nano),
    expected: (r) => r.expectedHourly(),
  },
  {
    table: 'channels',
    sql: 'SELECT * FROM channels',
    key: (r) => String(r.channel),
    value: (r) => j(r.payer, r.payee, r.accrued_nano, r.vouchered_nano, r.last_seq),
    expected: (r) => r.expectedChannels(),
  },
  {
    table: 'vouchers',
    sql: 'SELECT * FROM vouchers',
    key: (r) => String(r.channel) + SEP + String(r.seq),
    value: (r) => j(r.amount_nano, r.json, r.issued_at_ms, r.batch_seq),
    expected: (r) => r.vouchers,
  },
  {
    table: 'policies',
    sql: 'SELECT * FROM policies',
    key: (r) => String(r.version),
    value: (r) => j(r.hash, r.flows_json, r.at_ms, r.batch_seq),
    expected: (r) => r.policies,
  },
  {
    table: 'slot_state',
    sql: 'SELECT * FROM slot_state',
    key: (r) => String(r.device) + SEP + String(r.point),
    value: (r) => j(r.has_baseline, r.last_raw, r.last_ts_ms, r.held_raw, r.held_ts_ms, r.batch_seq),
    expected: (r) => r.slots,
  },
  {
    table: 'line_state',
    sql: 'SELECT * FROM line_state',
    key: (r) => [r.device, r.point, r.account, r.payee].join(SEP),
    value: (r) => j(r.remainder, r.batch_seq),
    expected: (r) => r.lines,
  },
  {
    table: 'account_state',
    sql: 'SELECT * FROM account_state',
    key: (r) => String(r.account),
    value: (r) => j(r.unsettled_nano, r.over_limit, r.batch_seq),
    expected: (r) => r.accounts,
  },
];

const printable = (key: string): string => key.split(SEP).join(', ');

/** The first table row that differs from the replay, or null when every table matches. */
export function compareTables(db: Database.Database, replay: LedgerReplay): { reason: string; seq?: number } | null {
  for (const spec of TABLES) {
    const want = spec.expected(replay);
    const seen = new Set<string>();
    for (const row of db.prepare(spec.sql).iterate() as Iterable<Record<string, unknown>>) {
      const k = spec.key(row);
      seen.add(k);
      const w = want.get(k);
      if (!w) return { reason: `${spec.table} row (${printable(k)}) is not in the chain` };
      if (w.value !== spec.value(row)) return { reason: `${spec.table} row (${printable(k)}) differs from the chain`, seq: w.seq };
    }
    for (const [k, w] of want) {
      if (!seen.has(k)) return { reason: `${spec.table} row (${printable(k)}) is missing`, seq: w.seq };
    }
  }
  return null;
}
