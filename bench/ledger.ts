/**
 * Ledger commit throughput: batches/s and readings/s of SqliteLedger.commitBatch
 * with WAL + synchronous=NORMAL (the default: survives kill -9) against
 * WAL + synchronous=FULL (fsync per commit: also survives power loss), in the
 * same run, plus `verifyLedger` speed. Writes bench/results/ledger.json.
 *
 *   npm run build:bench && node build/bench/ledger.js [--batches N] [--points P] [--full-seconds S] [--out FILE]
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { type LedgerSynchronous, SqliteLedger } from '../gateway/ledger/sqlite-store';
import type { LedgerBatch } from '../gateway/ledger/store';
import { verifyLedger } from '../gateway/ledger/verify';

interface Args {
  batches: number;
  points: number;
  fullSeconds: number;
  out: string;
}

function parseArgs(argv: string[]): Args {
  const a: Args = {
    batches: 3000,
    points: 100,
    fullSeconds: 3,
    out: path.resolve(__dirname, '..', '..', 'bench', 'results', 'ledger.json'),
  };
  for (let i = 0; i < argv.length; i += 2) {
    const v = Number(argv[i + 1]);
    if (argv[i] === '--batches') a.batches = v;
    else if (argv[i] === '--points') a.points = v;
    else if (argv[i] === '--full-seconds') a.fullSeconds = v;
    else if (argv[i] === '--out') a.out = path.resolve(argv[i + 1]);
  }
  return a;
}

const DEVICES = 10;

interface Scenario {
  name: string;
  /** Of the `points` readings per batch, how many are tariffed counters (the rest are gauges: a reading only). */
  counters: (points: number) => number;
}

const SCENARIOS: Scenario[] = [
  { name: 'all-counters', counters: (p) => p },
  { name: 'mixed', counters: (p) => Math.floor(p / 4) },
];

/**
 * One poll-cycle batch: every point read once; the counters among them each
 * give a delta, an accrual on one flat tariff line and their slot and line
 * state; every device account's unsettled amount changes.
 */
function makeBatch(n: number, points: number, counters: number, t0: number): LedgerBatch {
  const toMs = t0 + n * 1000;
  const fromMs = toMs - 1000;
  const b: LedgerBatch = {
    atMs: toMs + 5,
    policyVersion: 1,
    readings: [],
    deltas: [],
    accruals: [],
    events: [],
    state: { slots: [], lines: [], accounts: [] },
  };
  for (let p = 0; p < points; p++) {
    const device = `meter-${p % DEVICES}`;
    const point = `energy-${Math.floor(p / DEVICES)}`;
    const raw = BigInt(n * 37 + p);
    b.readings.push({ device, point, tsMs: toMs, value: `${raw}.000` });
    if (p >= counters) continue;
    b.deltas.push({ device, point, account: device, qtyMicro: 37_000_000n, fromMs, toMs });
    b.accruals.push({
      device,
      point,
      account: device,
      payee: 'grid',
      channel: `${device}>grid`,
      qtyMicro: 37_000_000n,
      amountNano: 37n * 1_234_567n,
      priceNano: 1_234_567_000n,
      fromMs,
      toMs,
      policyVersion: 1,
    });
    b.state.slots.push({ device, point, hasBaseline: true, lastRaw: raw, lastTsMs: toMs, heldRaw: null, heldTsMs: 0 });
    b.state.lines.push({ device, point, account: device, payee: 'grid', remainder: BigInt(p * 1000) });
  }
  for (let d = 0; d < DEVICES; d++) {
    b.state.accounts.push({ account: `meter-${d}`, unsettledNano: BigInt(n) * 45_678_979n, overLimit: false });
  }
  if (n % 50 === 0) b.events.push({ kind: 'rollover', device: 'meter-0', point: 'energy-0', tsMs: toMs, detail: { raw: '65535' } });
  return b;
}

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

interface ModeResult {
  scenario: string;
  mode: string;
  batches: number;
  readingsPerBatch: number;
  seconds: number;
  batchesPerS: number;
  readingsPerS: number;
  commitMs: { p50: number; p90: number; p99: number; max: number };
  dbBytes: number;
}

