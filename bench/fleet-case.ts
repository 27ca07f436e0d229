/**
 * One case of the fleet bench (bench/fleet.ts): a fresh simulator process
 * and a fresh gateway process (its CLI, a temp data folder), all devices
 * `ok`, a warm-up, then a measured window. Measured from outside only:
 *  - /proc of the gateway every second (CPU, RSS, write_bytes, the data
 *    folder, ledger.db + -wal + -shm): bench/proc-stats.ts;
 *  - the gateway's /metrics (admin token from <dataDir>/secrets.json) at the
 *    window's start and end and every `scrapeEveryS` between (a scrape costs
 *    the gateway CPU too, so not every second): readings committed, polls,
 *    batches and commit time, events, link errors, event-loop lag;
 *  - the simulator's own counts (requests, registers served) at the same
 *    instants, as the cross-check of what the gateway says it delivered.
 * The gateway and the simulator are stopped at the end, also on errors.
 */
import Database from 'better-sqlite3';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fleetConfig, fleetFlows, plannedReads, pointAddresses, SIM_REGISTERS, type Layout } from './fleet-layout';
import {
  httpGet,
  releaseTempDir,
  removeOnExit,
  startGateway,
  startSim,
  stopGateway,
  waitFor,
  type GatewayHandle,
  type SimHandle,
} from './fleet-procs';
import type { FleetSimStats } from './fleet-sim';
import { summarise, type CaseResult, type Scrape } from './fleet-summary';
import { clockTicks, cpuTicks, fileBytes, machineCpu, ProcSampler, type CpuTimes } from './proc-stats';
import { PromText } from './prom-text';

export interface CaseSpec {
  id: string;
  title: string;
  devices: number;
  points: number;
  pollMs: number;
  layout: Layout;
  warmupS: number;
  seconds: number;
  editor: boolean;
  settlement: boolean;
  /** taskset -c list for the gateway (saturation case) and the simulator. */
  gatewayCpus?: string;
  simCpus?: string;
  scrapeEveryS: number;
  /** End the window early when the gateway's RSS passes this (protects a shared machine). */
  maxRssMiB: number;
  readyTimeoutS: number;
  /** Before starting, wait up to this long for the machine's busy CPU to fall below `quietBelowCores` (0: do not wait). */
  waitQuietS: number;
  quietBelowCores: number;
  logLevel: string;
  keep: boolean;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms))),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

export interface CommitMark {
  atMs: number;
  readings: number;
}

export interface CaseContext {
  spec: CaseSpec;
  sampler: ProcSampler;
  simPid: number;
  startup: { apiUpS: number; allOkS: number | null; devicesOkAtStart: number };
  window: { t0: number; t1: number };
  scrapes: Scrape[];
  sim0: FleetSimStats;
  sim1: FleetSimStats;
  machine0: CpuTimes;
  machine1: CpuTimes;
  /** utime+stime ticks of the bench itself and of the simulator at the window's ends. */
  self: [number, number];
  simTicks: [number, number];
  channels: { count: number; vouchersInWindow: number } | null;
  aborted: string | null;
  readsPerPoll: { requests: number; registers: number };
  /** ledger.db and its -wal at the window's end (before the gateway's stop checkpoints the WAL). */
  ledgerFiles: { db: number; wal: number };
  /** What the ledger holds (pages in use, WAL included, as a reader sees it) at the window's start and end, bytes. */
  ledgerContent: [number | null, number | null];
  /** The last commit and the readings committed up to it, at the window's start and end. */
  commitMarks: [CommitMark | null, CommitMark | null];
  /** The machine's busy cores just before the case started (nothing of ours running), and how long we waited for it. */
  machineBefore: { busyCores: number; waitedS: number; quiet: boolean };
}

/**
 * Bytes the ledger holds, as a reader sees it (WAL included): pages in use ×
 * page size, from a read-only connection (WAL readers do not block the
 * gateway). The files' sizes are no measure: the WAL is a reused ring, and
 * ledger.db only grows at checkpoints. null when it cannot be read.
 */
function ledgerContentBytes(file: string): number | null {
  return readLedger(file, (db) => {
    const n = (p: string): number => Number(db.pragma(p, { simple: true }));
    return (n('page_count') - n('freelist_count')) * n('page_size');
  });
}

