/**
 * `npm run bench:fleet` (issue 8): the built gateway as a child process,
 * measured from outside, against a fleet of simulated Modbus TCP devices
 * (bench/fleet-sim.ts, its own process, one port per device), with a tariff
 * on every counter, the Node-RED editor on and settlement on.
 *
 *   a  500 devices × 30 uint16 counters, pollMs 1000, contiguous (30 registers at 0 … 29)
 *   b   50 devices × 30, same
 *   c  500 devices × 30, scattered (30 registers spread over 204 addresses)
 *   d  saturation: the gateway under `taskset -c 0` (the simulator on CPU 1),
 *      500 devices × 30 with pollMs shortened step by step until the
 *      gateway's CPU reaches ~100 % of that core or delivery falls below
 *      99.5 %; reported: points/s delivered there.
 *
 * Per case (bench/fleet-summary.ts): points delivered per second (the
 * gateway's m2m_core_readings_total, cross-checked with the registers the
 * simulator served), CPU in cores from /proc (mean and per minute), RSS
 * (start/end/max, slope after minute 2), write_bytes per day, data-folder
 * and ledger growth per day, commit mean and p99 (p99 only once the gateway
 * has an m2m_ledger_commit_seconds histogram), event-loop lag.
 * Writes bench/results/fleet.json (cases not run this time are kept from the
 * file already there) and prints a table (--markdown: also in Markdown).
 *
 *   npm run bench:fleet
 *   node build/bench/fleet.js [--case a,b,c,d] [--seconds 600] [--other-seconds 120] [--warmup 20]
 *     [--sat-poll-ms 4000,2000,1000,500,250,100,50,20,10] [--sat-devices 500] [--sat-seconds 30] [--sat-warmup 10]
 *     [--scrape-s 60] [--wait-quiet-s 0] [--quiet-below 0.3] [--max-rss-mib 2048] [--log-level info]
 *     [--label TEXT] [--out FILE] [--keep] [--markdown]
 *   --wait-quiet-s S: before each case wait up to S s for the machine's busy CPU (other processes) to fall
 *   below --quiet-below cores; every case records the machine's busy CPU before and during its window.
 *   FLEET_SECONDS=120 npm run bench:fleet     (same as --seconds 120)
 *   FLEET_GATEWAY_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" npm run bench:fleet   (node flags for the gateway only)
 * The gateway runs with the NODE_OPTIONS of the shipped systemd unit (deploy/m2m-gateway.service), as deployed.
 *   node build/bench/fleet.js --recheck [--label TEXT]   (recompute the checks of the results file, relabel; runs nothing)
 * Loopback only. Stops the gateway and the simulator on exit, errors and
 * SIGINT; gives up (killing both) after a bound derived from the durations.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runCase, type CaseSpec } from './fleet-case';
import { POINTS_PER_DEVICE } from './fleet-layout';
import { killAll, killChildrenOnExit, packageRoot } from './fleet-procs';
import type { CaseResult } from './fleet-summary';
import { consoleTable, markdownTable } from './fleet-table';
import { checkTargets, TARGETS } from './fleet-targets';

interface Args {
  cases: string[];
  seconds: number;
  otherSeconds: number;
  warmup: number;
  satPollMs: number[];
  satDevices: number;
  satSeconds: number;
  satWarmup: number;
  scrapeS: number;
  waitQuietS: number;
  quietBelow: number;
  maxRssMiB: number;
  logLevel: string;
  label: string | null;
  out: string;
  keep: boolean;
  markdown: boolean;
  recheck: boolean;
}

function parseArgs(argv: string[]): Args {
  const envSeconds = Number(process.env.FLEET_SECONDS);
  const a: Args = {
    cases: ['a', 'b', 'c', 'd'],
    seconds: envSeconds > 0 ? envSeconds : 600,
    otherSeconds: 0,
    warmup: 20,
    satPollMs: [4000, 2000, 1000, 500, 250, 100, 50, 20, 10],
    satDevices: 500,
    satSeconds: 30,
    satWarmup: 10,
    scrapeS: 60,
    waitQuietS: 0,
    quietBelow: 0.3,
    maxRssMiB: 2048,
    logLevel: 'info',
    label: null,
    out: path.join(packageRoot(), 'bench', 'results', 'fleet.json'),
    keep: false,
    markdown: false,
    recheck: false,
  };
  const nums = (v: string): number[] =>
    v
      .split(',')
      .map(Number)
      .filter((n) => n > 0);
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i]!;
    const v = (): string => {
      const x = argv[++i];
      if (x === undefined) throw new Error(`${k} needs a value`);
      return x;
    };
    if (k === '--case')
      a.cases = v()
        .split(',')
        .map((c) => c.trim().toLowerCase());
    else if (k === '--seconds') a.seconds = Number(v());
    else if (k === '--other-seconds') a.otherSeconds = Number(v());
    else if (k === '--warmup') a.warmup = Number(v());
    else if (k === '--sat-poll-ms') a.satPollMs = nums(v());
    else if (k === '--sat-devices') a.satDevices = Number(v());
    else if (k === '--sat-seconds') a.satSeconds = Number(v());
    else if (k === '--sat-warmup') a.satWarmup = Number(v());
    else if (k === '--scrape-s') a.scrapeS = Number(v());
    else if (k === '--wait-quiet-s') a.waitQuietS = Number(v());
    else if (k === '--quiet-below') a.quietBelow = Number(v());
    else if (k === '--max-rss-mib') a.maxRssMiB = Number(v());
    else if (k === '--log-level') a.logLevel = v();
    else if (k === '--label') a.label = v();
    else if (k === '--out') a.out = path.resolve(v());
    else if (k === '--keep') a.keep = true;
    else if (k === '--markdown') a.markdown = true;
    else if (k === '--recheck') a.recheck = true;
    else throw new Error(`unknown option ${k} (see the header of bench/fleet.ts)`);
  }
  if (a.otherSeconds <= 0) a.otherSeconds = Math.min(a.seconds, 120);
  for (const c of a.cases) if (!['a', 'b', 'c', 'd'].includes(c)) throw new Error(`--case: unknown case ${c} (a, b, c, d)`);
  if (!(a.seconds >= 10 && a.otherSeconds >= 10 && a.satSeconds >= 10)) throw new Error('durations: at least 10 s');
  return a;
}

function git(args: string[]): string {
  try {
    return execFileSync('git', args, { cwd: packageRoot(), encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return '';
  }
}

function baseSpec(args: Args): Omit<CaseSpec, 'id' | 'title' | 'devices' | 'pollMs' | 'layout' | 'seconds'> {
  return {
    points: POINTS_PER_DEVICE,
    warmupS: args.warmup,
    editor: true,
    settlement: true,
    scrapeEveryS: args.scrapeS,
    maxRssMiB: args.maxRssMiB,
    readyTimeoutS: 120,
    waitQuietS: args.waitQuietS,
    quietBelowCores: args.quietBelow,
    logLevel: args.logLevel,
    keep: args.keep,
  };
}

const SAT_CPU = 0.95;
const SAT_DELIVERY_PCT = 99.5;

async function runSaturation(args: Args) {
  const steps: CaseResult[] = [];
  const errors: Array<{ pollMs: number; error: string }> = [];
  let stopReason = 'ramp exhausted before saturation';
  for (const pollMs of args.satPollMs) {
    const offered = (args.satDevices * POINTS_PER_DEVICE * 1000) / pollMs;
    console.log(
      `  d: ${args.satDevices}×${POINTS_PER_DEVICE} at pollMs ${pollMs} (${offered.toLocaleString('en-US')} points/s offered), gateway on CPU 0`,
    );
    try {
      const r = await runCase({
        ...baseSpec(args),
        id: `d@${pollMs}`,
        title: `saturation step: pollMs ${pollMs}, gateway pinned to CPU 0, simulator to CPU 1`,
        devices: args.satDevices,
        pollMs,
        layout: 'contiguous',
        seconds: args.satSeconds,
        warmupS: args.satWarmup,
        gatewayCpus: '0',
        simCpus: '1',
        scrapeEveryS: Math.max(args.satSeconds, 10),
      });
      steps.push(r);
      console.log(
        `     ${r.delivery.pointsPerSec.toLocaleString('en-US')} points/s (${r.delivery.percentOfExpected} %), ${r.cpu.meanCores} core, RSS ${r.rss.windowEndMiB} MiB`,
      );
      if (r.cpu.meanCores >= SAT_CPU || r.delivery.percentOfExpected < SAT_DELIVERY_PCT || r.aborted) {
        stopReason =
          r.aborted ??
          (r.cpu.meanCores >= SAT_CPU
            ? `CPU ${r.cpu.meanCores} core ≥ ${SAT_CPU}`
            : `delivery ${r.delivery.percentOfExpected} % < ${SAT_DELIVERY_PCT} %`);
        break;
      }
    } catch (err) {
      errors.push({ pollMs, error: String(err instanceof Error ? err.message : err).slice(0, 2000) });
      stopReason = `step failed: ${errors[errors.length - 1]!.error.split('\n')[0]}`;
      break;
    }
  }
  const best = steps.reduce<CaseResult | null>((b, r) => (!b || r.delivery.pointsPerSec > b.delivery.pointsPerSec ? r : b), null);
  // The step where the gateway had the most CPU: its points per CPU-second, scaled to a whole core.
  const busiest = steps.reduce<CaseResult | null>((b, r) => (!b || r.cpu.meanCores > b.cpu.meanCores ? r : b), null);
  const perCore = busiest && busiest.cpu.meanCores > 0 ? Math.round(busiest.delivery.pointsPerSec / busiest.cpu.meanCores) : null;
  const measuredAtFullCore = busiest !== null && busiest.cpu.meanCores >= SAT_CPU;
  return {
    id: 'd',
    title: `saturation on one core: gateway under taskset -c 0 (simulator on CPU 1), ${args.satDevices}×${POINTS_PER_DEVICE} contiguous, pollMs ramped ${args.satPollMs.join(', ')}`,
    criterion: `stop at the first step with gateway CPU ≥ ${SAT_CPU} core or delivery < ${SAT_DELIVERY_PCT} %`,
    stopReason,
    /** Most points/s delivered at any step (≥ 99.5 % or not). */
    maxDeliveredPointsPerSec: best?.delivery.pointsPerSec ?? null,
    atStep: best
      ? {
          pollMs: best.setup.pollMs,
          cores: best.cpu.meanCores,
          percentOfExpected: best.delivery.percentOfExpected,
          cpu0BusyCores: best.cpu.machineBusyPerCpu[0] ?? null,
        }
      : null,
    /**
     * Points/s at 100 % of one core: measured when the gateway itself reached ≥ 0.95 core; otherwise
     * (CPU 0 shared with other processes, or delivery failed first) points per CPU-second of the
     * busiest step — an estimate that assumes cost per point stays flat up to a full core.
     */
    saturationPointsPerSec: measuredAtFullCore ? busiest.delivery.pointsPerSec : perCore,
    saturationMethod: measuredAtFullCore
      ? `measured: gateway at ${busiest.cpu.meanCores} core`
      : busiest
        ? `estimated: ${busiest.delivery.pointsPerSec} points/s at ${busiest.cpu.meanCores} core (pollMs ${busiest.setup.pollMs}), scaled to 1 core`
        : 'no step completed',
    pointsPerCoreSecond: perCore,
    steps,
    errors,
  };
}

