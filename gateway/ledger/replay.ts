/**
 * Replay of the chained bodies into what the tables must hold, and the
 * comparison against the database. Used by verify.ts (docs/ledger.md, "Verify").
 *
 * What the chain proves, and how:
 *  - lines: every row was declared by a body (id and names); its closed
 *    totals equal what the bodies closed into it (v1 bodies: their deltas and
 *    accruals, by the rules of batch-aggregates.ts);
 *  - hours: the closed hours equal the bodies' closed entries (compared by
 *    fingerprints per line, so years of hours need memory for the lines, not
 *    for every hour: a bucket's fingerprint is linear in its amounts,
 *    Σ w·quantity + w'·amount mod 2^127−1 with weights from
 *    sha256(nonce ‖ hour key), the nonce random per run);
 *  - channels: closed accrued, vouchered amount and last seq; vouchers (a sum
 *    of row hashes per channel) and policies: as the bodies say;
 *  - alarm_state: the fold of every chained alarm event;
 *  - the open hours and the core state: the device and account rows hash to
 *    the digests the head commit recorded;
 *  - totals: Σ (closed totals + open hours) over all lines equals Σ of what
 *    every body says it accrued.
 */
import { createHash, randomBytes } from 'node:crypto';
import type Database from 'better-sqlite3';
import { foldAlarmEvent } from './alarm-state';
import { type TotalPart, aggregateBatch, parseChannel, totalKey } from './batch-aggregates';
import type { BodyV1Content } from './body-v1';
import { DeviceState } from './device-state';
import type { CommitContent } from './hash-chain';
import { tableDigests } from './state-digest';
import type { LedgerAlarm, LedgerEvent, LedgerVoucher } from './store';

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

interface ChannelReplay {
  payer: string;
  payee: string;
  accrued: bigint;
  vouchered: bigint;
  lastSeq: number;
}

interface Declared {
  device: string;
  point: string;
  account: string;
  payee: string;
}

export class LedgerReplay {
  readonly nonce = randomBytes(16);
  /** Closed totals per line name key. */
  readonly totals = new Map<string, TotalPart>();
  /** The latest closed hour per line name key. */
  readonly lastHour = new Map<string, number>();
  readonly hourly = new Fingerprints(this.nonce);
  readonly channels = new Map<string, ChannelReplay>();
  readonly vouchers = new Fingerprints(this.nonce);
  readonly policies = new Map<number, string>();
  readonly lines = new Map<number, Declared>();
  private readonly lineKeys = new Set<string>();
  readonly alarms = new Map<string, LedgerAlarm>();
  /** Σ of what every body accrued (all lines, untariffed quantities included). */
  accruedQty = 0n;
  accruedNano = 0n;
  /** The state digests of the last v2 body. */
  headState: { accounts: string; devices: string } | null = null;
  private lastPolicy = 0;

  private channel(id: string, payer: string, payee: string): ChannelReplay {
    let c = this.channels.get(id);
    if (!c) this.channels.set(id, (c = { payer, payee, accrued: 0n, vouchered: 0n, lastSeq: 0 }));
    return c;
  }

  private closeInto(k: TotalPart & { hourMs: number }): void {
    const key = totalKey(k);
    const t = this.totals.get(key);
    if (t) {
      t.quantityMicro += k.quantityMicro;
      t.amountNano += k.amountNano;
    } else
      this.totals.set(key, {
        device: k.device,
        point: k.point,
        account: k.account,
        payee: k.payee,
        quantityMicro: k.quantityMicro,
        amountNano: k.amountNano,
      });
    this.hourly.addAmounts(key, key + SEP + k.hourMs, k.quantityMicro, k.amountNano);
    if (k.hourMs > (this.lastHour.get(key) ?? -Infinity)) this.lastHour.set(key, k.hourMs);
    if (k.payee !== '') this.channel(`${k.account}>${k.payee}`, k.account, k.payee).accrued += k.amountNano;
  }

  private common(
    seq: number,
    atMs: number,
    events: readonly LedgerEvent[],
    vouchers: readonly LedgerVoucher[],
    policy: { version: number; hash: string; flowsJson: string } | null,
  ): void {
    for (const e of events) foldAlarmEvent(this.alarms, e);
    for (const v of vouchers) {
      const parts = parseChannel(v.channel);
      if (!parts) throw new Error(`voucher channel ${JSON.stringify(v.channel)} is not "payer>payee"`);
      const c = this.channel(v.channel, parts.payer, parts.payee);
      if (v.seq <= c.lastSeq || v.amountNano < c.vouchered) throw new Error(`voucher ${v.channel}#${v.seq} does not advance its channel`);
      c.lastSeq = v.seq;
      c.vouchered = v.amountNano;
      this.vouchers.addRow(v.channel, voucherRow(v.channel, v.seq, v.amountNano, v.issuedAtMs, seq));
    }
    if (policy) {
      if (policy.version <= this.lastPolicy) throw new Error(`policy version ${policy.version} does not increase`);
      this.lastPolicy = policy.version;
      this.policies.set(policy.version, [policy.hash, policy.flowsJson, atMs, seq].join('|'));
    }
  }

