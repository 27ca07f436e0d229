/**
 * Read-only questions about a ledger's hash chain that settlement asks
 * (docs/settlement.md, "Signed checkpoints"): the hash of batch `seq`, and
 * the chain position of each issued voucher with the head it names. Kept in
 * its own file so the chain's storage can change behind these three calls.
 */
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { LedgerOpenError } from './errors';
import { GENESIS_HASH } from './hash-chain';
import { LEDGER_FILE } from './sqlite-store';

export interface VoucherAnchor {
  channel: string;
  seq: number;
  /** The batch that recorded the voucher. */
  batchSeq: number;
  /** The voucher's `ledgerHead`. */
  ledgerHead: string;
}

export interface ChainReader {
  /** Hash of batch `seq` (seq 0: the genesis hash); undefined past the head. */
  hashAt(seq: number): string | undefined;
  /** The seq of the batch whose hash is `hash` (0 for genesis), undefined when no batch has it. */
  seqOf(hash: string): number | undefined;
  headSeq(): number;
  vouchers(): VoucherAnchor[];
  close(): void;
}

export function openChainReader(dbPath: string): ChainReader {
  const file = fs.existsSync(dbPath) && fs.statSync(dbPath).isDirectory() ? path.join(dbPath, LEDGER_FILE) : dbPath;
  let db: Database.Database;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true });
  } catch (err) {
    throw new LedgerOpenError(`cannot open ledger ${file}: ${(err as Error).message}`, err);
  }
  const at = db.prepare('SELECT hash FROM batches WHERE seq = ?');
  const of = db.prepare('SELECT seq FROM batches WHERE hash = ? ORDER BY seq LIMIT 1');
  return {
    hashAt: (seq) => (seq === 0 ? GENESIS_HASH : (at.get(seq) as { hash: string } | undefined)?.hash),
    seqOf: (hash) => (hash === GENESIS_HASH ? 0 : (of.get(hash) as { seq: number } | undefined)?.seq),
    headSeq: () => (db.prepare('SELECT COALESCE(MAX(seq), 0) AS s FROM batches').get() as { s: number }).s,
    vouchers: () =>
      (db.prepare('SELECT channel, seq, batch_seq, json FROM vouchers ORDER BY channel, seq').all() as Array<{ channel: string; seq: number; batch_seq: number; json: string }>).map((r) => ({
        channel: r.channel,
        seq: r.seq,
        batchSeq: r.batch_seq,
        ledgerHead: String((JSON.parse(r.json) as { ledgerHead?: unknown }).ledgerHead),
      })),
    close: () => db.close(),
  };
}
