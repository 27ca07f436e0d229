/**
 * Metering core throughput: one deterministic stream (default 10M readings, 10k
 * slots, batches of 4096) through the WASM core (columnar fast path and the
 * object API), the BigInt reference core and a naive float64 JS core; then the
 * WASM and Number cores with 1k vs 100k slots. Writes bench/results/core.json.
 *
 *   npm run bench:core            (or: npx tsc -p . && node build/bench/core.js [--records N] [--slots S] [--batch B])
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { packageRoot } from '../gateway/package-root';
import { ReferenceCore } from '../gateway/core/reference';
import type { MeteringCore, Reading } from '../gateway/core/types';
import { loadWasmCore } from '../gateway/core/wasm-core';
import { makeStream, type BenchStream } from './core-stream';
import { NumberCore } from './core-number';

interface Args {
  records: number;
  slots: number;
  batch: number;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { records: 10_000_000, slots: 10_000, batch: 4096 };
  for (let i = 0; i < argv.length; i += 2) {
    const v = Number(argv[i + 1]);
    if (argv[i] === '--records') a.records = v;
    else if (argv[i] === '--slots') a.slots = v;
    else if (argv[i] === '--batch') a.batch = v;
  }
  return a;
}

interface Run {
  seconds: number;
  recordsPerSec: number;
  /** Sum of all account totals afterwards (nano; floats for the Number core). */
  billed: string;
}

const now = (): bigint => process.hrtime.bigint();
const finish = (s: BenchStream, ns: bigint, billed: string): Run => ({
  seconds: Number(ns) / 1e9,
  recordsPerSec: Math.round(s.n / (Number(ns) / 1e9)),
  billed,
});
const totalOf = (core: MeteringCore): string => core.snapshot().accounts.reduce((t, a) => t + a.unsettledNano, 0n).toString();

function wasmColumns(s: BenchStream, batch: number, limit = s.n): Run {
  const core = loadWasmCore();
  core.configureSlots(s.configs);
  core.setPolicy(s.tables);
  let ns = 0n;
  for (let i = 0; i < limit; i += batch) {
    const end = Math.min(limit, i + batch);
    const t = now();
    core.processColumns(s.slots.subarray(i, end), s.raws.subarray(i, end), s.ts.subarray(i, end));
    ns += now() - t;
  }
  return finish({ ...s, n: limit }, ns, totalOf(core));
}

function objects(core: MeteringCore, s: BenchStream, batch: number, limit = s.n): Run {
  core.configureSlots(s.configs);
  core.setPolicy(s.tables);
  let ns = 0n;
  for (let i = 0; i < limit; i += batch) {
    const end = Math.min(limit, i + batch);
    const readings: Reading[] = new Array<Reading>(end - i);
    for (let k = i; k < end; k++) readings[k - i] = { slot: s.slots[k]!, raw: BigInt.asUintN(64, s.raws[k]!), tsMs: s.ts[k]! };
    const t = now();
    core.process(readings);
    ns += now() - t;
  }
  return finish({ ...s, n: limit }, ns, totalOf(core));
}

function numbers(s: BenchStream, batch: number, limit = s.n): Run {
  const core = new NumberCore(s.configs, s.tables);
  let ns = 0n;
  for (let i = 0; i < limit; i += batch) {
    const end = Math.min(limit, i + batch);
    const t = now();
    core.process(s.slots, s.rawsNum, s.ts, i, end - i);
    ns += now() - t;
  }
  return finish({ ...s, n: limit }, ns, core.unsettled.reduce((a, b) => a + b, 0).toString());
}

/** A short untimed pass so every implementation runs JIT-compiled code. */
function warmUp(s: BenchStream, batch: number): void {
  const few = Math.min(s.n, 200_000);
  wasmColumns(s, batch, few);
  objects(loadWasmCore(), s, batch, few);
  objects(new ReferenceCore(), s, batch, few);
  numbers(s, batch, few);
}

const ratio = (a: number, b: number): number => Math.round((a / b) * 100) / 100;
const fmt = (n: number): string => n.toLocaleString('en-US').padStart(14);

