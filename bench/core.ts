/**
 * Metering core throughput: one deterministic stream (default 10M readings, 10k
 * slots, batches of 4096) through the WASM core (columnar fast path and the
 * object API), the BigInt reference core and a naive float64 JS core doing the
 * same work; then the WASM and Number cores with 1k vs 100k slots. The stream
 * is fed in rounds (every implementation meters slice r before any meters
 * slice r+1) so that machine noise falls on all alike. Writes bench/results/core.json.
 *
 *   npm run bench:core      (or: npm run build:core && npm run build:bench && node build/bench/core.js [--records N] [--slots S] [--batch B])
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { packageRoot } from '../gateway/base/package-root';
import { ReferenceCore } from '../gateway/core/reference';
import type { MeteringCore, Reading } from '../gateway/core/types';
import { loadWasmCore } from '../gateway/core/wasm-core';
import { makeStream, type BenchStream } from './core-stream';
import { NumberCore } from './core-number';

interface Args {
  records: number;
  slots: number;
  batch: number;
  rounds: number;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { records: 10_000_000, slots: 10_000, batch: 4096, rounds: 10 };
  for (let i = 0; i < argv.length; i += 2) {
    const v = Number(argv[i + 1]);
    if (argv[i] === '--records') a.records = v;
    else if (argv[i] === '--slots') a.slots = v;
    else if (argv[i] === '--batch') a.batch = v;
    else if (argv[i] === '--rounds') a.rounds = v;
  }
  return a;
}

/** One implementation fed the stream batch by batch. */
interface Runner {
  name: string;
  /** Meters the batches of [from, to); returns the nanoseconds spent inside the core. */
  run(from: number, to: number): bigint;
  /** Sum of all account totals afterwards (nano; a float for the Number core). */
  billed(): string;
}

const now = (): bigint => process.hrtime.bigint();
const totalOf = (core: MeteringCore): string =>
  core
    .snapshot()
    .accounts.reduce((t, a) => t + a.unsettledNano, 0n)
    .toString();

function wasmColumns(s: BenchStream, batch: number): Runner {
  const core = loadWasmCore();
  core.configureSlots(s.configs);
  core.setPolicy(s.tables);
  return {
    name: 'wasm (processColumns)',
    run(from, to) {
      const t = now();
      for (let i = from; i < to; i += batch) {
        const end = Math.min(to, i + batch);
        core.processColumns(s.slots.subarray(i, end), s.raws.subarray(i, end), s.ts.subarray(i, end));
      }
      return now() - t;
    },
    billed: () => totalOf(core),
  };
}

/** The MeteringCore.process() path: Reading objects in (built untimed), BatchResult objects out. */
function objects(name: string, core: MeteringCore, s: BenchStream, batch: number): Runner {
  core.configureSlots(s.configs);
  core.setPolicy(s.tables);
  return {
    name,
    run(from, to) {
      let ns = 0n;
      for (let i = from; i < to; i += batch) {
        const end = Math.min(to, i + batch);
        const readings: Reading[] = new Array<Reading>(end - i);
        for (let k = i; k < end; k++) readings[k - i] = { slot: s.slots[k]!, raw: BigInt.asUintN(64, s.raws[k]!), tsMs: s.ts[k]! };
        const t = now();
        core.process(readings);
        ns += now() - t;
      }
      return ns;
    },
    billed: () => totalOf(core),
  };
}

function numbers(s: BenchStream, batch: number): Runner {
  const core = new NumberCore(s.configs, s.tables);
  return {
    name: 'number (naive float64)',
    run(from, to) {
      const t = now();
      for (let i = from; i < to; i += batch) core.process(s.slots, s.rawsNum, s.ts, i, Math.min(batch, to - i));
      return now() - t;
    },
    billed: () => core.unsettled.reduce((a, b) => a + b, 0).toString(),
  };
}

interface Raced {
  runner: Runner;
  seconds: number;
  recordsPerSec: number;
}

/** Meters the whole stream with every runner, in rounds; a short untimed pass on other instances warms the JIT first. */
function race(s: BenchStream, make: () => Runner[], rounds: number): Raced[] {
  for (const r of make()) r.run(0, Math.min(s.n, 100_000));
  const runners = make();
  const ns = runners.map(() => 0n);
  const step = Math.ceil(s.n / rounds);
  for (let from = 0; from < s.n; from += step) runners.forEach((r, k) => (ns[k]! += r.run(from, Math.min(s.n, from + step))));
  return runners.map((runner, k) => {
    const seconds = Number(ns[k]) / 1e9;
    return { runner, seconds: Math.round(seconds * 1000) / 1000, recordsPerSec: Math.round(s.n / seconds) };
  });
}