function runMode(sc: Scenario, mode: LedgerSynchronous, args: Args, dir: string): ModeResult {
  const counters = sc.counters(args.points);
  const ledger = SqliteLedger.open(dir, { synchronous: mode });
  const t0 = Date.UTC(2026, 0, 1);
  const warm = 50;
  for (let n = 1; n <= warm; n++) ledger.commitBatch(makeBatch(n, args.points, counters, t0));
  const latencies: number[] = [];
  const budgetNs = mode === 'FULL' ? BigInt(Math.round(args.fullSeconds * 1e9)) : BigInt(Number.MAX_SAFE_INTEGER);
  const start = process.hrtime.bigint();
  let n = warm + 1;
  for (; n <= warm + args.batches; n++) {
    const b = makeBatch(n, args.points, counters, t0); // built outside the timed commit
    const s = process.hrtime.bigint();
    ledger.commitBatch(b);
    const e = process.hrtime.bigint();
    latencies.push(Number(e - s) / 1e6);
    if (e - start > budgetNs) break;
  }
  ledger.close();
  const seconds = latencies.reduce((a, b) => a + b, 0) / 1000;
  const sorted = [...latencies].sort((a, b) => a - b);
  const round = (x: number): number => Math.round(x * 1000) / 1000;
  const file = path.join(dir, 'ledger.db');
  const dbBytes = fs.statSync(file).size + (fs.existsSync(`${file}-wal`) ? fs.statSync(`${file}-wal`).size : 0);
  return {
    scenario: `${sc.name} (${counters} of ${args.points} readings tariffed counters)`,
    mode: `WAL+${mode}`,
    batches: latencies.length,
    readingsPerBatch: args.points,
    seconds: round(seconds),
    batchesPerS: Math.round(latencies.length / seconds),
    readingsPerS: Math.round((latencies.length * args.points) / seconds),
    commitMs: { p50: round(quantile(sorted, 0.5)), p90: round(quantile(sorted, 0.9)), p99: round(quantile(sorted, 0.99)), max: round(sorted[sorted.length - 1]) },
    dbBytes,
  };
}

function main(): void {
  const args = parseArgs(process.argv.slice(2));
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'm2m-ledger-bench-'));
  try {
    const results: ModeResult[] = [];
    for (const sc of SCENARIOS) {
      for (const mode of ['NORMAL', 'FULL'] as const) {
        const r = runMode(sc, mode, args, path.join(root, `${sc.name}-${mode}`));
        results.push(r);
        process.stderr.write(
          `${sc.name} ${r.mode}: ${r.batchesPerS} batches/s, ${r.readingsPerS} readings/s, p50 ${r.commitMs.p50} ms, p99 ${r.commitMs.p99} ms\n`,
        );
      }
    }
    const vs = process.hrtime.bigint();
    const v = verifyLedger(path.join(root, `${SCENARIOS[0].name}-NORMAL`));
    const vSeconds = Number(process.hrtime.bigint() - vs) / 1e9;
    const out = {
      bench: 'ledger',
      at: new Date().toISOString(),
      machine: { node: process.version, cpus: os.cpus().length, cpu: os.cpus()[0]?.model ?? '', platform: `${os.platform()} ${os.release()}` },
      batch: `${args.points} readings; per tariffed counter a delta, an accrual, a slot and a line state upsert; ${DEVICES} account upserts`,
      results,
      normalOverFull: SCENARIOS.map((sc, i) => ({
        scenario: sc.name,
        ratio: Math.round((results[2 * i].batchesPerS / results[2 * i + 1].batchesPerS) * 10) / 10,
      })),
      verify: { ok: v.ok, batches: v.batches, seconds: Math.round(vSeconds * 1000) / 1000, batchesPerS: Math.round(v.batches / vSeconds) },
    };
    const resultFile = args.out;
    fs.mkdirSync(path.dirname(resultFile), { recursive: true });
    fs.writeFileSync(resultFile, `${JSON.stringify(out, null, 2)}\n`);
    process.stdout.write(`${JSON.stringify(out)}\n`);
    if (!v.ok) process.exitCode = 1;
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
}

main();
