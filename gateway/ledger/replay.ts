/**
 * Replay of chained batch bodies into the tables they must have produced,
 * and the comparison against what the database holds. Used by verify.ts.
 * Aggregation rules are shared with the store (aggregate.ts).
 *
 * Tables keyed by a small key space (totals, channels, state, policies) are
 * replayed into maps and compared row by row. The two that grow with time
 * (hourly buckets, vouchers) are compared by fingerprints per key (per
 * (device, point, account, payee), per channel), so verifying years of
 * ledger needs memory for the keys, not for every hour: a bucket's
 * fingerprint is linear in its amounts (Σ w·quantity + w'·amount mod the
 * prime 2^127−1, with weights w, w' from sha256(nonce ‖ hour key)), so the
 * contributions replayed batch by batch fingerprint the same as the sums
 * the table holds; vouchers are a sum of row hashes. The nonce is random
 * per run, so no edit can be made to collide in advance.
 */
import { createHash, randomBytes } from 'node:crypto';
import type Database from 'better-sqlite3';
import { type TotalPart, aggregateBatch, parseChannel, totalKey } from './batch-aggregates';
import type { BodyContent } from './hash-chain';

const SEP = '\u0000';
const P = (1n << 127n) - 1n;

/** Per-group fingerprints of a multiset of rows (see the file comment). */
export class Fingerprints {
  private readonly sums = new Map<string, bigint>();

  constructor(private readonly nonce: Buffer) {}

  private weights(item: string): [bigint, bigint] {
    const d = createHash('sha256').update(this.nonce).update(item, 'utf8').digest('hex');
    return [BigInt(`0x${d.slice(0, 32)}`), BigInt(`0x${d.slice(32)}`)];
  }

  private add(group: string, x: bigint): void {
    this.sums.set(group, ((((this.sums.get(group) ?? 0n) + x) % P) + P) % P);
  }

  /** A summable (quantity, amount) pair of `item` (several additions = one of their sums). */
  addAmounts(group: string, item: string, q: bigint, a: bigint): void {
    const [w1, w2] = this.weights(item);
    this.add(group, w1 * q + w2 * a);
  }

  /** One whole row. */
  addRow(group: string, row: string): void {
    this.add(group, this.weights(row)[0]);
  }

  /** The first group (sorted) whose fingerprint differs, or null. */
  firstDifference(other: Fingerprints): string | null {
    const groups = [...new Set([...this.sums.keys(), ...other.sums.keys()])].sort();
    return groups.find((g) => (this.sums.get(g) ?? 0n) !== (other.sums.get(g) ?? 0n)) ?? null;
  }
}

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
  readonly nonce = randomBytes(16);
  readonly totals = new Map<string, TotalPart>();
  readonly hourly = new Fingerprints(this.nonce);
  readonly channels = new Map<string, ChannelReplay>();
  readonly vouchers = new Fingerprints(this.nonce);
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
    for (const [k, t] of batchAgg.totals) {
      const old = this.totals.get(k);
      if (old) {
        old.quantityMicro += t.quantityMicro;
        old.amountNano += t.amountNano;
      } else this.totals.set(k, { ...t });
    }
    for (const h of batchAgg.hourly.values()) {
      const k = totalKey(h);
      this.hourly.addAmounts(k, k + SEP + h.hourMs, h.quantityMicro, h.amountNano);
    }
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
      this.vouchers.addRow(v.channel, voucherRow(v.channel, v.seq, v.amountNano, v.json, v.issuedAtMs, seq));
    }
    if (b.policy) {
      if (b.policy.version <= this.lastPolicy) throw new Error(`policy version ${b.policy.version} does not increase`);
      this.lastPolicy = b.policy.version;
      this.policies.set(String(b.policy.version), { value: [b.policy.hash, b.policy.flowsJson, b.atMs, seq].join('|'), seq });
    }
  }

  expectedTotals(): Map<string, Row> {
    const m = new Map<string, Row>();
    for (const [k, t] of this.totals) m.set(k, { value: `${t.quantityMicro}|${t.amountNano}` });
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
    table: 'channels',
    sql: 'SELECT * FROM channels',
    key: (r) => String(r.channel),
    value: (r) => j(r.payer, r.payee, r.accrued_nano, r.vouchered_nano, r.last_seq),
    expected: (r) => r.expectedChannels(),
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

function voucherRow(channel: unknown, seq: unknown, amount: unknown, json: unknown, issuedAtMs: unknown, batchSeq: unknown): string {
  return [channel, seq, amount, json, issuedAtMs, batchSeq].map(String).join(SEP);
}

/** Fingerprint the hourly and vouchers tables as the replay fingerprinted the chain. */
function compareGrowing(db: Database.Database, replay: LedgerReplay): { reason: string } | null {
  const hourly = new Fingerprints(replay.nonce);
  for (const r of db.prepare('SELECT * FROM hourly').iterate() as Iterable<Record<string, unknown>>) {
    const k = totalKey(r as never);
    let q: bigint;
    let a: bigint;
    try {
      q = BigInt(r.quantity_micro as string);
      a = BigInt(r.amount_nano as string);
    } catch {
      return { reason: `hourly row (${printable(k)}, ${String(r.hour_ms)}) holds a value that is not an integer` };
    }
    hourly.addAmounts(k, k + SEP + String(r.hour_ms), q, a);
  }
  const badKey = replay.hourly.firstDifference(hourly);
  if (badKey !== null) return { reason: `hourly buckets of (${printable(badKey)}) differ from the chain` };
  const vouchers = new Fingerprints(replay.nonce);
  for (const r of db.prepare('SELECT * FROM vouchers').iterate() as Iterable<Record<string, unknown>>) {
    vouchers.addRow(String(r.channel), voucherRow(r.channel, r.seq, r.amount_nano, r.json, r.issued_at_ms, r.batch_seq));
  }
  const badChannel = replay.vouchers.firstDifference(vouchers);
  if (badChannel !== null) return { reason: `vouchers of ${badChannel} differ from the chain` };
  return null;
}

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
  return compareGrowing(db, replay);
}