interface ResultsFile {
  bench: 'fleet';
  description: string;
  last: unknown;
  runs: Record<string, Record<string, unknown>>;
  targets: typeof TARGETS;
  checks: ReturnType<typeof checkTargets>;
  cases: Record<string, unknown>;
  totalSeconds?: number;
}

function readResults(file: string): Partial<ResultsFile> {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as Partial<ResultsFile>;
  } catch {
    return {};
  }
}

function writeAndPrint(file: string, out: ResultsFile, markdown: boolean): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify(out, null, 2) + '\n');
  const rows: CaseResult[] = [];
  for (const id of ['a', 'b', 'c']) if (out.cases[id]) rows.push(out.cases[id] as CaseResult);
  const d = out.cases.d as Awaited<ReturnType<typeof runSaturation>> | undefined;
  if (d) rows.push(...d.steps);
  console.log(consoleTable(rows));
  if (d)
    console.log(
      `saturation (one core): ${d.saturationPointsPerSec?.toLocaleString('en-US') ?? '–'} points/s (${d.saturationMethod}); stopped: ${d.stopReason}`,
    );
  console.log('* RSS slope over the window only (the gateway ran less than 3 min)');
  if (markdown) console.log('\n' + markdownTable(rows));
  console.log(`wrote ${path.relative(process.cwd(), file)}`);
}