/** The last commit (its time) and the readings committed up to it; null when the ledger cannot be read. */
function ledgerCommitMark(file: string): CommitMark | null {
  return readLedger(file, (db) => {
    const r = db.prepare('SELECT max(at_ms) AS atMs, sum(n_readings) AS readings FROM batches').get() as CommitMark;
    return r.atMs === null ? null : { atMs: Number(r.atMs), readings: Number(r.readings) };
  });
}

/** Read the gateway's ledger on a read-only connection (a WAL reader never blocks it). */
function readLedger<T>(file: string, read: (db: Database.Database) => T): T | null {
  try {
    const db = new Database(file, { readonly: true, fileMustExist: true });
    try {
      return read(db);
    } finally {
      db.close();
    }
  } catch {
    return null;
  }
}

/** Busy cores of the whole machine over `ms`. */
async function machineBusyCores(ms: number): Promise<number> {
  const a = machineCpu();
  await sleep(ms);
  const b = machineCpu();
  const sum = (xs: number[]): number => xs.reduce((t, x) => t + x, 0);
  return (sum(b.busy) - sum(a.busy)) / clockTicks() / (ms / 1000);
}

/** Wait (up to spec.waitQuietS) for other work on the machine to calm down; what was seen. */
async function waitQuiet(spec: CaseSpec): Promise<{ busyCores: number; waitedS: number; quiet: boolean }> {
  const t0 = Date.now();
  for (;;) {
    const busy = await machineBusyCores(5000);
    const waitedS = Math.round((Date.now() - t0) / 1000);
    if (busy < spec.quietBelowCores) return { busyCores: Math.round(busy * 100) / 100, waitedS, quiet: true };
    if (spec.waitQuietS <= 0 || waitedS >= spec.waitQuietS) return { busyCores: Math.round(busy * 100) / 100, waitedS, quiet: false };
    console.log(`    machine busy (${busy.toFixed(2)} cores by others), waiting (${waitedS}/${spec.waitQuietS} s)`);
    await sleep(10_000);
  }
}