  /** A v1 batch (a migrated ledger's history): its deltas and accruals are closed totals and hours. */
  applyV1(seq: number, b: BodyV1Content): void {
    if (this.headState) throw new Error('a v1 batch after the migration');
    const agg = aggregateBatch(b.deltas, b.accruals);
    for (const h of agg.hourly.values()) {
      this.closeInto(h);
      this.accruedQty += h.quantityMicro;
      this.accruedNano += h.amountNano;
    }
    this.common(seq, b.atMs, b.events, b.vouchers, b.policy);
  }

  applyV2(seq: number, b: CommitContent): void {
    for (const l of b.lines) {
      const key = totalKey(l);
      if (!Number.isSafeInteger(l.id) || this.lines.has(l.id) || this.lineKeys.has(key)) throw new Error(`line ${l.id} is declared twice`);
      this.lines.set(l.id, { device: l.device, point: l.point, account: l.account, payee: l.payee });
      this.lineKeys.add(key);
    }
    for (const c of b.closed) {
      const l = this.lines.get(c.lineId);
      if (!l) throw new Error(`closes an hour of undeclared line ${c.lineId}`);
      this.closeInto({ ...l, hourMs: c.hourMs, quantityMicro: c.quantityMicro, amountNano: c.amountNano });
    }
    this.accruedQty += b.accruedQtyMicro;
    this.accruedNano += b.accruedNano;
    this.common(seq, b.atMs, b.events, b.vouchers, b.policy);
    this.headState = b.state;
  }
}

/** A vouchers row as compared with the chain; its signed JSON is only in the (hashed) body. */
function voucherRow(channel: unknown, seq: unknown, amount: unknown, issuedAtMs: unknown, batchSeq: unknown): string {
  return [channel, seq, amount, issuedAtMs, batchSeq].map(String).join(SEP);
}

const printable = (key: string): string => key.split(SEP).join(', ');
const j = (...v: unknown[]): string => v.map((x) => (x === null ? 'null' : String(x))).join('|');

type Row = Record<string, unknown>;
type Diff = { reason: string } | null;

function compareLines(db: Database.Database, r: LedgerReplay): Diff {
  const seen = new Set<number>();
  for (const row of db.prepare('SELECT * FROM lines').iterate() as Iterable<Row>) {
    const id = Number(row.id);
    const d = r.lines.get(id);
    const key = totalKey(row as never);
    if (!d || totalKey(d) !== key) return { reason: `lines row ${id} (${printable(key)}) is not declared in the chain` };
    seen.add(id);
    const t = r.totals.get(key);
    if (j(row.quantity_micro, row.amount_nano) !== j(t?.quantityMicro ?? 0n, t?.amountNano ?? 0n))
      return { reason: `totals of line (${printable(key)}) differ from the chain` };
    if (j(row.last_hour_ms) !== j(r.lastHour.get(key) ?? null))
      return { reason: `the latest closed hour of line (${printable(key)}) differs from the chain` };
  }
  for (const [id, d] of r.lines) if (!seen.has(id)) return { reason: `line ${id} (${printable(totalKey(d))}) is missing` };
  const hours = new Fingerprints(r.nonce);
  for (const row of db
    .prepare(
      'SELECT h.hour_ms, h.quantity_micro, h.amount_nano, l.device, l.point, l.account, l.payee FROM hours h LEFT JOIN lines l ON l.id = h.line_id',
    )
    .iterate() as Iterable<Row>) {
    if (row.device === null) return { reason: `an hours row (${String(row.hour_ms)}) belongs to no line` };
    const k = totalKey(row as never);
    let q: bigint;
    let a: bigint;
    try {
      q = BigInt(row.quantity_micro as string);
      a = BigInt(row.amount_nano as string);
    } catch {
      return { reason: `hours row (${printable(k)}, ${String(row.hour_ms)}) holds a value that is not an integer` };
    }
    hours.addAmounts(k, k + SEP + String(row.hour_ms), q, a);
  }
  const bad = r.hourly.firstDifference(hours);
  return bad === null ? null : { reason: `hourly aggregates of (${printable(bad)}) differ from the chain` };
}

