/**
 * Gateway child of the daemon bench (bench/daemon.ts): one configuration in
 * a fresh process — the in-process Gateway (daemon/gateway.ts) with the WASM core
 * or the BigInt reference, a real SQLite ledger in a temp dir, real
 * ModbusTcpLinks polling the simulator child's servers, the fleet's
 * flows.json, no editor. After a warm-up (every device 'ok', JIT warm) it
 * measures a fixed window: readings metered and batches committed (from the
 * metering service's 'batch' events), process CPU (process.cpuUsage), the
 * core's own time, RSS and heap, event-loop delay and the ledger's logical
 * size. Sends one RunResult over IPC and exits.
 *
 * Started with one JSON argument: RunSpec.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import Database from 'better-sqlite3';
import { parseConfig } from '../gateway/config/load';
import { Gateway } from '../gateway/daemon/gateway';
import type { CommittedBatch } from '../gateway/meter/metering-service';
import { ReferenceCore } from '../gateway/core/reference';
import { loadWasmCore } from '../gateway/core/wasm-core';
import { LEDGER_FILE } from '../gateway/ledger/sqlite-store';
import { silentLogger } from '../gateway/base/log';
import { fleetConfig, fleetFlows, type FleetShape } from './daemon-fleet';
import { TimedCore } from './timed-core';

export type CoreKind = 'wasm' | 'reference';

export interface RunSpec extends FleetShape {
  core: CoreKind;
  ports: number[];
  warmupS: number;
  seconds: number;
}

export interface RunResult {
  core: CoreKind;
  devices: number;
  points: number;
  links: number;
  pollMs: number;
  windowS: number;
  readings: number;
  readingsPerSec: number;
  /** Counter readings that billed something (non-zero delta). */
  deltas: number;
  accruals: number;
  batches: number;
  batchesPerSec: number;
  /** Mean readings per committed batch. */
  readingsPerBatch: number;
  commitMsP50: number;
  cpuMs: number;
  /** Process CPU (user + system) as % of one core. */
  cpuPercentOfCore: number;
  cpuMsPer1000Readings: number;
  /** Time inside core.process() + core.snapshot(), per 1000 readings. */
  coreMsPer1000Readings: number;
  coreShareOfCpu: number;
  rssMiB: number;
  rssMaxMiB: number;
  heapUsedMiB: number;
  heapUsedMaxMiB: number;
  ledgerBytesStart: number;
  ledgerBytesGrowth: number;
  ledgerBytesPerReading: number;
  ledgerMiBPerHour: number;
  /** Event-loop delay beyond the 10 ms sampling period (perf_hooks.monitorEventLoopDelay). */
  eventLoopLagMs: { p50: number; p99: number; max: number };
  /** Device states not 'ok' at the end, and state changes during the window (both 0 on a healthy run). */
  devicesNotOk: number;
  stateChanges: number;
}

const MiB = 1024 * 1024;
/** The event-loop delay histogram's sampling period; its samples are whole periods, so this is taken off. */
const LAG_RESOLUTION_MS = 10;
const r2 = (x: number): number => Math.round(x * 100) / 100;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Bytes of the ledger's live pages (WAL included: a reader sees committed frames). */
function ledgerBytes(dir: string): number {
  const db = new Database(path.join(dir, LEDGER_FILE), { readonly: true, fileMustExist: true });
  try {
    const pages = db.pragma('page_count', { simple: true }) as number;
    const free = db.pragma('freelist_count', { simple: true }) as number;
    const size = db.pragma('page_size', { simple: true }) as number;
    return (pages - free) * size;
  } finally {
    db.close();
  }
}

/** Delay beyond the sampling period, ms. */
const lagMs = (ns: number): number => r2(Math.max(0, ns / 1e6 - LAG_RESOLUTION_MS));

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)]! : 0;
};

