/**
 * The payee's side of settlement (docs/settlement.md, "Payees collect"): the
 * durable store of `m2m-gateway collect`, `<dataDir>/collect.db` (SQLite,
 * WAL). Every voucher offered to it (pulled from a gateway, received over
 * MQTT, or from a sibling collector) is verified:
 *
 *  - the voucher itself (fields, signature: settle/voucher-check.ts), for a
 *    payee this collector collects for;
 *  - the payer key: pinned in the config, else pinned by the first voucher
 *    of that payer (kept in the store);
 *  - per channel, against every voucher already held (kept or pending): one
 *    seq holds one voucher (a second, different one is a `double-issue`,
 *    refused and recorded), and amounts follow seqs (never lower than an
 *    earlier seq's, never higher than a later one's).
 *
 * Receivables advance along a contiguous chain only (seq +1, docs/
 * settlement.md "Gaps"): the first voucher of a channel this store ever sees
 * is its base and is kept; after that a voucher with seq = top + 1 is kept
 * (and any pending ones it joins up with follow it), one below the top fills
 * history, and one further ahead is held **pending** (verified and persisted,
 * but not counted) until the seqs in between arrive — from a sibling
 * collector, a gateway pull or the broker. Pending vouchers are bounded per
 * channel (`maxPending`): when full, a lower seq displaces the highest one
 * and a higher one is refused. `gaps()` lists the open gaps, `flagGaps()`
 * records a `seq-gap` event for one open longer than a given time.
 *
 * Receivables are the top of the kept chain per channel.
 */
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { formatMoney, parseDecimal, MONEY_FRAC } from '../base/decimal';
import { touchPrivateFile, ensurePrivateDir } from '../base/private-files';
import { checkVoucher } from './voucher-check';
import type { SignedVoucher } from './voucher';

export const COLLECT_FILE = 'collect.db';

export interface Receivable {
  channel: string;
  payer: string;
  payee: string;
  seq: number;
  amount: string;
  currency: string;
  receivedAt: string;
}

export interface CollectEvent {
  id: number;
  kind: string;
  at: string;
  channel: string | null;
  data: Record<string, unknown>;
}

/** Pending vouchers per channel at most (the default of `maxPending`). */
export const MAX_PENDING_PER_CHANNEL = 1000;
/** Events kept (double-issue, voucher-refused, seq-gap): the oldest go beyond this many, so a payer signing conflicts cannot fill the disk. */
export const MAX_EVENTS = 100_000;

/** A channel whose chain stops at `after` while later vouchers wait. */
export interface SeqGap {
  channel: string;
  /** The top of the kept chain (the receivable's seq) and its issuedAt. */
  after: number;
  afterIssuedAt: string;
  /** The lowest pending seq: seqs after < s < next are missing. */
  next: number;
  /** The highest pending seq: every seq after < s < last not pending is missing too. */
  last: number;
  pending: number;
  /** When the oldest pending voucher arrived (epoch ms). */
  sinceMs: number;
}

export type Offered =
  /** Kept; `joined` pending vouchers followed it onto the chain. */
  | { status: 'accepted'; voucher: SignedVoucher; joined: number }
  /** Verified and kept pending: the seqs after `after` and before `next` are missing. */
  | { status: 'held'; voucher: SignedVoucher; after: number; next: number }
  | { status: 'duplicate'; voucher: SignedVoucher }
  | { status: 'refused'; field: string; reason: string }
  | { status: 'double-issue'; reason: string };

const BETWEEN = 'channel = @channel AND seq > @after AND seq < @before';
const COLUMNS =
  '(channel, seq, payer, payee, amount_nano, currency, sig, json, received_at_ms, source) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)';

interface Row {
  channel: string;
  seq: number;
  amount_nano: string;
  currency: string;
  sig: string;
  json: string;
  received_at_ms: number;
}

export class CollectorStore {
  private readonly db: Database.Database;

  private readonly maxPending: number;
  private readonly maxEvents: number;

