/**
 * `m2m-gateway ledger verify`: re-check the hash chain, the totals and the
 * state (docs/ledger.md, "Verify"), that every
 * issued voucher's `ledgerHead` is a head of this chain from before the
 * voucher, and with `--checkpoint FILE` that the ledger extends each signed
 * checkpoint in the file (docs/settlement.md, "Signed checkpoints"): the
 * batch at the checkpoint's seq must have the checkpoint's head. A body
 * edited and the chain re-hashed changes that hash; a rollback to an older
 * copy ends before it. Exit 0 valid, 1 invalid, 2 unreadable checkpoint file.
 */
import fs from 'node:fs';
import path from 'node:path';
import { loadConfig } from '../config/load';
import { openChainReader } from '../ledger/chain-lookup';
import { verifyLedger } from '../ledger/verify';
import { checkCheckpoint, type SignedCheckpoint } from '../settle/checkpoints';
import { EXIT_CONFIG, EXIT_INVALID, EXIT_OK } from './exit-codes';
import { configPath } from './config-option';

export interface LedgerVerifyOptions {
  config?: string;
  db?: string;
  checkpoint?: string;
  key?: string;
}

/** The checkpoints of a file: one object, a list (GET /api/checkpoints), or an MQTT message `{"checkpoint":{…}}`. */
function readCheckpoints(file: string): unknown[] {
  const doc = JSON.parse(fs.readFileSync(file, 'utf8')) as unknown;
  const list = Array.isArray(doc) ? doc : [doc];
  return list.map((c) =>
    typeof c === 'object' && c !== null && 'checkpoint' in c && (c as { type?: unknown }).type === 'checkpoint'
      ? (c as { checkpoint: unknown }).checkpoint
      : c,
  );
}

export async function ledgerVerifyCommand(opts: LedgerVerifyOptions): Promise<number> {
  const db = opts.db ? path.resolve(opts.db) : loadConfig(configPath(opts)).gateway.dataDir;
  let checkpoints: unknown[] = [];
  if (opts.checkpoint !== undefined) {
    try {
      checkpoints = readCheckpoints(opts.checkpoint);
    } catch (err) {
      process.stderr.write(`error: cannot read the checkpoint file ${opts.checkpoint}: ${(err as Error).message}\n`);
      return EXIT_CONFIG;
    }
  }
  const r = verifyLedger(db);
  if (!r.ok) {
    process.stdout.write(
      `ledger INVALID${r.firstBadSeq !== undefined ? ` at batch ${r.firstBadSeq}` : ''}: ${r.reason ?? 'unknown'} (${r.batches} batches verified before it)\n`,
    );
    return EXIT_INVALID;
  }
  const bad = anchorProblems(db, checkpoints, opts.key);
  if (bad) {
    process.stdout.write(`ledger INVALID: ${bad}\n`);
    return EXIT_INVALID;
  }
  const cps = checkpoints.length > 0 ? `, extends ${checkpoints.length} checkpoint${checkpoints.length > 1 ? 's' : ''}` : '';
  process.stdout.write(`ledger OK: ${r.batches} batches, head ${r.head.seq} ${r.head.hash}${cps}\n`);
  process.stdout.write(
    `  ${r.lines ?? 0} lines: totals = closed hours + open hours = what the chain accrued; state matches the head's digests\n`,
  );
  return EXIT_OK;
}

/** The first problem with voucher heads or checkpoints, or null. */
function anchorProblems(db: string, checkpoints: unknown[], key: string | undefined): string | null {
  const chain = openChainReader(db);
  try {
    for (const [i, value] of checkpoints.entries()) {
      const c = checkCheckpoint(value, key);
      if (!c.ok) return `checkpoint [${i}]: ${c.reason}`;
      const cp: SignedCheckpoint = c.checkpoint;
      const hash = chain.hashAt(cp.seq);
      if (hash === undefined)
        return `the ledger does not extend checkpoint seq ${cp.seq} of ${cp.at}: it ends at batch ${chain.headSeq()} (rolled back to an older copy?)`;
      if (hash !== cp.head)
        return `the ledger does not extend checkpoint seq ${cp.seq} of ${cp.at}: batch ${cp.seq} has hash ${hash}, the checkpoint signed ${cp.head} (rewritten?)`;
    }
    for (const v of chain.vouchers()) {
      const at = chain.seqOf(v.ledgerHead);
      if (at === undefined) return `voucher ${v.channel} #${v.seq}: its ledgerHead ${v.ledgerHead} is not in the chain`;
      if (at >= v.batchSeq)
        return `voucher ${v.channel} #${v.seq}: its ledgerHead is batch ${at}, not one before the batch ${v.batchSeq} that holds it`;
    }
    return null;
  } finally {
    chain.close();
  }
}