const ratio = (a: number, b: number): number => Math.round((a / b) * 100) / 100;
const fmt = (n: number): string => n.toLocaleString('en-US').padStart(14);

function main(): void {
  const args = parseArgs(process.argv.slice(2));
  console.log(
    `core bench: ${args.records.toLocaleString('en-US')} readings, ${args.slots} slots, batches of ${args.batch}, ${args.rounds} rounds`,
  );
  const stream = makeStream(args.records, args.slots);
  const [wasm, wasmObj, reference, num] = race(
    stream,
    () => [
      wasmColumns(stream, args.batch),
      objects('wasm (process, objects)', loadWasmCore(), stream, args.batch),
      objects('reference (BigInt)', new ReferenceCore(), stream, args.batch),
      numbers(stream, args.batch),
    ],
    args.rounds,
  ) as [Raced, Raced, Raced, Raced];
  const billed = {
    wasm: wasm.runner.billed(),
    wasmObj: wasmObj.runner.billed(),
    reference: reference.runner.billed(),
    number: num.runner.billed(),
  };

  const scaling: Record<string, { slots: number; wasmRecordsPerSec: number; numberRecordsPerSec: number }> = {};
  for (const slots of [1_000, 100_000]) {
    const s = makeStream(args.records, slots, 7);
    const [w, n] = race(s, () => [wasmColumns(s, args.batch), numbers(s, args.batch)], args.rounds) as [Raced, Raced];
    scaling[`slots${slots / 1000}k`] = { slots, wasmRecordsPerSec: w.recordsPerSec, numberRecordsPerSec: n.recordsPerSec };
  }
  const s1 = scaling.slots1k!;
  const s100 = scaling.slots100k!;

  const result = {
    bench: 'core',
    date: new Date().toISOString(),
    node: process.version,
    cpu: `${os.cpus()[0]?.model ?? 'unknown'} (${os.cpus().length} cores)`,
    records: args.records,
    slots: args.slots,
    batchSize: args.batch,
    rounds: args.rounds,
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
      wasmEqualsReference: billed.wasm === billed.reference && billed.wasmObj === billed.reference,
      billedNano: billed.reference,
      /** The float64 core's total, for contrast (no remainders, rounding per accrual). */
      numberBilled: billed.number,
    },
    slotScaling: {
      ...scaling,
      /** records/s with 100k slots over records/s with 1k slots (1 = per-reading cost independent of slot count). */
      wasm100kVs1k: ratio(s100.wasmRecordsPerSec, s1.wasmRecordsPerSec),
      number100kVs1k: ratio(s100.numberRecordsPerSec, s1.numberRecordsPerSec),
    },
    seconds: { wasm: wasm.seconds, wasmObjectApi: wasmObj.seconds, reference: reference.seconds, number: num.seconds },
  };

  console.log(`${'implementation'.padEnd(26)}${'records/s'.padStart(14)}   vs wasm`);
  for (const r of [wasm, wasmObj, reference, num])
    console.log(`${r.runner.name.padEnd(26)}${fmt(r.recordsPerSec)}   ${ratio(r.recordsPerSec, wasm.recordsPerSec).toFixed(2)}`);
  console.log(
    `wasm/reference ${result.ratios.wasmVsReference}x (target >= 4), wasm/number ${result.ratios.wasmVsNumber}x (target >= 0.8): ${result.targets.met ? 'met' : 'MISSED'}`,
  );
  console.log(
    `exact: wasm billed ${billed.wasm} nano, reference ${billed.reference} (${result.exact.wasmEqualsReference ? 'equal' : 'DIFFERENT'}); number ${billed.number}`,
  );
  console.log(`${'slots'.padEnd(8)}${'wasm rec/s'.padStart(14)}${'number rec/s'.padStart(14)}`);
  for (const v of [s1, s100]) console.log(`${String(v.slots).padEnd(8)}${fmt(v.wasmRecordsPerSec)}${fmt(v.numberRecordsPerSec)}`);
  console.log(`100k/1k slots: wasm ${result.slotScaling.wasm100kVs1k}, number ${result.slotScaling.number100kVs1k}`);

  const out = path.join(packageRoot(), 'bench', 'results', 'core.json');
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, JSON.stringify(result, null, 2) + '\n');
  console.log(`wrote ${path.relative(process.cwd(), out)}`);
}

main();
