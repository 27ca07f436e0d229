/**
 * `m2m-gateway config check` and `config schema`. The check validates the
 * config, then compiles `<dataDir>/flows.json` against it as the daemon
 * would at start: exit 2 with each bad node named (docs/policies.md).
 */
import path from 'node:path';
import { configJsonSchema } from '../config/json-schema';
import { loadConfig } from '../config/load';
import { checkFlowsFile } from '../policy/policy-check';
import { EXIT_CONFIG, EXIT_OK } from './exit-codes';
import { logLevelFromEnv } from './log-level';
import { configPath } from './config-option';

export async function configCheckCommand(opts: { config?: string }): Promise<number> {
  const file = configPath(opts);
  const cfg = loadConfig(file); // throws ConfigError -> every issue by path, exit 2
  logLevelFromEnv('info'); // M2M_LOG_LEVEL too: start refuses an unknown level with exit 2
  const points = cfg.devices.reduce((n, d) => n + d.points.length, 0);
  process.stdout.write(
    `${file}: OK (${cfg.links.length} links, ${cfg.devices.length} devices, ${points} points; data in ${cfg.gateway.dataDir})\n`,
  );
  const flowsFile = path.join(cfg.gateway.dataDir, 'flows.json');
  const r = checkFlowsFile(flowsFile, cfg.devices, cfg.gateway.timezone);
  if (r.state === 'missing') {
    process.stdout.write(`${flowsFile}: none yet (no policies until one is deployed)\n`);
    return EXIT_OK;
  }
  if (r.state === 'rejected') {
    const problems = r.error.problems;
    process.stderr.write(
      `policy error (${flowsFile}): ${problems.length} problem${problems.length === 1 ? '' : 's'}; the gateway would reject these policies\n`,
    );
    for (const p of problems) process.stderr.write(`  ${p.message}\n`);
    return EXIT_CONFIG;
  }
  const p = r.policy;
  process.stdout.write(
    `${flowsFile}: OK (${p.tariffs.length} tariff lines, ${p.alarms.length} alarms, ${p.creditLimits.length} credit limits, ${p.offers.length} offers)\n`,
  );
  for (const w of p.warnings) process.stdout.write(`  warning: ${w}\n`);
  return EXIT_OK;
}

export async function configSchemaCommand(): Promise<number> {
  process.stdout.write(`${JSON.stringify(configJsonSchema(), null, 2)}\n`);
  return EXIT_OK;
}
