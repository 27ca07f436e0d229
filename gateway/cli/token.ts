/**
 * `m2m-gateway token`: print the admin API token (generated at first start),
 * or with `--buyer <account>` the API token of a data buyer (DESIGN.md §7),
 * created in `<dataDir>/buyers.json` on first call. The running daemon picks
 * up a new buyer token without a restart.
 */
import { loadConfig } from '../config/load';
import { loadOrCreateSecrets } from '../api/secrets';
import { ensureBuyerToken, isBuyerAccount } from '../api/buyer-tokens';
import { CliUsageError } from './errors';
import { EXIT_CONFIG, EXIT_OK } from './exit-codes';
import { configPath } from './config-option';

export async function tokenCommand(opts: { config?: string; buyer?: string; payee?: string }): Promise<number> {
  for (const [flag, v] of [['--buyer', opts.buyer], ['--payee', opts.payee]] as const) {
    if (v !== undefined && !isBuyerAccount(v)) {
      const e = new CliUsageError(flag, `"${v}" is not an account id (1-64 letters, digits, "_", "." or "-", starting with a letter or digit)`);
      process.stderr.write(`error: ${e.message}\n(run with --help for usage)\n`);
      return EXIT_CONFIG;
    }
  }
  const cfg = loadConfig(configPath(opts));
  if (opts.payee !== undefined) {
    const { token, created } = ensureBuyerToken(cfg.gateway.dataDir, opts.payee, new Date(), 'payee');
    if (created) process.stderr.write(`created a token for payee ${opts.payee}\n`);
    process.stdout.write(`${token}\n`);
    return EXIT_OK;
  }
  if (opts.buyer !== undefined) {
    const { token, created } = ensureBuyerToken(cfg.gateway.dataDir, opts.buyer);
    if (created) process.stderr.write(`created a token for buyer ${opts.buyer}\n`);
    process.stdout.write(`${token}\n`);
    return EXIT_OK;
  }
  const s = loadOrCreateSecrets(cfg.gateway.dataDir);
  process.stdout.write(`${s.adminToken}\n`);
  return EXIT_OK;
}
