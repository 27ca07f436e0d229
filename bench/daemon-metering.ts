/**
 * Metering-only microbench of the daemon bench (bench/daemon.ts): the
 * daemon's hot path without the field bus — MeteringService.ingest + flush
 * with the real SqliteLedger (temp dir, WAL + NORMAL) and the fleet's
 * policies — fed synthetic poll rounds of the 200-device fleet (4 points
 * each, half of them tariffed counters), in batches of B readings, with the
 * WASM core and with the BigInt reference. The inputs are built untimed and
 * the two cores take turns round by round so machine noise falls on both.
 * Afterwards both ledgers must hold the same totals to the nano.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseConfig, type LoadedDevice } from '../gateway/config/load';
import { MeteringService, type MeterInput } from '../gateway/meter/metering-service';
import { ReferenceCore } from '../gateway/core/reference';
import { SlotMap } from '../gateway/meter/slot-map';
import { loadWasmCore } from '../gateway/core/wasm-core';
import { counterWidth, microPerCount } from '../gateway/devices/decode';
import { SqliteLedger } from '../gateway/ledger/sqlite-store';
import { silentLogger } from '../gateway/base/log';
import { PolicyRegistry } from '../gateway/meter/policy-registry';
import { PolicyService } from '../gateway/policy/policy-service';
import { energyAt, fleetConfig, fleetFlows, powerAt, voltageAt, waterAt } from './daemon-fleet';
import type { CoreKind } from './daemon-run';
import { TimedCore } from './timed-core';

const DEVICES = 200;

export interface MeteringBenchRow {
  batchSize: number;
  core: CoreKind;
  readings: number;
  batches: number;
  readingsPerSec: number;
  /** Share of the time spent inside core.process() + core.snapshot(). */
  coreShare: number;
  msPerBatch: number;
}

export interface MeteringBenchResult {
  readings: number;
  devices: number;
  rows: MeteringBenchRow[];
  /** WASM readings/s over reference readings/s, per batch size. */
  wasmVsReference: Record<string, number>;
  /** Both cores left the same ledger totals (amounts and quantities, every channel). */
  totalsEqual: boolean;
}

/** `n` synthetic readings: poll rounds of the fleet, one second apart, counters moving every round. */
function syntheticReadings(n: number, t0: number): MeterInput[] {
  const out: MeterInput[] = [];
  for (let k = 0; out.length < n; k++) {
    const round = Math.floor(k / DEVICES);
    const i = k % DEVICES;
    const device = `meter-${i}`;
    const tsMs = t0 + round * 1000 + i;
    const e = BigInt(energyAt(i, round));
    const w = BigInt(waterAt(i, round));
    out.push({ device, point: 'energy', tsMs, value: `${e / 100n}.${(e % 100n).toString().padStart(2, '0')}`, counterRaw: e });
    out.push({ device, point: 'water', tsMs, value: w.toString(), counterRaw: w });
    out.push({ device, point: 'power', tsMs, value: String(powerAt(i, round)) });
    out.push({ device, point: 'voltage', tsMs, value: (voltageAt(i, round) / 10).toFixed(1) });
  }
  return out.slice(0, n);
}

interface Rig {
  kind: CoreKind;
  core: TimedCore;
  ledger: SqliteLedger;
  metering: MeteringService;
  ns: bigint;
  batches: number;
  dir: string;
}

function policySlots(devices: LoadedDevice[], slots: SlotMap) {
  return devices.flatMap((d) =>
    d.points.map((p) => ({ slot: slots.get(d.id, p.name)?.slot ?? -1, device: d.id, point: p.name, account: d.account, kind: p.kind })),
  );
}