function compareRows(db: Database.Database, r: LedgerReplay): Diff {
  const seenCh = new Set<string>();
  for (const row of db.prepare('SELECT * FROM channels').iterate() as Iterable<Row>) {
    const id = String(row.channel);
    const c = r.channels.get(id);
    if (!c) return { reason: `channels row (${id}) is not in the chain` };
    seenCh.add(id);
    if (
      j(row.payer, row.payee, row.accrued_nano, row.vouchered_nano, row.last_seq) !== j(c.payer, c.payee, c.accrued, c.vouchered, c.lastSeq)
    ) {
      return { reason: `channels row (${id}) differs from the chain` };
    }
  }
  for (const id of r.channels.keys()) if (!seenCh.has(id)) return { reason: `channels row (${id}) is missing` };
  const vouchers = new Fingerprints(r.nonce);
  for (const v of db.prepare('SELECT * FROM vouchers').iterate() as Iterable<Row>) {
    vouchers.addRow(String(v.channel), voucherRow(v.channel, v.seq, v.amount_nano, v.issued_at_ms, v.batch_seq));
  }
  const badCh = r.vouchers.firstDifference(vouchers);
  if (badCh !== null) return { reason: `vouchers of ${badCh} differ from the chain` };
  const seenP = new Set<number>();
  for (const p of db.prepare('SELECT * FROM policies').iterate() as Iterable<Row>) {
    const want = r.policies.get(Number(p.version));
    if (want === undefined) return { reason: `policies row (${String(p.version)}) is not in the chain` };
    if (want !== [p.hash, p.flows_json, p.at_ms, p.batch_seq].join('|'))
      return { reason: `policies row (${String(p.version)}) differs from the chain` };
    seenP.add(Number(p.version));
  }
  for (const v of r.policies.keys()) if (!seenP.has(v)) return { reason: `policies row (${v}) is missing` };
  const alarms = (db.prepare('SELECT policy, device, point, since_ms FROM alarm_state ORDER BY policy, device').all() as Row[]).map((a) =>
    j(a.policy, a.device, a.point, a.since_ms),
  );
  const want = [...r.alarms.values()]
    .sort((x, y) => (x.policy + SEP + x.device < y.policy + SEP + y.device ? -1 : 1))
    .map((a) => j(a.policy, a.device, a.point, a.sinceMs));
  if (alarms.sort().join('\n') !== want.sort().join('\n')) return { reason: "alarm_state differs from the chain's alarm events" };
  return null;
}

/** The head's state rows hash to the head commit's digests, and the open hours complete the totals. */
function compareState(db: Database.Database, r: LedgerReplay): Diff {
  if (!r.headState) return r.lines.size === 0 ? null : { reason: 'the chain has no commit recording the state' };
  const now = tableDigests(db);
  if (now.devices !== r.headState.devices) return { reason: 'device state differs from the digest of the head commit' };
  if (now.accounts !== r.headState.accounts) return { reason: 'account state differs from the digest of the head commit' };
  let q = 0n;
  let a = 0n;
  for (const t of r.totals.values()) {
    q += t.quantityMicro;
    a += t.amountNano;
  }
  type DeviceRow = { device: string; layout: string; data: Buffer };
  for (const row of db
    .prepare('SELECT l.device, l.layout, s.data FROM device_layout l JOIN device_state s ON s.id = l.id')
    .iterate() as Iterable<DeviceRow>) {
    let d: DeviceState;
    try {
      d = DeviceState.decode(row.device, row.layout, row.data);
    } catch (err) {
      return { reason: `device state of ${row.device} cannot be decoded: ${(err as Error).message}` };
    }
    for (const [id, open] of d.open) {
      const l = r.lines.get(id);
      if (!l || l.device !== row.device)
        return { reason: `device state of ${row.device} has an open hour on line ${id}, not one of its lines` };
      if (open) {
        q += open.quantityMicro;
        a += open.amountNano;
      }
    }
  }
  if (q !== r.accruedQty || a !== r.accruedNano) {
    return {
      reason: `totals (closed hours + open hours: ${q} µ, ${a} nano) differ from what the chain accrued (${r.accruedQty} µ, ${r.accruedNano} nano)`,
    };
  }
  return null;
}

/** The first table row that differs from the replay, or null when every table matches. */
export function compareTables(db: Database.Database, replay: LedgerReplay): Diff {
  return compareLines(db, replay) ?? compareRows(db, replay) ?? compareState(db, replay);
}
