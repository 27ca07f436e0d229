/** `m2m-gateway token`: print the admin API token (generated at first start). */
import { loadConfig } from '../config/load';
import { loadOrCreateSecrets } from '../api/secrets';
import { EXIT_OK } from './exit-codes';
import { configPath } from './config-option';

export async function tokenCommand(opts: { config?: string }): Promise<number> {
  const cfg = loadConfig(configPath(opts));
  const s = loadOrCreateSecrets(cfg.gateway.dataDir);
  process.stdout.write(`${s.adminToken}\n`);
  return EXIT_OK;
}
