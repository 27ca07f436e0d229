/** `m2m-gateway start`: run the daemon until SIGINT/SIGTERM. */
import { loadConfig } from '../config/load';
import { Gateway } from '../daemon/gateway';
import { isJournalStream } from '../base/journald';
import { createLogger } from '../base/log';
import { SdNotifier } from '../base/sd-notify';
import { configPath } from './config-option';
import { logLevelFromEnv } from './log-level';

export async function startCommand(opts: { config?: string }): Promise<void> {
  const cfg = loadConfig(configPath(opts));
  const log = createLogger(undefined, logLevelFromEnv('info'));
  const gw = await Gateway.start(cfg, log);
  // Secrets go to a terminal or a pipe, never into the journal (DESIGN.md §8).
  if (gw.secretsCreated && isJournalStream(1)) process.stdout.write(`credentials generated into ${cfg.gateway.dataDir}/secrets.json (m2m-gateway token prints them)\n`);
  else if (gw.secretsCreated) printSecretsOnce(gw.adminToken, gw.editorPassword, cfg.gateway.dataDir);
  process.stdout.write(`m2m-gateway ${cfg.gateway.id} running; API ${gw.apiUrl}\n`);
  if (gw.editorUrl) process.stdout.write(`policy editor (Node-RED): ${gw.editorUrl}\n`);
  const signal = untilSignal();
  const systemd = new SdNotifier(log.child({ part: 'systemd' }));
  await systemd.ready(`API ${gw.apiUrl}`); // Type=notify: ready once the API listens; feeds WatchdogSec from here
  await signal;
  await systemd.stopping();
  await gw.stop();
}

export function printSecretsOnce(token: string, password: string, dataDir: string): void {
  process.stdout.write(
    `Generated credentials (stored in ${dataDir}/secrets.json, mode 0600; shown once):\n` +
      `  API admin token:        ${token}\n` +
      `  Node-RED editor (admin): ${password}\n`,
  );
}

/** Resolves on the first SIGINT/SIGTERM; a second one exits at once. */
export function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const onSignal = (sig: NodeJS.Signals) => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      process.once('SIGINT', () => process.exit(130));
      process.once('SIGTERM', () => process.exit(143));
      resolve(sig);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}
