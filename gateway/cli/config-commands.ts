/** `m2m-gateway config check` and `config schema`. */
import { configJsonSchema } from '../config/json-schema';
import { loadConfig } from '../config/load';
import { EXIT_OK } from './exit-codes';
import { logLevelFromEnv } from './log-level';
import { configPath } from './config-option';

export async function configCheckCommand(opts: { config?: string }): Promise<number> {
  const file = configPath(opts);
  const cfg = loadConfig(file); // throws ConfigError -> every issue by path, exit 2
  logLevelFromEnv('info'); // the unit's M2M_LOG_LEVEL is checked too (ExecStartPre)
  const points = cfg.devices.reduce((n, d) => n + d.points.length, 0);
  process.stdout.write(`${file}: OK (${cfg.links.length} links, ${cfg.devices.length} devices, ${points} points; data in ${cfg.gateway.dataDir})\n`);
  return EXIT_OK;
}

export async function configSchemaCommand(): Promise<number> {
  process.stdout.write(`${JSON.stringify(configJsonSchema(), null, 2)}\n`);
  return EXIT_OK;
}