function main(): void {
  const args = parseArgs(process.argv.slice(2));
  console.log(`core bench: ${args.records.toLocaleString('en-US')} readings, ${args.slots} slots, batches of ${args.batch}`);
  const stream = makeStream(args.records, args.slots);
  warmUp(stream, args.batch);
  const wasm = wasmColumns(stream, args.batch);
  const wasmObj = objects(loadWasmCore(), stream, args.batch);
  const reference = objects(new ReferenceCore(), stream, args.batch);
  const num = numbers(stream, args.batch);

  const scaling: Record<string, { slots: number; wasmRecordsPerSec: number; numberRecordsPerSec: number }> = {};
  for (const slots of [1_000, 100_000]) {
    const s = makeStream(args.records, slots, 7);
    wasmColumns(s, args.batch, Math.min(s.n, 200_000));
    scaling[`slots${slots / 1000}k`] = { slots, wasmRecordsPerSec: wasmColumns(s, args.batch).recordsPerSec, numberRecordsPerSec: numbers(s, args.batch).recordsPerSec };
  }
  const s1 = scaling.slots1k!;
  const s100 = scaling.slots100k!;

  const result = {
    bench: 'core',
    date: new Date().toISOString(),
    node: process.version,
    cpu: os.cpus()[0]?.model ?? 'unknown',
    records: args.records,
    slots: args.slots,
    batchSize: args.batch,
    wasmRecordsPerSec: wasm.recordsPerSec,
    wasmObjectApiRecordsPerSec: wasmObj.recordsPerSec,
    referenceRecordsPerSec: reference.recordsPerSec,
    numberRecordsPerSec: num.recordsPerSec,
    ratios: {
      wasmVsReference: ratio(wasm.recordsPerSec, reference.recordsPerSec),
      wasmVsNumber: ratio(wasm.recordsPerSec, num.recordsPerSec),
      wasmObjectApiVsReference: ratio(wasmObj.recordsPerSec, reference.recordsPerSec),
    },
    targets: {
      wasmVsReference: 4,
      wasmVsNumber: 0.8,
      met: wasm.recordsPerSec >= 4 * reference.recordsPerSec && wasm.recordsPerSec >= 0.8 * num.recordsPerSec,
    },
    exact: {
      /** The WASM core (both APIs) billed exactly what the BigInt reference billed. */
      wasmEqualsReference: wasm.billed === reference.billed && wasmObj.billed === reference.billed,
      billedNano: reference.billed,
      numberBilled: num.billed,
    },
    slotScaling: {
      ...scaling,
      /** records/s with 100k slots over records/s with 1k slots (1 = batch cost independent of slot count). */
      wasm100kVs1k: ratio(s100.wasmRecordsPerSec, s1.wasmRecordsPerSec),
      number100kVs1k: ratio(s100.numberRecordsPerSec, s1.numberRecordsPerSec),
    },
    seconds: { wasm: wasm.seconds, wasmObjectApi: wasmObj.seconds, reference: reference.seconds, number: num.seconds },
  };

  const rows: [string, number, string][] = [
    ['wasm (processColumns)', wasm.recordsPerSec, '1.00'],
    ['wasm (process, objects)', wasmObj.recordsPerSec, ratio(wasmObj.recordsPerSec, wasm.recordsPerSec).toFixed(2)],
    ['reference (BigInt)', reference.recordsPerSec, ratio(reference.recordsPerSec, wasm.recordsPerSec).toFixed(2)],
    ['number (naive float)', num.recordsPerSec, ratio(num.recordsPerSec, wasm.recordsPerSec).toFixed(2)],
  ];
  console.log(`${'implementation'.padEnd(26)}${'records/s'.padStart(14)}   vs wasm`);
  for (const [name, rps, r] of rows) console.log(`${name.padEnd(26)}${fmt(rps)}   ${r}`);
  console.log(`wasm/reference ${result.ratios.wasmVsReference}x (target >= 4), wasm/number ${result.ratios.wasmVsNumber}x (target >= 0.8): ${result.targets.met ? 'met' : 'MISSED'}`);
  console.log(`exact: wasm billed ${wasm.billed} nano, reference ${reference.billed} (${result.exact.wasmEqualsReference ? 'equal' : 'DIFFERENT'}); number ${num.billed}`);
  console.log(`slots   ${'wasm rec/s'.padStart(14)}${'number rec/s'.padStart(14)}`);
  for (const v of [s1, s100]) console.log(`${String(v.slots).padEnd(8)}${fmt(v.wasmRecordsPerSec)}${fmt(v.numberRecordsPerSec)}`);
  console.log(`100k/1k slots: wasm ${result.slotScaling.wasm100kVs1k}, number ${result.slotScaling.number100kVs1k}`);

  const out = path.join(packageRoot(), 'bench', 'results', 'core.json');
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, JSON.stringify(result, null, 2) + '\n');
  console.log(`wrote ${path.relative(process.cwd(), out)}`);
}

main();
