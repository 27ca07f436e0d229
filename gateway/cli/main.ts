#!/usr/bin/env node
/**
 * `m2m-gateway` command line. Each command lives in its own file; this one
 * only declares them (with --help text) and maps failures to exit codes:
 * 0 ok, 1 invalid (verify), 2 bad config or usage, 3 runtime failure.
 */
import { Command, CommanderError } from 'commander';
import { packageVersion } from '../base/package-root';
import { CONFIG_OPTION } from './config-option';
import { configCheckCommand, configSchemaCommand } from './config-commands';
import { demoCommand } from './demo';
import { EXIT_CONFIG } from './exit-codes';
import { initCommand } from './init';
import { ledgerVerifyCommand } from './ledger-verify';
import { probeCommand } from './probe';
import { action } from './run-command';
import { scanCommand } from './scan';
import { startCommand } from './start';
import { tokenCommand } from './token';
import { verifyCommand } from './verify';
import { buyCommand } from './buy';
import { collectCommand } from './collect';

const EXIT_HELP = `
Exit codes: 0 ok, 1 invalid (verify commands), 2 bad configuration or usage, 3 runtime failure.
Logs are JSON lines on stderr; set M2M_LOG_LEVEL (trace|debug|info|warn|error) to change the level.`;

export function buildProgram(): Command {
  const program = new Command('m2m-gateway')
    .description('Edge gateway for the machine-to-machine economy: meters Modbus/P1 devices exactly and settles micropayments.')
    .version(packageVersion(), '-V, --version')
    .showHelpAfterError('(run with --help for usage)')
    .addHelpText('after', EXIT_HELP)
    .exitOverride((err: CommanderError) => {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') process.exit(0);
      process.exit(EXIT_CONFIG);
    });

  program
    .command('start')
    .description('run the gateway daemon on a config file until SIGINT/SIGTERM')
    .option(...CONFIG_OPTION)
    .action(action(startCommand));

  program
    .command('demo')
    .description(
      'run a simulated water purifier, energy meter and service centre with the gateway metering, controlling and servicing them (no hardware needed)',
    )
    .option('-d, --data-dir <dir>', 'where the demo keeps its config, ledger and secrets', './m2m-demo')
    .option('-p, --port <port>', 'HTTP port of the API', '8080')
    .option('--fresh', 'start from an empty ledger (deletes the demo data dir first)')
    .option('--summary-ms <ms>', 'how often to print the one-line summary', '3000')
    .action(action(demoCommand));

  program
    .command('init')
    .description('write a commented example config')
    .option(...CONFIG_OPTION)
    .option('-f, --force', 'overwrite an existing file')
    .action(action(initCommand));

  const config = program.command('config').description('configuration tools');
  config
    .command('check')
    .description(
      'validate a config and compile <dataDir>/flows.json against it without starting (every problem listed by path or node; exit 2 when invalid)',
    )
    .option(...CONFIG_OPTION)
    .action(action(configCheckCommand));
  config.command('schema').description('print the JSON Schema of the config file (for editors)').action(action(configSchemaCommand));

  program
    .command('probe')
    .description('read a register range once and show every type and word order side by side (to map an unknown device)')
    .option(...CONFIG_OPTION)
    .option('-l, --link <id>', 'a Modbus link of the config (default: its only Modbus link)')
    .option('--host <host>', 'an ad-hoc Modbus TCP device instead of a config link')
    .option('--port <port>', 'port of --host (default 502)')
    .option('-u, --unit <n>', 'unit id 0..255', '1')
    .option('-a, --area <area>', 'holding | input | coil | discrete (default holding)')
    .option('--address <n>', '0-based protocol address (default 0)')
    .option('-r, --register <modicon>', 'Modicon register instead of --area/--address: "40001" = holding 0, "30001" = input 0')
    .option('-n, --count <k>', 'registers (1..125) or bits (1..2000) to read (default 10)')
    .option('--timeout-ms <ms>', "request timeout (default: the link's timeoutMs, 1000 ad hoc)")
    .option('--types <list>', 'only these columns: uint16,int16,uint32,int32,float32,uint64,int64,float64')
    .option('--orders <list>', 'only these word orders: ABCD,CDAB,BADC,DCBA')
    .option('--json', 'machine-readable output')
    .action(action(probeCommand));

  program
    .command('scan')
    .description('find the unit ids that answer on a link (one short read per unit id, with progress)')
    .option(...CONFIG_OPTION)
    .option('-l, --link <id>', 'a Modbus link of the config (default: its only Modbus link)')
    .option('--host <host>', 'an ad-hoc Modbus TCP link instead of a config link')
    .option('--port <port>', 'port of --host (default 502)')
    .option('--from <n>', 'first unit id', '1')
    .option('--to <n>', 'last unit id', '247')
    .option('--timeout-ms <ms>', 'wait per unit id (also bounds the TCP connect)', '200')
    .option('-a, --area <area>', 'holding | input | coil | discrete (default holding)')
    .option('--address <n>', '0-based protocol address to read (default 0)')
    .option('-r, --register <modicon>', 'Modicon register instead of --area/--address')
    .option('--json', 'machine-readable output')
    .action(action(scanCommand));

  program
    .command('token')
    .description('print the admin API token (generated into <dataDir>/secrets.json at the first start that succeeds)')
    .option(...CONFIG_OPTION)
    .option('-e, --editor', 'print the Node-RED editor password (user admin) instead')
    .option('-b, --buyer <account>', "print a data buyer's token instead (created in <dataDir>/buyers.json on first call)")
    .option('--revoke', "with --buyer: remove that buyer's token; its open streams are closed at once")
    .option(
      '--payer-key <base64url>',
      "with --buyer: register the buyer's public key (raw ed25519, base64url); vouchers signed by another key are refused, the first one too (without it the first voucher pins the key)",
    )
    .option(
      '--payee <account>',
      "print a payee's token instead (created in <dataDir>/payees.json): it reads only its own channels' vouchers",
    )
    .option('--metrics', 'print the read-only metrics token for Prometheus instead (created in <dataDir>/metrics-token on first call)')
    .action(action(tokenCommand));

  program
    .command('verify')
    .description(
      "check a signed voucher (or a JSON array of one channel's vouchers): fields, channel, payer key, signature; prints valid or INVALID: <reason> (exit 0 valid, 1 invalid, 2 unreadable or not JSON)",
    )
    .argument('<voucher.json>', 'a voucher as /api/vouchers, MQTT or the stream gives it, or an array of them')
    .option('--key <base64url>', 'require this payer key (base64url of the raw 32-byte ed25519 public key)')
    .action(action((file: string, opts: { key?: string }) => verifyCommand(file, opts)));

  program
    .command('buy')
    .description('reference data-buyer client: receive the readings offered to you and pay for them with vouchers signed by your own key')
    .requiredOption('--url <url>', "the seller gateway's API, e.g. http://127.0.0.1:8080")
    .requiredOption('-a, --account <id>', 'your buyer account (the payer of your vouchers)')
    .option('--token <token>', 'your buyer token (m2m-gateway token --buyer ID on the seller)')
    .option('--token-file <file>', 'a file holding the buyer token')
    .option('-d, --dir <dir>', 'your own folder: keys/<account>.key (0600) and vouchers.json', './m2m-buyer')
    .option('--deposit <amount>', 'the cap of your channel: you never pay more', '10')
    .option('--currency <code>', "the currency of your vouchers (the seller's)", 'NOK')
    .option('--devices <globs>', 'only these devices (comma-separated globs)')
    .option('-n, --readings <n>', 'exit after this many readings')
    .option('-q, --quiet', 'do not print the readings')
    .action(action(buyCommand));

  program
    .command('collect')
    .description("the payee's side: pull/subscribe vouchers from gateways, verify and keep them, serve GET /api/receivables")
    .requiredOption('-c, --config <file>', 'the collector config file (docs/settlement.md, "Payees collect")')
    .action(action(collectCommand));

  const ledger = program.command('ledger').description('ledger tools');
  ledger
    .command('verify')
    .description(
      "check the ledger hash chain, totals and state, and that every voucher's ledgerHead is in the chain (exit 0 valid, 1 invalid, 2 unreadable checkpoint file)",
    )
    .option(...CONFIG_OPTION)
    .option('--db <file>', "a ledger.db file or data dir instead of the config's dataDir")
    .option(
      '--checkpoint <file>',
      'also check the ledger extends the signed checkpoint(s) in this file (one, or a list as GET /api/checkpoints gives)',
    )
    .option('--key <base64url>', 'require the checkpoints to be signed by this gateway key')
    .action(action(ledgerVerifyCommand));

  for (const c of program.commands) {
    c.exitOverride((err: CommanderError) => {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.help') process.exit(0);
      process.exit(EXIT_CONFIG);
    });
    c.showHelpAfterError('(run with --help for usage)');
  }
  return program;
}

if (require.main === module) {
  buildProgram()
    .parseAsync(process.argv)
    .catch((err: unknown) => {
      process.stderr.write(`${String(err)}\n`);
      process.exit(3);
    });
}