  constructor(
    dataDir: string,
    private readonly payees: ReadonlySet<string>,
    private readonly pinned: Readonly<Record<string, string>>,
    opts: { maxPending?: number; maxEvents?: number } = {},
  ) {
    this.maxPending = Math.max(1, opts.maxPending ?? MAX_PENDING_PER_CHANNEL);
    this.maxEvents = Math.max(1, opts.maxEvents ?? MAX_EVENTS);
    ensurePrivateDir(dataDir);
    const file = path.join(dataDir, COLLECT_FILE);
    if (!fs.existsSync(file)) touchPrivateFile(file);
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('busy_timeout = 5000');
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS vouchers (channel TEXT NOT NULL, seq INTEGER NOT NULL, payer TEXT NOT NULL, payee TEXT NOT NULL,
        amount_nano TEXT NOT NULL, currency TEXT NOT NULL, sig TEXT NOT NULL, json TEXT NOT NULL, received_at_ms INTEGER NOT NULL, source TEXT NOT NULL,
        PRIMARY KEY (channel, seq)) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS pending (channel TEXT NOT NULL, seq INTEGER NOT NULL, payer TEXT NOT NULL, payee TEXT NOT NULL,
        amount_nano TEXT NOT NULL, currency TEXT NOT NULL, sig TEXT NOT NULL, json TEXT NOT NULL, received_at_ms INTEGER NOT NULL, source TEXT NOT NULL,
        PRIMARY KEY (channel, seq)) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS gap_flags (channel TEXT PRIMARY KEY, after INTEGER NOT NULL) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS payer_keys (payer TEXT PRIMARY KEY, key TEXT NOT NULL, pinned_at_ms INTEGER NOT NULL) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS events (id INTEGER PRIMARY KEY, kind TEXT NOT NULL, at_ms INTEGER NOT NULL, channel TEXT, detail TEXT NOT NULL);
    `);
  }

  /** Verify a voucher and keep it when it is new and consistent. */
  offer(value: unknown, source: string, nowMs = Date.now()): Offered {
    const r = checkVoucher(value);
    if (!r.ok) return { status: 'refused', field: r.field, reason: r.reason };
    const v = r.voucher;
    if (!this.payees.has(v.payee)) return { status: 'refused', field: 'payee', reason: `payee: ${v.payee} is not collected here` };
    return this.db.transaction((): Offered => {
      const key =
        this.pinned[v.payer] ??
        (this.db.prepare('SELECT key FROM payer_keys WHERE payer = ?').get(v.payer) as { key: string } | undefined)?.key;
      if (key === undefined)
        this.db.prepare('INSERT INTO payer_keys (payer, key, pinned_at_ms) VALUES (?, ?, ?)').run(v.payer, v.payerKey, nowMs);
      else if (key !== v.payerKey) return this.refuse(v, 'payerKey', 'payerKey: not the key pinned for this payer', nowMs);
      const same = this.held(v.channel, '=', '', v.seq);
      if (same) {
        if (same.sig === v.sig) return { status: 'duplicate', voucher: v };
        const detail = {
          seq: v.seq,
          kept: {
            amount: formatMoney(BigInt(same.amount_nano)),
            issuedAt: (JSON.parse(same.json) as SignedVoucher).issuedAt,
            sig: same.sig,
          },
          offered: { amount: v.amount, issuedAt: v.issuedAt, sig: v.sig },
          source,
        };
        this.event('double-issue', v.channel, detail, nowMs);
        return {
          status: 'double-issue',
          reason: `seq ${v.seq} of ${v.channel} was already issued with amount ${detail.kept.amount}; this one says ${v.amount}`,
        };
      }
      const amount = parseDecimal(v.amount, MONEY_FRAC);
      const lower = this.held(v.channel, '<', 'DESC', v.seq);
      const upper = this.held(v.channel, '>', '', v.seq);
      if (lower && amount < BigInt(lower.amount_nano))
        return this.refuse(v, 'amount', `amount: ${v.amount} is below seq ${lower.seq}'s ${formatMoney(BigInt(lower.amount_nano))}`, nowMs);
      if (upper && amount > BigInt(upper.amount_nano))
        return this.refuse(v, 'amount', `amount: ${v.amount} is above seq ${upper.seq}'s ${formatMoney(BigInt(upper.amount_nano))}`, nowMs);
      const neighbour = lower ?? upper;
      if (neighbour && neighbour.currency !== v.currency) return this.refuse(v, 'currency', "currency: differs from the channel's", nowMs);
      const row = [v.channel, v.seq, v.payer, v.payee, amount.toString(), v.currency, v.sig, JSON.stringify(v), nowMs, source] as const;
      const top = this.top(v.channel);
      if (top === undefined || v.seq <= top + 1) {
        // The base, history below the top, or the next link: kept; pending vouchers it joins up with follow.
        this.db.prepare(`INSERT INTO vouchers ${COLUMNS}`).run(...row);
        let joined = 0;
        if (top !== undefined && v.seq > top) {
          const join = this.db.prepare('INSERT INTO vouchers SELECT * FROM pending WHERE channel = ? AND seq = ?');
          const drop = this.db.prepare('DELETE FROM pending WHERE channel = ? AND seq = ?');
          for (let next = v.seq + 1; join.run(v.channel, next).changes > 0; next++, joined++) drop.run(v.channel, next);
        }
        return { status: 'accepted', voucher: v, joined };
      }
      // Ahead of the chain: held pending, bounded per channel.
      const waiting = this.db.prepare('SELECT count(*) AS n, max(seq) AS hi FROM pending WHERE channel = ?').get(v.channel) as {
        n: number;
        hi: number | null;
      };
      if (waiting.n >= this.maxPending) {
        if (waiting.hi === null || v.seq > waiting.hi)
          return {
            status: 'refused',
            field: 'seq',
            reason: `seq: ${v.seq} is too far ahead: ${waiting.n} vouchers of ${v.channel} already wait for seq ${top + 1}`,
          };
        this.db.prepare('DELETE FROM pending WHERE channel = ? AND seq = ?').run(v.channel, waiting.hi);
      }
      this.db.prepare(`INSERT INTO pending ${COLUMNS}`).run(...row);
      const next = (this.db.prepare('SELECT min(seq) AS s FROM pending WHERE channel = ?').get(v.channel) as { s: number }).s;
      return { status: 'held', voucher: v, after: top, next };
    })();
  }

  /** The top of a channel's kept chain (its receivable's seq), undefined before its first voucher. */
  private top(channel: string): number | undefined {
    return (this.db.prepare('SELECT max(seq) AS s FROM vouchers WHERE channel = ?').get(channel) as { s: number | null }).s ?? undefined;
  }

  /** The voucher of `channel`, kept or pending, nearest to `seq` in the direction `cmp`. */
  private held(channel: string, cmp: '=' | '<' | '>', order: '' | 'DESC', seq: number): Row | undefined {
    const where = `channel = @channel AND seq ${cmp} @seq`;
    return this.db
      .prepare(`SELECT * FROM vouchers WHERE ${where} UNION ALL SELECT * FROM pending WHERE ${where} ORDER BY seq ${order} LIMIT 1`)
      .get({ channel, seq }) as Row | undefined;
  }

  /** Open gaps: channels with pending vouchers, by channel. */
  gaps(): SeqGap[] {
    const rows = this.db
      .prepare(
        `SELECT p.channel AS channel, count(*) AS pending, min(p.seq) AS next, max(p.seq) AS last, min(p.received_at_ms) AS since,
           (SELECT max(seq) FROM vouchers v WHERE v.channel = p.channel) AS after
         FROM pending p GROUP BY p.channel ORDER BY p.channel`,
      )
      .all() as Array<{ channel: string; pending: number; next: number; last: number; since: number; after: number }>;
    return rows.map((r) => {
      const top = this.db.prepare('SELECT json FROM vouchers WHERE channel = ? AND seq = ?').get(r.channel, r.after) as { json: string };
      return {
        channel: r.channel,
        after: r.after,
        afterIssuedAt: (JSON.parse(top.json) as SignedVoucher).issuedAt,
        next: r.next,
        last: r.last,
        pending: r.pending,
        sinceMs: r.since,
      };
    });
  }

  /**
   * Record a `seq-gap` event for every gap whose oldest pending voucher came
   * `afterMs` or more before `nowMs`, once per gap position (a channel whose
   * chain moved on and stopped again is flagged again). Returns those flagged now.
   */
  flagGaps(nowMs: number, afterMs: number): SeqGap[] {
    return this.db.transaction((): SeqGap[] => {
      const gaps = this.gaps();
      const open = new Set(gaps.map((g) => g.channel));
      for (const { channel } of this.db.prepare('SELECT channel FROM gap_flags').all() as Array<{ channel: string }>)
        if (!open.has(channel)) this.db.prepare('DELETE FROM gap_flags WHERE channel = ?').run(channel);
      const flagged: SeqGap[] = [];
      for (const g of gaps) {
        if (nowMs - g.sinceMs < afterMs) continue;
        const f = this.db.prepare('SELECT after FROM gap_flags WHERE channel = ?').get(g.channel) as { after: number } | undefined;
        if (f?.after === g.after) continue;
        this.db.prepare('INSERT OR REPLACE INTO gap_flags (channel, after) VALUES (?, ?)').run(g.channel, g.after);
        const missing = g.next - g.after - 1;
        this.event(
          'seq-gap',
          g.channel,
          { after: g.after, next: g.next, missing, pending: g.pending, since: new Date(g.sinceMs).toISOString() },
          nowMs,
        );
        flagged.push(g);
      }
      return flagged;
    })();
  }

  /**
   * The missing seqs of `channel`'s gap as inclusive ranges [from, to], lowest first (at most
   * `limit` ranges): between the top of the chain and each pending voucher. What a member asks
   * its siblings for; empty when the channel has no gap.
   */
  holes(channel: string, limit: number): Array<[number, number]> {
    const top = (this.db.prepare('SELECT max(seq) AS s FROM vouchers WHERE channel = ?').get(channel) as { s: number | null }).s;
    if (top === null) return [];
    const out: Array<[number, number]> = [];
    let prev = top;
    for (const r of this.db.prepare('SELECT seq FROM pending WHERE channel = ? ORDER BY seq').iterate(channel) as Iterable<{
      seq: number;
    }>) {
      if (r.seq > prev + 1) out.push([prev + 1, r.seq - 1]);
      prev = r.seq;
      if (out.length >= limit) break;
    }
    return out;
  }

  /** Vouchers of `channel`, kept or pending, with after < seq < before, by seq (at most `limit`): what a sibling asks for. */
  between(channel: string, after: number, before: number, limit: number): SignedVoucher[] {
    const rows = this.db
      .prepare(
        `SELECT json, seq FROM vouchers WHERE ${BETWEEN} UNION ALL SELECT json, seq FROM pending WHERE ${BETWEEN} ORDER BY seq LIMIT @limit`,
      )
      .all({ channel, after, before, limit }) as Array<{ json: string }>;
    return rows.map((r) => JSON.parse(r.json) as SignedVoucher);
  }

  private refuse(v: SignedVoucher, field: string, reason: string, nowMs: number): Offered {
    this.event('voucher-refused', v.channel, { seq: v.seq, field, reason }, nowMs);
    return { status: 'refused', field, reason };
  }

  private event(kind: string, channel: string | null, detail: Record<string, unknown>, nowMs: number): void {
    const id = Number(
      this.db
        .prepare('INSERT INTO events (kind, at_ms, channel, detail) VALUES (?, ?, ?, ?)')
        .run(kind, nowMs, channel, JSON.stringify(detail)).lastInsertRowid,
    );
    if (id > this.maxEvents) this.db.prepare('DELETE FROM events WHERE id <= ?').run(id - this.maxEvents);
  }

  /** The latest voucher of every channel, sorted by channel. */
  receivables(): Receivable[] {
    const rows = this.db
      .prepare(
        'SELECT v.* FROM vouchers v JOIN (SELECT channel, MAX(seq) AS seq FROM vouchers GROUP BY channel) m ON v.channel = m.channel AND v.seq = m.seq ORDER BY v.channel',
      )
      .all() as Array<Row & { payer: string; payee: string; currency: string }>;
    return rows.map((r) => ({
      channel: r.channel,
      payer: r.payer,
      payee: r.payee,
      seq: r.seq,
      amount: formatMoney(BigInt(r.amount_nano)),
      currency: r.currency,
      receivedAt: new Date(r.received_at_ms).toISOString(),
    }));
  }

  vouchers(channel?: string): SignedVoucher[] {
    const rows = (
      channel === undefined
        ? this.db.prepare('SELECT json FROM vouchers ORDER BY channel, seq').all()
        : this.db.prepare('SELECT json FROM vouchers WHERE channel = ? ORDER BY seq').all(channel)
    ) as Array<{ json: string }>;
    return rows.map((r) => JSON.parse(r.json) as SignedVoucher);
  }

  events(kind?: string): CollectEvent[] {
    const rows = (
      kind === undefined
        ? this.db.prepare('SELECT * FROM events ORDER BY id DESC LIMIT 1000').all()
        : this.db.prepare('SELECT * FROM events WHERE kind = ? ORDER BY id DESC LIMIT 1000').all(kind)
    ) as Array<{
      id: number;
      kind: string;
      at_ms: number;
      channel: string | null;
      detail: string;
    }>;
    return rows.map((r) => ({
      id: r.id,
      kind: r.kind,
      at: new Date(r.at_ms).toISOString(),
      channel: r.channel,
      data: JSON.parse(r.detail) as Record<string, unknown>,
    }));
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
