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
import { queryVouchers } from './sqlite-queries';
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
  const listVouchers = () =>
    queryVouchers(db).map((v) => ({
      channel: v.channel,
      seq: v.seq,
      batchSeq: v.batchSeq,
      ledgerHead: String((JSON.parse(v.json) as { ledgerHead?: unknown }).ledgerHead),
    }));
  // Batches are not indexed by hash: the heads vouchers name are found in one scan, not one scan each.
  let voucherHeads: Map<string, number | undefined> | null = null;
  const findVoucherHeads = (): Map<string, number | undefined> => {
    const m = new Map<string, number | undefined>();
    for (const v of listVouchers()) m.set(v.ledgerHead, undefined);
    for (const b of db.prepare('SELECT seq, hash FROM batches ORDER BY seq').iterate() as Iterable<{ seq: number; hash: string }>) {
      if (m.has(b.hash) && m.get(b.hash) === undefined) m.set(b.hash, b.seq);
    }
    return m;
  };
  return {
    hashAt: (seq) => (seq === 0 ? GENESIS_HASH : (at.get(seq) as { hash: string } | undefined)?.hash),
    seqOf: (hash) => {
      if (hash === GENESIS_HASH) return 0;
      voucherHeads ??= findVoucherHeads();
      if (voucherHeads.has(hash)) return voucherHeads.get(hash);
      return (of.get(hash) as { seq: number } | undefined)?.seq;
    },
    headSeq: () => (db.prepare('SELECT COALESCE(MAX(seq), 0) AS s FROM batches').get() as { s: number }).s,
    vouchers: listVouchers,
    close: () => db.close(),
  };
}