export async function runCase(spec: CaseSpec): Promise<CaseResult> {
  const before = await waitQuiet(spec);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `m2m-bench-fleet-${spec.id.replace(/\W/g, '')}-`));
  removeOnExit(dir);
  const dataDir = path.join(dir, 'data');
  fs.mkdirSync(dataDir);
  let sim: SimHandle | null = null;
  let gw: GatewayHandle | null = null;
  let sampler: ProcSampler | null = null;
  try {
    sim = await startSim({ devices: spec.devices, registers: SIM_REGISTERS, tickMs: 1000, cpus: spec.simCpus });
    const s = sim;
    const configFile = path.join(dir, 'm2m-gateway.yaml');
    fs.writeFileSync(
      configFile,
      fleetConfig({
        devices: spec.devices,
        points: spec.points,
        pollMs: spec.pollMs,
        layout: spec.layout,
        ports: s.ports,
        editor: spec.editor,
        settlement: spec.settlement,
      }),
    );
    fs.writeFileSync(path.join(dataDir, 'flows.json'), JSON.stringify(fleetFlows(spec.points), null, 1));
    gw = startGateway({
      config: configFile,
      cwd: dir,
      logFile: path.join(dir, 'gateway.log'),
      cpus: spec.gatewayCpus,
      env: { M2M_LOG_LEVEL: spec.logLevel },
    });
    const g = gw;
    const ledger = path.join(dataDir, 'ledger.db');
    sampler = new ProcSampler(g.pid, dataDir, [ledger, `${ledger}-wal`, `${ledger}-shm`]);
    const smp = sampler;

    const api = await withTimeout(g.apiUrl, 180_000, 'gateway start');
    const apiUpS = smp.now();
    const token = (JSON.parse(fs.readFileSync(path.join(dataDir, 'secrets.json'), 'utf8')) as { adminToken: string }).adminToken;
    const alive = (): void => {
      if (g.child.exitCode !== null || g.child.signalCode !== null)
        throw new Error(`gateway died (code ${g.child.exitCode}, ${g.child.signalCode}):\n${g.tail()}`);
    };

    let devicesOk = 0;
    const allOk = await waitFor(
      async () => {
        alive();
        const r = await httpGet(`${api}/api/devices`, token);
        if (r.status !== 200) return false;
        devicesOk = (JSON.parse(r.body) as Array<{ state: string }>).filter((d) => d.state === 'ok').length;
        return devicesOk === spec.devices;
      },
      spec.readyTimeoutS * 1000,
      2000,
    );
    const startup = { apiUpS, allOkS: allOk ? smp.now() : null, devicesOkAtStart: devicesOk };
    if (!allOk) console.log(`    only ${devicesOk} of ${spec.devices} devices ok after ${spec.readyTimeoutS} s; measuring anyway`);
    await sleep(spec.warmupS * 1000);
    alive();

    const scrape = async (): Promise<Scrape> => {
      const r = await httpGet(`${api}/metrics`, token, 60_000);
      if (r.status !== 200) throw new Error(`GET /metrics: HTTP ${r.status}`);
      return { tS: smp.now(), ms: r.ms, bytes: Buffer.byteLength(r.body), prom: new PromText(r.body) };
    };

    /** Channels and the vouchers issued on them so far (the sum of their last seq). */
    const channelTotals = async (): Promise<{ count: number; vouchers: number } | null> => {
      const r = await httpGet(`${api}/api/channels`, token).catch(() => null);
      if (r?.status !== 200) return null;
      const list = JSON.parse(r.body) as Array<{ lastSeq?: number }>;
      return { count: list.length, vouchers: list.reduce((t, c) => t + (c.lastSeq ?? 0), 0) };
    };

    // -- window
    const ch0 = await channelTotals();
    const scrapes: Scrape[] = [await scrape()];
    const sim0 = await s.stats();
    const machine0 = machineCpu();
    const self0 = cpuTicks(process.pid) ?? 0;
    const simT0 = cpuTicks(s.pid) ?? 0;
    const content0 = ledgerContentBytes(ledger);
    const mark0 = ledgerCommitMark(ledger);
    const first = smp.sample();
    if (!first) throw new Error('gateway gone at the window start');
    const t0 = first.tS;
    let aborted: string | null = null;
    // whole poll periods: with the devices polled in phase slots, a window ending mid-period
    // would miss or add up to a slot's points (pollMs 4000 over 30 s read 99.2 % delivered)
    const windowS = (Math.ceil((spec.seconds * 1000) / spec.pollMs) * spec.pollMs) / 1000;
    while (smp.now() < t0 + windowS) {
      const left = t0 + windowS - smp.now();
      const step = Math.min(left, spec.scrapeEveryS, 5);
      await sleep(step * 1000);
      alive();
      const last = smp.samples[smp.samples.length - 1]!;
      if (last.rssBytes > spec.maxRssMiB * 1024 * 1024) {
        aborted = `RSS ${Math.round(last.rssBytes / 1048576)} MiB passed --max-rss-mib ${spec.maxRssMiB}; window ended early`;
        break;
      }
      const since = smp.now() - scrapes[scrapes.length - 1]!.tS;
      if (since >= spec.scrapeEveryS - 0.5 && smp.now() < t0 + windowS - 5) scrapes.push(await scrape());
    }
    const end = smp.sample();
    if (!end) throw new Error('gateway gone at the window end');
    const ledgerFiles = { db: fileBytes(ledger), wal: fileBytes(`${ledger}-wal`) };
    const content1 = ledgerContentBytes(ledger);
    const mark1 = ledgerCommitMark(ledger);
    scrapes.push(await scrape());
    const sim1 = await s.stats();
    const machine1 = machineCpu();
    const self1 = cpuTicks(process.pid) ?? 0;
    const simT1 = cpuTicks(s.pid) ?? 0;
    smp.stop();

    const ch1 = await channelTotals();
    const channels = ch0 && ch1 ? { count: ch1.count, vouchersInWindow: ch1.vouchers - ch0.vouchers } : null;

    const stop = await stopGateway(g.child);
    const ctx: CaseContext = {
      spec,
      sampler: smp,
      simPid: s.pid,
      startup,
      window: { t0, t1: end.tS },
      scrapes,
      sim0,
      sim1,
      machine0,
      machine1,
      self: [self0, self1],
      simTicks: [simT0, simT1],
      channels,
      aborted,
      readsPerPoll: plannedReads(pointAddresses(spec.layout, spec.points)),
      ledgerFiles,
      ledgerContent: [content0, content1],
      commitMarks: [mark0, mark1],
      machineBefore: before,
    };
    return summarise(ctx, stop, clockTicks());
  } finally {
    sampler?.stop();
    if (gw && gw.child.exitCode === null && gw.child.signalCode === null) await stopGateway(gw.child, 5000);
    await sim?.stop();
    if (spec.keep) console.log(`    kept ${dir}`);
    releaseTempDir(dir, spec.keep);
  }
}
