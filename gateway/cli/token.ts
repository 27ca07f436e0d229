/**
 * `m2m-gateway token`: print the admin API token (generated at first start),
 * with `--editor` the Node-RED editor password (docs/policies.md#logging-in), with
 * `--buyer <account>` the API token of a data buyer (docs/marketplace.md),
 * created in `<dataDir>/buyers.json` on first call (`--buyer <account>
 * --revoke` removes it), or with `--metrics` the read-only token for
 * Prometheus (`<dataDir>/metrics-token`). The running daemon picks up new
 * buyer and metrics tokens without a restart and closes a revoked buyer's
 * streams at once. With `--payee <account>`: a payee's token
 * (`<dataDir>/payees.json`), which reads only that payee's vouchers.
 * `--buyer <account> --payer-key <base64url>` registers the buyer's public
 * key before its first voucher (docs/marketplace.md): a voucher signed by
 * another key is refused, the first one too.
 */
import { loadConfig } from '../config/load';
import { loadOrCreateSecrets } from '../api/secrets';
import { ensureBuyerToken, isBuyerAccount, pinBuyerKey, revokeBuyerToken } from '../api/buyer-tokens';
import { ensureMetricsToken } from '../api/metrics-token';
import { publicKeyFromRaw } from '../settle/keys';
import { CliUsageError } from './errors';
import { EXIT_CONFIG, EXIT_OK } from './exit-codes';
import { configPath } from './config-option';

export async function tokenCommand(opts: {
  config?: string;
  buyer?: string;
  payee?: string;
  editor?: boolean;
  revoke?: boolean;
  metrics?: boolean;
  payerKey?: string;
}): Promise<number> {
  const usage = (flag: string, message: string): number => {
    const e = new CliUsageError(flag, message);
    process.stderr.write(`error: ${e.message}\n(run with --help for usage)\n`);
    return EXIT_CONFIG;
  };
  if (opts.buyer !== undefined && !isBuyerAccount(opts.buyer)) {
    return usage(
      '--buyer',
      `"${opts.buyer}" is not an account id (1-64 letters, digits, "_", "." or "-", starting with a letter or digit)`,
    );
  }
  if (opts.payee !== undefined && !isBuyerAccount(opts.payee)) {
    return usage(
      '--payee',
      `"${opts.payee}" is not an account id (1-64 letters, digits, "_", "." or "-", starting with a letter or digit)`,
    );
  }
  if (opts.buyer !== undefined && opts.metrics) {
    process.stderr.write('error: --buyer and --metrics mint different tokens: give one\n(run with --help for usage)\n');
    return EXIT_CONFIG;
  }
  if (opts.payee !== undefined && (opts.buyer !== undefined || opts.metrics))
    return usage('--payee', 'use --payee alone (not with --buyer or --metrics)');
  if (opts.editor && (opts.buyer !== undefined || opts.payee !== undefined || opts.metrics))
    return usage('--editor', 'use --editor alone (not with --buyer, --payee or --metrics)');
  if (opts.revoke && opts.buyer === undefined) return usage('--revoke', 'needs --buyer <account>');
  if (opts.payerKey !== undefined) {
    if (opts.buyer === undefined || opts.revoke) return usage('--payer-key', 'needs --buyer <account> (and not --revoke)');
    if (!/^[A-Za-z0-9_-]{43}$/.test(opts.payerKey) || publicKeyFromRaw(opts.payerKey) === null)
      return usage('--payer-key', `"${opts.payerKey}" is not a base64url raw ed25519 public key (43 characters)`);
  }
  const cfg = loadConfig(configPath(opts));
  if (opts.buyer !== undefined && opts.revoke) {
    const gone = revokeBuyerToken(cfg.gateway.dataDir, opts.buyer);
    process.stderr.write(gone ? `revoked the token of buyer ${opts.buyer}\n` : `buyer ${opts.buyer} had no token\n`);
    return EXIT_OK;
  }
  if (opts.payee !== undefined) {
    const { token, created } = ensureBuyerToken(cfg.gateway.dataDir, opts.payee, new Date(), 'payee');
    if (created) process.stderr.write(`created a token for payee ${opts.payee}\n`);
    process.stdout.write(`${token}\n`);
    return EXIT_OK;
  }
  if (opts.metrics) {
    const { token, created } = ensureMetricsToken(cfg.gateway.dataDir);
    if (created) process.stderr.write('created the metrics token (reads /metrics only)\n');
    process.stdout.write(`${token}\n`);
    return EXIT_OK;
  }
  if (opts.buyer !== undefined && opts.payerKey !== undefined) {
    const { token, created, previous } = pinBuyerKey(cfg.gateway.dataDir, opts.buyer, opts.payerKey);
    if (created) process.stderr.write(`created a token for buyer ${opts.buyer}\n`);
    process.stderr.write(
      previous !== undefined
        ? `buyer ${opts.buyer}: payer key changed from ${previous} to ${opts.payerKey}\n`
        : `buyer ${opts.buyer}: vouchers must be signed by ${opts.payerKey}\n`,
    );
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
  process.stdout.write(`${opts.editor ? s.editorPassword : s.adminToken}\n`);
  return EXIT_OK;
}
