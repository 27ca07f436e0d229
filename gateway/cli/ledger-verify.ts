/** `m2m-gateway ledger verify`: re-check the hash chain, the totals and the state (exit 0 valid, 1 invalid; docs/ledger.md, "Verify"). */
import path from 'node:path';
import { loadConfig } from '../config/load';
import { verifyLedger } from '../ledger/verify';
import { EXIT_INVALID, EXIT_OK } from './exit-codes';
import { configPath } from './config-option';

export async function ledgerVerifyCommand(opts: { config?: string; db?: string }): Promise<number> {
  const db = opts.db ? path.resolve(opts.db) : loadConfig(configPath(opts)).gateway.dataDir;
  const r = verifyLedger(db);
  if (r.ok) {
    process.stdout.write(`ledger OK: ${r.batches} batches, head ${r.head.seq} ${r.head.hash}\n`);
    process.stdout.write(`  ${r.lines ?? 0} lines: totals = closed hours + open hours = what the chain accrued; state matches the head's digests\n`);
    return EXIT_OK;
  }
  process.stdout.write(`ledger INVALID${r.firstBadSeq !== undefined ? ` at batch ${r.firstBadSeq}` : ''}: ${r.reason ?? 'unknown'} (${r.batches} batches verified before it)\n`);
  return EXIT_INVALID;
}
