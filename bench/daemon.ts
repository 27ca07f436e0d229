/**
 * The whole gateway under load, in one run: what an operator sizing a 1–2
 * core gateway needs. A simulator child (bench/daemon-sim.ts) serves the
 * fleet (bench/daemon-fleet.ts: N devices × 2 counters + 2 gauges, counters
 * moving every second) from several modbus-serial servers on loopback; for
 * each fleet size a fresh gateway child (bench/daemon-run.ts) polls it at
 * pollMs with the WASM core and, as the rival in the same run, with the BigInt
 * ReferenceCore, for a fixed window each. Reported per run: readings/s
 * metered, batches/s committed, process CPU per 1000 readings, the core's own
 * share of it, RSS and heap, event-loop delay p99, ledger growth per hour.
 * Then the metering-only microbench (bench/daemon-metering.ts):
 * MeteringService.ingest + flush with the real SQLite ledger, WASM vs
 * reference. Writes bench/results/daemon.json. Loopback only; exits by itself.
 *
 *   npm run bench:daemon
 *   (or: npm run build && npm run build:bench && node build/bench/daemon.js [--devices 50,200] [--seconds 15] [--warmup 3]
 *        [--per-link 25] [--poll-ms 1000] [--metering-readings 100000] [--batches 100,1000] [--out FILE])
 */
import { fork, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { packageRoot } from '../gateway/base/package-root';
import { bankCount } from './daemon-fleet';
import { runMeteringBench, type MeteringBenchResult } from './daemon-metering';
import type { CoreKind, RunResult, RunSpec } from './daemon-run';

interface Args {
  devices: number[];
  seconds: number;
  warmup: number;
  perLink: number;
  pollMs: number;
  meteringReadings: number;
  batches: number[];
  out: string;
}

function parseArgs(argv: string[]): Args {
  const a: Args = {
    devices: [50, 200],
    seconds: 15,
    warmup: 3,
    perLink: 25,
    pollMs: 1000,
    meteringReadings: 100_000,
    batches: [100, 1000],
    out: path.join(packageRoot(), 'bench', 'results', 'daemon.json'),
  };
  const list = (v: string | undefined): number[] =>
    (v ?? '')
      .split(',')
      .map(Number)
      .filter((n) => n > 0);
  for (let i = 0; i < argv.length; i += 2) {
    const v = argv[i + 1];
    if (argv[i] === '--devices') a.devices = list(v);
    else if (argv[i] === '--seconds') a.seconds = Number(v);
    else if (argv[i] === '--warmup') a.warmup = Number(v);
    else if (argv[i] === '--per-link') a.perLink = Number(v);
    else if (argv[i] === '--poll-ms') a.pollMs = Number(v);
    else if (argv[i] === '--metering-readings') a.meteringReadings = Number(v);
    else if (argv[i] === '--batches') a.batches = list(v);
    else if (argv[i] === '--out') a.out = path.resolve(v ?? '');
  }
  return a;
}

/** The first IPC message of `child`, or a rejection when it exits first or takes longer than `ms` (then it is killed). */
function firstMessage<T>(child: ChildProcess, what: string, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${what}: no answer within ${ms} ms`));
    }, ms);
    child.once('message', (m) => {
      clearTimeout(timer);
      resolve(m as T);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${what} exited (code ${code}) before answering`));
    });
  });
}

const exited = (child: ChildProcess): Promise<void> =>
  child.exitCode !== null ? Promise.resolve() : new Promise((resolve) => child.once('exit', () => resolve()));

