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
 *  - per channel, against every voucher already kept: one seq holds one
 *    voucher (a second, different one is a `double-issue`, refused and
 *    recorded), and amounts follow seqs (never lower than an earlier seq's,
 *    never higher than a later one's). A seq that skips ahead is accepted —
 *    vouchers are cumulative, the latest covers the ones in between — and
 *    the ones in between are still checked if they arrive later.
 *
 * Receivables are the latest voucher per channel.
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

export type Offered =
  | { status: 'accepted'; voucher: SignedVoucher }
  | { status: 'duplicate'; voucher: SignedVoucher }
  | { status: 'refused'; field: string; reason: string }
  | { status: 'double-issue'; reason: string };

interface Row {
  channel: string;
  seq: number;
  amount_nano: string;
  sig: string;
  json: string;
  received_at_ms: number;
}

export class CollectorStore {
  private readonly db: Database.Database;

  constructor(
    dataDir: string,
    private readonly payees: ReadonlySet<string>,
    private readonly pinned: Readonly<Record<string, string>>,
  ) {
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
      const same = this.db.prepare('SELECT * FROM vouchers WHERE channel = ? AND seq = ?').get(v.channel, v.seq) as Row | undefined;
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
      const lower = this.db
        .prepare('SELECT * FROM vouchers WHERE channel = ? AND seq < ? ORDER BY seq DESC LIMIT 1')
        .get(v.channel, v.seq) as Row | undefined;
      const upper = this.db.prepare('SELECT * FROM vouchers WHERE channel = ? AND seq > ? ORDER BY seq LIMIT 1').get(v.channel, v.seq) as
        Row | undefined;
      if (lower && amount < BigInt(lower.amount_nano))
        return this.refuse(v, 'amount', `amount: ${v.amount} is below seq ${lower.seq}'s ${formatMoney(BigInt(lower.amount_nano))}`, nowMs);
      if (upper && amount > BigInt(upper.amount_nano))
        return this.refuse(v, 'amount', `amount: ${v.amount} is above seq ${upper.seq}'s ${formatMoney(BigInt(upper.amount_nano))}`, nowMs);
      if (lower && (JSON.parse(lower.json) as SignedVoucher).currency !== v.currency)
        return this.refuse(v, 'currency', "currency: differs from the channel's", nowMs);
      this.db
        .prepare(
          'INSERT INTO vouchers (channel, seq, payer, payee, amount_nano, currency, sig, json, received_at_ms, source) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
        )
        .run(v.channel, v.seq, v.payer, v.payee, amount.toString(), v.currency, v.sig, JSON.stringify(v), nowMs, source);
      return { status: 'accepted', voucher: v };
    })();
  }

  private refuse(v: SignedVoucher, field: string, reason: string, nowMs: number): Offered {
    this.event('voucher-refused', v.channel, { seq: v.seq, field, reason }, nowMs);
    return { status: 'refused', field, reason };
  }

  private event(kind: string, channel: string | null, detail: Record<string, unknown>, nowMs: number): void {
    this.db
      .prepare('INSERT INTO events (kind, at_ms, channel, detail) VALUES (?, ?, ?, ?)')
      .run(kind, nowMs, channel, JSON.stringify(detail));
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