/** A metering service wired as the controller wires it, on its own temp ledger. */
function rig(kind: CoreKind): Rig {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `m2m-bench-metering-${kind}-`));
  fs.writeFileSync(path.join(dir, 'flows.json'), JSON.stringify(fleetFlows));
  const cfg = parseConfig(
    fleetConfig(
      { devices: DEVICES, perLink: 25, pollMs: 1000 },
      Array.from({ length: 8 }, (_, b) => 10_000 + b),
    ),
    dir,
  );
  const slots = new SlotMap(cfg.devices, (p) => ({ widthBits: counterWidth(p), microPerCount: microPerCount(p) }));
  const core = new TimedCore(kind === 'wasm' ? loadWasmCore() : new ReferenceCore());
  core.configureSlots(slots.configs());
  const registry = new PolicyRegistry();
  const ledger = SqliteLedger.open(dir);
  const log = silentLogger();
  const metering = new MeteringService(core, slots, registry, ledger, log, { flushMs: 3_600_000, maxBatch: Number.MAX_SAFE_INTEGER });
  const policies = new PolicyService({
    flowsFile: path.join(dir, 'flows.json'),
    timezone: 'UTC',
    slots: policySlots(cfg.devices, slots),
    registry,
    core,
    ledger,
    log,
    onApplied: (p) => metering.setPolicyVersion(p.version),
  });
  if (policies.load()) throw new Error('bench flows did not compile');
  policies.stop();
  metering.restore();
  return { kind, core, ledger, metering, ns: 0n, batches: 0, dir };
}

function feed(r: Rig, inputs: MeterInput[], from: number, to: number, batch: number): void {
  const t = process.hrtime.bigint();
  for (let i = from; i < to; i += batch) {
    r.metering.ingest(inputs.slice(i, Math.min(to, i + batch)));
    r.metering.flush();
    r.batches++;
  }
  r.ns += process.hrtime.bigint() - t;
}

const totals = (r: Rig): string =>
  JSON.stringify(r.ledger.ledgerTotals({}).map((t) => [t.device, t.point, t.payee, String(t.quantityMicro), String(t.amountNano)]));

function close(r: Rig): void {
  r.metering.stop();
  r.ledger.close();
  fs.rmSync(r.dir, { recursive: true, force: true });
}

export function runMeteringBench(opts: { readings: number; batchSizes: number[]; rounds: number }): MeteringBenchResult {
  const t0 = Date.now() - 3_600_000;
  const inputs = syntheticReadings(opts.readings, t0);
  // JIT warm-up on throw-away rigs.
  for (const kind of ['wasm', 'reference'] as const) {
    const w = rig(kind);
    feed(w, syntheticReadings(4 * DEVICES * 10, t0), 0, 4 * DEVICES * 10, 200);
    close(w);
  }
  const rows: MeteringBenchRow[] = [];
  const wasmVsReference: Record<string, number> = {};
  let totalsEqual = true;
  for (const batch of opts.batchSizes) {
    const rigs = [rig('wasm'), rig('reference')];
    const step = Math.ceil(opts.readings / opts.rounds / batch) * batch;
    for (let from = 0; from < opts.readings; from += step) {
      for (const r of rigs) feed(r, inputs, from, Math.min(opts.readings, from + step), batch);
    }
    totalsEqual &&= totals(rigs[0]!) === totals(rigs[1]!) && totals(rigs[0]!) !== '[]';
    for (const r of rigs) {
      const s = Number(r.ns) / 1e9;
      rows.push({
        batchSize: batch,
        core: r.kind,
        readings: opts.readings,
        batches: r.batches,
        readingsPerSec: Math.round(opts.readings / s),
        coreShare: Math.round((Number(r.core.ns) / Number(r.ns)) * 10000) / 10000,
        msPerBatch: Math.round(((s * 1000) / r.batches) * 1000) / 1000,
      });
      close(r);
    }
    const [w, ref] = rows.slice(-2) as [MeteringBenchRow, MeteringBenchRow];
    wasmVsReference[`batch${batch}`] = Math.round((w.readingsPerSec / ref.readingsPerSec) * 100) / 100;
  }
  return { readings: opts.readings, devices: DEVICES, rows, wasmVsReference, totalsEqual };
}
