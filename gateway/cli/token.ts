/**
 * `m2m-gateway token`: print the admin API token (generated at first start),
 * or with `--buyer <account>` the API token of a data buyer (docs/marketplace.md),
 * created in `<dataDir>/buyers.json` on first call, or with `--metrics` the
 * read-only token for Prometheus (`<dataDir>/metrics-token`). The running
 * daemon picks up new buyer and metrics tokens without a restart.
 */
import { loadConfig } from '../config/load';
import { loadOrCreateSecrets } from '../api/secrets';
import { ensureBuyerToken, isBuyerAccount } from '../api/buyer-tokens';
import { ensureMetricsToken } from '../api/metrics-token';
import { CliUsageError } from './errors';
import { EXIT_CONFIG, EXIT_OK } from './exit-codes';
import { configPath } from './config-option';

export async function tokenCommand(opts: { config?: string; buyer?: string; metrics?: boolean }): Promise<number> {
  if (opts.buyer !== undefined && !isBuyerAccount(opts.buyer)) {
    const e = new CliUsageError('--buyer', `"${opts.buyer}" is not an account id (1-64 letters, digits, "_", "." or "-", starting with a letter or digit)`);
    process.stderr.write(`error: ${e.message}\n(run with --help for usage)\n`);
    return EXIT_CONFIG;
  }
  if (opts.buyer !== undefined && opts.metrics) {
    process.stderr.write('error: --buyer and --metrics mint different tokens: give one\n(run with --help for usage)\n');
    return EXIT_CONFIG;
  }
  const cfg = loadConfig(configPath(opts));
  if (opts.metrics) {
    const { token, created } = ensureMetricsToken(cfg.gateway.dataDir);
    if (created) process.stderr.write('created the metrics token (reads /metrics only)\n');
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