async function runOnce(args: Args, devices: number, core: CoreKind, ports: number[]): Promise<RunResult> {
  const spec: RunSpec = { devices, perLink: args.perLink, pollMs: args.pollMs, core, ports, warmupS: args.warmup, seconds: args.seconds };
  const child = fork(path.join(__dirname, 'daemon-run.js'), [JSON.stringify(spec)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const result = await firstMessage<RunResult>(
    child,
    `gateway run (${devices} devices, ${core})`,
    (args.warmup + args.seconds + 45) * 1000,
  );
  await exited(child);
  return result;
}

const ratio = (a: number, b: number): number => (b > 0 ? Math.round((a / b) * 100) / 100 : 0);
const col = (v: string | number, w: number): string => String(v).padStart(w);

function printRuns(runs: RunResult[]): void {
  const head = [
    'devices',
    'core',
    'readings/s',
    'batches/s',
    'CPU %',
    'CPU ms/1k rd',
    'core ms/1k',
    'RSS MiB',
    'heap MiB',
    'lag p99 ms',
    'ledger MiB/h',
  ];
  const widths = [8, 10, 11, 10, 7, 13, 11, 8, 9, 11, 13];
  console.log(head.map((h, i) => col(h, widths[i]!)).join(''));
  for (const r of runs) {
    const cells = [
      r.devices,
      r.core,
      r.readingsPerSec,
      r.batchesPerSec,
      r.cpuPercentOfCore,
      r.cpuMsPer1000Readings,
      r.coreMsPer1000Readings,
      r.rssMiB,
      r.heapUsedMiB,
      r.eventLoopLagMs.p99,
      r.ledgerMiBPerHour,
    ];
    console.log(cells.map((c, i) => col(c, widths[i]!)).join(''));
  }
}

function printMetering(m: MeteringBenchResult): void {
  console.log(`metering only (ingest + flush, SQLite ledger), ${m.readings.toLocaleString('en-US')} readings of ${m.devices} devices:`);
  for (const r of m.rows) {
    console.log(
      `  batch ${col(r.batchSize, 5)}  ${r.core.padEnd(10)}${col(r.readingsPerSec.toLocaleString('en-US'), 10)} readings/s  ${col(r.msPerBatch, 7)} ms/batch  core ${(r.coreShare * 100).toFixed(1)} % of it`,
    );
  }
  console.log(
    `  wasm/reference: ${Object.entries(m.wasmVsReference)
      .map(([k, v]) => `${k} ${v}x`)
      .join(', ')}; totals equal: ${m.totalsEqual}`,
  );
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const started = performance.now();
  const maxDevices = Math.max(...args.devices);
  console.log(
    `daemon bench: ${args.devices.join(' and ')} devices × 4 points at pollMs ${args.pollMs}, ${args.perLink} devices per link/server, ` +
      `${args.warmup} s warm-up + ${args.seconds} s window per run, WASM vs reference`,
  );
  const sim = fork(path.join(__dirname, 'daemon-sim.js'), [String(maxDevices), String(args.perLink), '1000'], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const runs: RunResult[] = [];
  let simStats: { cpuUs: number; ticks: number; uptimeS: number };
  try {
    const { ports } = await firstMessage<{ ports: number[] }>(sim, 'simulator', 20_000);
    // ABBA order over the fleet sizes, so a drift of the machine does not fall on one core only.
    args.devices.forEach((n, k) => {
      const order: CoreKind[] = k % 2 === 0 ? ['wasm', 'reference'] : ['reference', 'wasm'];
      for (const core of order) runs.push({ devices: n, core } as RunResult);
    });
    for (let i = 0; i < runs.length; i++) {
      const want = runs[i]!;
      const r = await runOnce(args, want.devices, want.core, ports);
      runs[i] = r;
      console.log(
        `  ${r.devices} devices, ${r.core}: ${r.readingsPerSec} readings/s, ${r.cpuMsPer1000Readings} CPU ms per 1000 readings, RSS ${r.rssMiB} MiB`,
      );
    }
    sim.send('stats');
    simStats = await firstMessage(sim, 'simulator stats', 5000);
  } finally {
    if (sim.connected) sim.send('stop');
    const t = setTimeout(() => sim.kill('SIGKILL'), 5000);
    await exited(sim);
    clearTimeout(t);
  }
  runs.sort((a, b) => a.devices - b.devices || (a.core === 'wasm' ? -1 : 1));
  printRuns(runs);

  const daemonRatios: Record<
    string,
    { cpuPerReadingReferenceVsWasm: number; coreTimeReferenceVsWasm: number; rssReferenceMinusWasmMiB: number }
  > = {};
  for (const n of args.devices) {
    const w = runs.find((r) => r.devices === n && r.core === 'wasm')!;
    const ref = runs.find((r) => r.devices === n && r.core === 'reference')!;
    daemonRatios[`devices${n}`] = {
      cpuPerReadingReferenceVsWasm: ratio(ref.cpuMsPer1000Readings, w.cpuMsPer1000Readings),
      coreTimeReferenceVsWasm: ratio(ref.coreMsPer1000Readings, w.coreMsPer1000Readings),
      rssReferenceMinusWasmMiB: Math.round((ref.rssMiB - w.rssMiB) * 10) / 10,
    };
    console.log(
      `${n} devices: reference/wasm CPU per reading ${daemonRatios[`devices${n}`]!.cpuPerReadingReferenceVsWasm}x, core time ${daemonRatios[`devices${n}`]!.coreTimeReferenceVsWasm}x`,
    );
  }
  const simRequests = runs.reduce((t, r) => t + (r.readingsPerSec / 4) * r.windowS, 0);

  const metering = runMeteringBench({ readings: args.meteringReadings, batchSizes: args.batches, rounds: 5 });
  printMetering(metering);

  const result = {
    bench: 'daemon',
    date: new Date().toISOString(),
    node: process.version,
    cpu: `${os.cpus()[0]?.model ?? 'unknown'} (${os.cpus().length} cores)`,
    setup: {
      devices: args.devices,
      pointsPerDevice: 4,
      countersPerDevice: 2,
      pollMs: args.pollMs,
      devicesPerLink: args.perLink,
      servers: bankCount({ devices: maxDevices, perLink: args.perLink }),
      warmupS: args.warmup,
      windowS: args.seconds,
      flushMs: 250,
      editor: false,
      ledger: 'SQLite WAL + synchronous NORMAL in a temp dir',
      peer: 'modbus-serial ServerTCP register banks in a child process, loopback; counters change every 1 s',
    },
    daemon: { runs, ratios: daemonRatios },
    simulator: {
      cpuPercentOfCore: Math.round((simStats.cpuUs / 1e6 / simStats.uptimeS) * 1000) / 10,
      approxRequestsServedInWindows: Math.round(simRequests),
    },
    metering,
    totalSeconds: Math.round((performance.now() - started) / 100) / 10,
  };
  fs.mkdirSync(path.dirname(args.out), { recursive: true });
  fs.writeFileSync(args.out, JSON.stringify(result, null, 2) + '\n');
  console.log(`wrote ${path.relative(process.cwd(), args.out)} (${result.totalSeconds} s)`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
