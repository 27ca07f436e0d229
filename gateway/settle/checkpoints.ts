/**
 * Signed ledger checkpoints (docs/settlement.md, "Signed checkpoints").
 * Every `ledger.checkpointMs` the gateway's own key (`keys/gateway.key`)
 * signs the ledger head:
 *
 *   {"v":1,"gatewayId":"gw-1","seq":1234,"head":"<hex sha256>","at":"2026-…Z",
 *    "gatewayKey":"<base64url raw ed25519 public key>","sig":"<base64url>"}
 *
 * `sig` covers the RFC 8785 canonical JSON of every other field, as a
 * voucher's does. `seq` is the ledger batch whose hash is `head`. Anyone who
 * holds a checkpoint can later prove that a ledger extends it (`m2m-gateway
 * ledger verify --checkpoint FILE`): a rewritten chain has another hash at
 * that seq, a rolled-back copy ends before it. A head that has not moved
 * since the last checkpoint is not signed again.
 *
 * Checkpoints are kept in `<dataDir>/checkpoints.db` (their own file, apart
 * from the ledger) and published on GET /api/checkpoints and MQTT
 * `<prefix>/<gatewayId>/checkpoints`.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { Logger } from '../base/log';
import type { CheckpointView } from '../events';
import { touchPrivateFile } from '../base/private-files';
import type { LedgerHead } from '../ledger/store';
import { canonicalJson } from './canonical-json';
import { fromBase64Url, publicKeyFromRaw, type PayerKey } from './keys';

export const CHECKPOINTS_FILE = 'checkpoints.db';

/** The checkpoint as it travels (events.ts names the shape for the bus). */
export type SignedCheckpoint = CheckpointView;

const FIELDS = ['v', 'gatewayId', 'seq', 'head', 'at', 'gatewayKey', 'sig'] as const;

function signedText(c: Omit<SignedCheckpoint, 'sig'> | SignedCheckpoint): string {
  const body: Record<string, unknown> = { ...c };
  delete body.sig;
  return canonicalJson(body);
}

export function signCheckpoint(gatewayId: string, head: LedgerHead, atMs: number, key: PayerKey): SignedCheckpoint {
  const body = { v: 1 as const, gatewayId, seq: head.seq, head: head.hash, at: new Date(atMs).toISOString(), gatewayKey: key.publicKey };
  return { ...body, sig: key.sign(signedText(body)) };
}

export type CheckpointCheck = { ok: true; checkpoint: SignedCheckpoint } | { ok: false; reason: string };

/** Fields, and the signature by `gatewayKey` (which must equal `key` when given). */
export function checkCheckpoint(value: unknown, key?: string): CheckpointCheck {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { ok: false, reason: 'a checkpoint is a JSON object' };
  const o = value as Record<string, unknown>;
  for (const f of FIELDS) if (!(f in o)) return { ok: false, reason: `${f}: missing` };
  for (const k of Object.keys(o))
    if (!(FIELDS as readonly string[]).includes(k)) return { ok: false, reason: `${k}: is not a checkpoint field` };
  if (o.v !== 1) return { ok: false, reason: 'v: must be 1' };
  if (typeof o.gatewayId !== 'string' || o.gatewayId === '') return { ok: false, reason: 'gatewayId: must be a non-empty string' };
  if (typeof o.seq !== 'number' || !Number.isSafeInteger(o.seq) || o.seq < 0) return { ok: false, reason: 'seq: must be an integer >= 0' };
  if (typeof o.head !== 'string' || !/^[0-9a-f]{64}$/.test(o.head)) return { ok: false, reason: 'head: must be 64 lowercase hex digits' };
  if (typeof o.at !== 'string' || !Number.isFinite(Date.parse(o.at))) return { ok: false, reason: 'at: must be an ISO time' };
  if (typeof o.gatewayKey !== 'string' || typeof o.sig !== 'string')
    return { ok: false, reason: 'gatewayKey, sig: must be base64url strings' };
  if (key !== undefined && o.gatewayKey !== key) return { ok: false, reason: 'gatewayKey: not the required key' };
  const pub = publicKeyFromRaw(o.gatewayKey);
  const sig = fromBase64Url(o.sig);
  if (!pub || !sig || sig.length !== 64) return { ok: false, reason: 'gatewayKey or sig: not an ed25519 key / signature' };
  const c = o as unknown as SignedCheckpoint;
  if (!crypto.verify(null, Buffer.from(signedText(c), 'utf8'), pub, sig))
    return { ok: false, reason: 'sig: the signature does not match (a field was changed, or another key signed it)' };
  return { ok: true, checkpoint: c };
}

export interface CheckpointerDeps {
  gatewayId: string;
  dataDir: string;
  everyMs: number;
  head: () => LedgerHead;
  key: () => PayerKey;
  publish: (c: SignedCheckpoint) => void;
  log: Logger;
}

/** The extension that signs, keeps and publishes checkpoints (start/stop). */
export class Checkpointer {
  private readonly db: Database.Database;
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly d: CheckpointerDeps) {
    const file = path.join(d.dataDir, CHECKPOINTS_FILE);
    if (!fs.existsSync(file)) touchPrivateFile(file);
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    this.db.exec('CREATE TABLE IF NOT EXISTS checkpoints (seq INTEGER PRIMARY KEY, at_ms INTEGER NOT NULL, json TEXT NOT NULL)');
  }

  /** Sign the head now (the state the gateway starts from), then every `everyMs`. */
  start(): void {
    this.tick();
    this.timer = setInterval(() => this.tick(), this.d.everyMs);
    this.timer.unref();
  }

  /** Sign the current head unless the newest checkpoint already covers it. Returns the new checkpoint, if any. */
  tick(nowMs = Date.now()): SignedCheckpoint | null {
    try {
      const head = this.d.head();
      const last = this.db.prepare('SELECT seq FROM checkpoints ORDER BY seq DESC LIMIT 1').get() as { seq: number } | undefined;
      if (last && last.seq >= head.seq) return null;
      const c = signCheckpoint(this.d.gatewayId, head, nowMs, this.d.key());
      this.db.prepare('INSERT OR REPLACE INTO checkpoints (seq, at_ms, json) VALUES (?, ?, ?)').run(c.seq, nowMs, JSON.stringify(c));
      this.d.publish(c);
      return c;
    } catch (err) {
      this.d.log.error({ err }, 'cannot sign a ledger checkpoint');
      return null;
    }
  }

  /** Newest first. */
  list(limit = 1000): SignedCheckpoint[] {
    return (this.db.prepare('SELECT json FROM checkpoints ORDER BY seq DESC LIMIT ?').all(limit) as Array<{ json: string }>).map(
      (r) => JSON.parse(r.json) as SignedCheckpoint,
    );
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    if (this.db.open) this.db.close();
  }
}
