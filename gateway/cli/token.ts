/**
 * `m2m-gateway token`: print the admin API token (generated at first start),
 * or with `--buyer <account>` the API token of a data buyer (DESIGN.md §7),
 * created in `<dataDir>/buyers.json` on first call. The running daemon picks
 * up a new buyer token without a restart.
 */
import { loadConfig } from '../config/load';
import { loadOrCreateSecrets } from '../api/secrets';
import { ensureBuyerToken } from '../market/buyer-tokens';
import { EXIT_OK } from './exit-codes';
import { configPath } from './config-option';

export async function tokenCommand(opts: { config?: string; buyer?: string }): Promise<number> {
  const cfg = loadConfig(configPath(opts));
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