async function run(spec: RunSpec): Promise<RunResult> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `m2m-bench-daemon-${spec.core}-`));
  const lag = monitorEventLoopDelay({ resolution: LAG_RESOLUTION_MS });
  lag.enable();
  let gw: Gateway | null = null;
  try {
    fs.writeFileSync(path.join(dir, 'flows.json'), JSON.stringify(fleetFlows));
    const cfg = parseConfig(fleetConfig(spec, spec.ports), dir);
    const core = new TimedCore(spec.core === 'wasm' ? loadWasmCore() : new ReferenceCore());
    gw = await Gateway.start(cfg, silentLogger(), { core, http: { host: '127.0.0.1', port: 0 }, editor: false });
    const g = gw;

    let counting = false;
    const tally = { readings: 0, deltas: 0, accruals: 0, batches: 0, commitMs: [] as number[] };
    g.metering.on('batch', (b: CommittedBatch) => {
      if (!counting) return;
      tally.readings += b.metered.readings;
      tally.deltas += b.metered.deltas;
      tally.accruals += b.metered.accruals;
      tally.batches++;
      if (b.commitMs !== undefined) tally.commitMs.push(b.commitMs);
    });
    let stateChanges = 0;
    g.backend.stream.on('event', (e: { kind?: string }) => {
      if (counting && e.kind === 'device-state') stateChanges++;
    });

    // Warm-up: every device read and 'ok', then a few more poll periods.
    const ids = cfg.devices.map((d) => d.id);
    const deadline = Date.now() + 20_000;
    while (ids.some((id) => g.views.get(id)?.state !== 'ok')) {
      if (Date.now() > deadline)
        throw new Error(`devices not ok after 20 s: ${ids.filter((id) => g.views.get(id)?.state !== 'ok').length}`);
      await sleep(100);
    }
    await sleep(spec.warmupS * 1000);

    // Window.
    const bytes0 = ledgerBytes(dir);
    const core0 = { ns: core.ns };
    const mem: { rss: number; heap: number }[] = [];
    counting = true;
    lag.reset();
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const sampler = setInterval(() => {
      const m = process.memoryUsage();
      mem.push({ rss: m.rss, heap: m.heapUsed });
    }, 500);
    await sleep(spec.seconds * 1000);
    const cpu = process.cpuUsage(cpu0);
    const windowS = (performance.now() - t0) / 1000;
    counting = false;
    clearInterval(sampler);
    const m = process.memoryUsage();
    mem.push({ rss: m.rss, heap: m.heapUsed });
    const bytes1 = ledgerBytes(dir);
    const coreMs = Number(core.ns - core0.ns) / 1e6;
    const cpuMs = (cpu.user + cpu.system) / 1000;
    const per1000 = (x: number): number => (tally.readings ? r2((x / tally.readings) * 1000) : 0);
    const growth = bytes1 - bytes0;
    const result: RunResult = {
      core: spec.core,
      devices: spec.devices,
      points: cfg.devices.reduce((n, d) => n + d.points.length, 0),
      links: cfg.links.length,
      pollMs: spec.pollMs,
      windowS: r2(windowS),
      readings: tally.readings,
      readingsPerSec: r2(tally.readings / windowS),
      deltas: tally.deltas,
      accruals: tally.accruals,
      batches: tally.batches,
      batchesPerSec: r2(tally.batches / windowS),
      readingsPerBatch: tally.batches ? r2(tally.readings / tally.batches) : 0,
      commitMsP50: r2(median(tally.commitMs)),
      cpuMs: r2(cpuMs),
      cpuPercentOfCore: r2((cpuMs / (windowS * 1000)) * 100),
      cpuMsPer1000Readings: per1000(cpuMs),
      coreMsPer1000Readings: Math.round((tally.readings ? (coreMs / tally.readings) * 1000 : 0) * 1000) / 1000,
      coreShareOfCpu: Math.round((coreMs / cpuMs) * 10000) / 10000,
      rssMiB: r2(m.rss / MiB),
      rssMaxMiB: r2(Math.max(...mem.map((x) => x.rss)) / MiB),
      heapUsedMiB: r2(m.heapUsed / MiB),
      heapUsedMaxMiB: r2(Math.max(...mem.map((x) => x.heap)) / MiB),
      eventLoopLagMs: { p50: lagMs(lag.percentile(50)), p99: lagMs(lag.percentile(99)), max: lagMs(lag.max) },
      ledgerBytesStart: bytes0,
      ledgerBytesGrowth: growth,
      ledgerBytesPerReading: tally.readings ? r2(growth / tally.readings) : 0,
      ledgerMiBPerHour: r2(((growth / windowS) * 3600) / MiB),
      devicesNotOk: ids.filter((id) => g.views.get(id)?.state !== 'ok').length,
      stateChanges,
    };
    return result;
  } finally {
    lag.disable();
    await gw?.stop().catch(() => undefined);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (require.main === module) {
  const spec = JSON.parse(process.argv[2] ?? '{}') as RunSpec;
  run(spec).then(
    (r) => {
      process.send?.(r);
      process.disconnect?.();
      // Sockets of the modbus client may linger a moment; the result is out.
      setTimeout(() => process.exit(0), 200).unref();
    },
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