/** --recheck: recompute the checks of a results file (and relabel its runs with --label); runs nothing. */
function recheck(args: Args): void {
  const prev = readResults(args.out);
  if (!prev.cases) throw new Error(`${args.out}: no cases to recheck`);
  const runs = prev.runs ?? {};
  if (args.label !== null) for (const id of Object.keys(runs)) runs[id] = { ...runs[id], label: args.label };
  const last = args.label !== null && prev.last ? { ...(prev.last as object), label: args.label } : prev.last;
  writeAndPrint(
    args.out,
    {
      bench: 'fleet',
      description: prev.description ?? '',
      last,
      runs,
      targets: TARGETS,
      checks: checkTargets(prev.cases),
      cases: prev.cases,
      totalSeconds: prev.totalSeconds,
    },
    args.markdown,
  );
}

async function main(): Promise<void> {
  killChildrenOnExit();
  const args = parseArgs(process.argv.slice(2));
  if (args.recheck) return recheck(args);
  const head = git(['rev-parse', '--short', 'HEAD']) || 'unknown';
  const gatewayCommit = git(['log', '-1', '--format=%h', '--', 'gateway', 'assembly']) || head;
  const dirty = git(['status', '--porcelain', '--', 'gateway', 'assembly']) !== '';
  const label = args.label ?? `commit ${gatewayCommit}${dirty ? '+dirty' : ''}`;
  // A bound on the whole run: start-up, warm-up and window of every case, plus slack.
  const perCase = (s: number, w: number): number => s + w + 300 + args.waitQuietS;
  const boundS =
    (args.cases.includes('a') ? perCase(args.seconds, args.warmup) : 0) +
    ['b', 'c'].filter((c) => args.cases.includes(c)).length * perCase(args.otherSeconds, args.warmup) +
    (args.cases.includes('d') ? args.satPollMs.length * perCase(args.satSeconds, args.satWarmup) : 0);
  setTimeout(() => {
    console.error(`fleet bench: still running after ${boundS} s; killing the gateway and the simulator`);
    killAll();
    process.exit(3);
  }, boundS * 1000).unref();
  console.log(
    `fleet bench (${label}): cases ${args.cases.join(', ')}; case a ${args.seconds} s, b/c ${args.otherSeconds} s, warm-up ${args.warmup} s; bound ${boundS} s`,
  );

  const started = performance.now();
  const results: Record<string, unknown> = {};
  const errors: Record<string, string> = {};
  const plain: Array<[string, Omit<CaseSpec, keyof ReturnType<typeof baseSpec>> & { layout: 'contiguous' | 'scattered' }]> = [
    [
      'a',
      {
        id: 'a',
        title: '500 devices × 30 uint16 counters at 1 s, contiguous, tariff on every counter, editor on, settlement on',
        devices: 500,
        pollMs: 1000,
        layout: 'contiguous',
        seconds: args.seconds,
      },
    ],
    [
      'b',
      {
        id: 'b',
        title: '50 devices × 30 uint16 counters at 1 s, contiguous, tariff on every counter, editor on, settlement on',
        devices: 50,
        pollMs: 1000,
        layout: 'contiguous',
        seconds: args.otherSeconds,
      },
    ],
    [
      'c',
      {
        id: 'c',
        title: '500 devices × 30 uint16 counters at 1 s, scattered over 204 addresses, tariff on every counter, editor on, settlement on',
        devices: 500,
        pollMs: 1000,
        layout: 'scattered',
        seconds: args.otherSeconds,
      },
    ],
  ];
  for (const [id, spec] of plain) {
    if (!args.cases.includes(id)) continue;
    console.log(`  ${id}: ${spec.title}; ${spec.seconds} s window`);
    try {
      const r = await runCase({ ...baseSpec(args), ...spec });
      results[id] = r;
      console.log(
        `     ${r.delivery.pointsPerSec.toLocaleString('en-US')} points/s (${r.delivery.percentOfExpected} %), ${r.cpu.meanCores} core, RSS ${r.rss.windowEndMiB} MiB`,
      );
    } catch (err) {
      errors[id] = String(err instanceof Error ? err.message : err).slice(0, 2000);
      console.error(`     case ${id} failed: ${errors[id]}`);
    }
  }
  if (args.cases.includes('d')) results.d = await runSaturation(args);

  // Keep the cases not run this time from the file already there.
  const previous = readResults(args.out);
  const run = {
    label,
    head,
    gatewayCommit,
    gatewayDirty: dirty,
    date: new Date().toISOString(),
    node: process.version,
    cpu: `${os.cpus()[0]?.model ?? 'unknown'} (${os.cpus().length} cores)`,
    loadAverageAtEnd: os.loadavg().map((x) => Math.round(x * 100) / 100),
  };
  const cases: Record<string, unknown> = { ...(previous.cases ?? {}) };
  const runs: Record<string, Record<string, unknown>> = { ...(previous.runs ?? {}) };
  for (const id of Object.keys(results)) {
    cases[id] = results[id];
    runs[id] = run;
  }
  for (const id of Object.keys(errors)) runs[id] = { ...run, error: errors[id] };
  writeAndPrint(
    args.out,
    {
      bench: 'fleet',
      description:
        'The built gateway as a child process (CLI, /metrics, /proc) against a simulated Modbus TCP fleet in another process; see bench/fleet.ts',
      last: run,
      runs,
      targets: TARGETS,
      checks: checkTargets(cases),
      cases,
      totalSeconds: Math.round((performance.now() - started) / 1000),
    },
    args.markdown,
  );
  if (Object.keys(errors).length > 0) process.exitCode = 1;
}

main().catch((err: unknown) => {
  console.error(err);
  killAll();
  process.exit(1);
});
