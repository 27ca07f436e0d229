/**
 * The ledger under a fleet (issue 8; docs/ledger.md, "Figures"): D devices ×
 * P counters read every second, every counter priced, driving the store
 * directly the way the metering service does:
 *
 *  - after (this release): one commit every `commitMs` (5 s) holding per line
 *    the usage of the hour, the state of every slot, remainder and account
 *    that changed, crossing an hour end (the commit that closes 15 000 hours);
 *    with WAL + synchronous NORMAL (the default) and FULL;
 *  - before (schema 1, the frozen v1 writer of test/fixtures): what the v1
 *    daemon committed, a batch per 1 024 readings (15 a second), each reading,
 *    delta, accrual and state row kept. Only its bytes compare: the fixture
 *    writer is simpler, slower code than the v1 store was (v1 store figures,
 *    measured at the release before: docs/ledger.md).
 *
 * Measured: bytes written per commit and per day (/proc/self/io write_bytes,
 * what reached the page cache for the disk, and wchar, what write() was
 * given), ledger growth per day (dbstat: chain rows per commit, closed hours
 * per hour), commit p50/p99/max. Writes bench/results/ledger.json.
 *
 *   npm run build:bench && node build/bench/ledger.js [--devices 500] [--points 30] [--seconds 900] [--v1-seconds 10] [--commit-ms 5000] [--out FILE]
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { type LedgerSynchronous, SqliteLedger } from '../gateway/ledger/sqlite-store';
import type { LedgerBatch } from '../gateway/ledger/store';
import { verifyLedger } from '../gateway/ledger/verify';
import { V1LedgerWriter, v1Batch } from '../test/fixtures/ledger-v1-writer';

interface Args {
  devices: number;
  points: number;
  seconds: number;
  v1Seconds: number;
  commitMs: number;
  out: string;
}

function parseArgs(argv: string[]): Args {
  const a: Args = {
    devices: 500,
    points: 30,
    seconds: 900,
    v1Seconds: 10,
    commitMs: 5000,
    out: path.resolve(__dirname, '..', '..', 'bench', 'results', 'ledger.json'),
  };
  for (let i = 0; i < argv.length; i += 2) {
    const v = Number(argv[i + 1]);
    if (argv[i] === '--devices') a.devices = v;
    else if (argv[i] === '--points') a.points = v;
    else if (argv[i] === '--seconds') a.seconds = v;
    else if (argv[i] === '--v1-seconds') a.v1Seconds = v;
    else if (argv[i] === '--commit-ms') a.commitMs = v;
    else if (argv[i] === '--out') a.out = path.resolve(argv[i + 1]!);
  }
  return a;
}

const HOUR = 3_600_000;
const DAY_S = 86_400;
const PRICE = 12_345_678n; // 0.012345678 per unit
/** Starts 5 minutes before an hour ends, so every run closes one hour. */
const T0 = Date.UTC(2026, 0, 5, 8, 55);

function io(): { w: number; c: number } {
  const t = fs.readFileSync('/proc/self/io', 'utf8');
  return { w: Number(/write_bytes: (\d+)/.exec(t)![1]), c: Number(/wchar: (\d+)/.exec(t)![1]) };
}

const round = (x: number, d = 2): number => Math.round(x * 10 ** d) / 10 ** d;
const quantile = (sorted: number[], q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;

/** The fleet's counters: each moves 1..3 units a second; money and remainders as the core computes them. */
class Fleet {
  readonly raw: Float64Array;
  readonly rem: bigint[];
  readonly unsettled: bigint[];
  constructor(
    readonly devices: number,
    readonly points: number,
  ) {
    this.raw = new Float64Array(devices * points).fill(1000);
    this.rem = new Array<bigint>(devices * points).fill(0n);
    this.unsettled = new Array<bigint>(devices).fill(0n);
  }
  /** One second of readings at `ts`: calls `each(device, point, index, qty, amount)`. */
  tick(sec: number, each: (d: number, p: number, i: number, qty: bigint, amount: bigint) => void): void {
    for (let d = 0; d < this.devices; d++) {
      for (let p = 0; p < this.points; p++) {
        const i = d * this.points + p;
        const inc = 1 + ((d + p + sec) % 3);
        this.raw[i] = (this.raw[i]! + inc) % 65536;
        const qty = BigInt(inc) * 1_000_000n;
        const exact = qty * PRICE + this.rem[i]!;
        const amount = exact / 1_000_000n;
        this.rem[i] = exact % 1_000_000n;
        this.unsettled[d]! += amount;
        each(d, p, i, qty, amount);
      }
    }
  }
}

interface RunResult {
  store: string;
  commits: number;
  commitsPerDay: number;
  bytesPerCommit: { writeBytes: number; wchar: number; hourEndCommit: number };
  writtenGBPerDay: { writeBytes: number; wchar: number };
  growthMBPerDay: number;
  growthParts?: { chainBytesPerCommit: number; hourEndCommitBytes: number; closedHoursBytesPerHour: number };
  commitMs: { p50: number; p99: number; max: number };
  /** CPU time (user + system) of a commit: what it costs where the machine is not shared. */
  commitCpuMs?: { p50: number; max: number };
  dbBytes: number;
}

/** After: a commit every commitMs with the usage, state and accounts of everything that moved. */
function runV2(args: Args, mode: LedgerSynchronous, dir: string): RunResult {
  const ledger = SqliteLedger.open(dir, { synchronous: mode });
  const fleet = new Fleet(args.devices, args.points);
  const per = args.commitMs / 1000;
  type Use = { q: bigint; a: bigint; hour: number; prev: Use | null };
  const usage = new Map<number, Use>();
  const normal: Array<{ w: number; c: number; ms: number }> = [];
  let hourEnd: { w: number; c: number; ms: number } | null = null;
  let commits = 0;
  let hourEndSeq = 0;
  const cpuMs: number[] = [];
  for (let sec = 0; sec <= args.seconds; sec++) {
    const ts = T0 + sec * 1000;
    fleet.tick(sec, (_d, _p, i, q, a) => {
      if (sec === 0) return; // the baseline bills nothing
      const hour = Math.floor((ts - 1) / HOUR) * HOUR;
      const u = usage.get(i);
      if (u && u.hour === hour) {
        u.q += q;
        u.a += a;
      } else usage.set(i, { q, a, hour, prev: u ?? null }); // an hour ended inside the commit interval
    });
    if (sec % per !== 0) continue;
    const b: LedgerBatch = {
      atMs: ts + 5,
      policyVersion: 1,
      metered: { readings: 0, deltas: 0, accruals: 0 },
      usage: [],
      events: [],
      state: { slots: [], lines: [], accounts: [] },
    };
    for (let d = 0; d < args.devices; d++) {
      const device = `meter-${d}`;
      for (let p = 0; p < args.points; p++) {
        const i = d * args.points + p;
        const point = `c${p}`;
        b.state.slots.push({ device, point, hasBaseline: true, lastRaw: BigInt(fleet.raw[i]!), lastTsMs: ts, heldRaw: null, heldTsMs: 0 });
        const u = usage.get(i);
        if (!u) continue;
        for (let x: Use | null = u; x; x = x.prev)
          b.usage!.push({ device, point, account: device, payee: 'grid', hourMs: x.hour, quantityMicro: x.q, amountNano: x.a });
        b.state.lines.push({ device, point, account: device, payee: 'grid', remainder: fleet.rem[i]! });
      }
      b.state.accounts.push({ account: device, unsettledNano: fleet.unsettled[d]!, overLimit: false });
    }
    const n = args.devices * args.points * per;
    b.metered = { readings: n, deltas: sec === 0 ? 0 : n, accruals: sec === 0 ? 0 : n };
    usage.clear();
    const closes = Math.floor((ts + 5) / HOUR) !== Math.floor((ts + 5 - args.commitMs) / HOUR) && sec > 0;
    const before = io();
    const cpu0 = process.cpuUsage();
    const s = process.hrtime.bigint();
    ledger.commitBatch(b);
    const ms = Number(process.hrtime.bigint() - s) / 1e6;
    const cpu = process.cpuUsage(cpu0);
    const after = io();
    commits++;
    if (sec > per) cpuMs.push((cpu.user + cpu.system) / 1000);
    if (sec <= per) continue; // the first two commits create every row (slots, then lines)
    const m = { w: after.w - before.w, c: after.c - before.c, ms };
    if (closes) {
      hourEnd = m;
      hourEndSeq = commits;
    } else normal.push(m);
  }
  ledger.close();
  const db = new Database(path.join(dir, 'ledger.db'), { readonly: true });
  const size = (name: string): number =>
    (db.prepare('SELECT coalesce(sum(pgsize), 0) AS s FROM dbstat WHERE name = ?').get(name) as { s: number }).s;
  // Growth: a chain row per commit (its body plus the row's own bytes, measured), and per closed hour its hours rows.
  const rows = db.prepare('SELECT count(*) AS n, sum(length(body)) AS b FROM batches').get() as { n: number; b: number };
  const perRow = (size('batches') - rows.b) / rows.n;
  const body = (seq: number): number => (db.prepare('SELECT length(body) AS b FROM batches WHERE seq = ?').get(seq) as { b: number }).b;
  const normalRow =
    (db.prepare('SELECT avg(length(body)) AS b FROM batches WHERE seq > 2 AND seq <> ?').get(hourEndSeq) as { b: number }).b + perRow;
  const hourEndRow = (hourEndSeq > 0 ? body(hourEndSeq) : 0) + perRow;
  const hoursPerHour = size('hours'); // the one hour the run closed
  if (process.env.BENCH_DEBUG)
    process.stderr.write(
      JSON.stringify(
        db.prepare('SELECT name, count(*) AS pages, sum(payload) AS payload FROM dbstat GROUP BY name ORDER BY pages DESC LIMIT 6').all(),
      ) + '\n',
    );
  const dbBytes = fs.statSync(path.join(dir, 'ledger.db')).size;
  db.close();
  const commitsPerDay = DAY_S / per;
  const avg = (k: 'w' | 'c'): number => normal.reduce((x, m) => x + m[k], 0) / normal.length;
  const perDay = (k: 'w' | 'c'): number => avg(k) * (commitsPerDay - 24) + (hourEnd ? hourEnd[k] : avg(k)) * 24;
  const lat = [...normal.map((m) => m.ms), ...(hourEnd ? [hourEnd.ms] : [])].sort((x, y) => x - y);
  return {
    store: `v2 (this release), WAL + ${mode}, commit every ${args.commitMs} ms`,
    commits,
    commitsPerDay,
    bytesPerCommit: { writeBytes: Math.round(avg('w')), wchar: Math.round(avg('c')), hourEndCommit: hourEnd ? hourEnd.w : 0 },
    writtenGBPerDay: { writeBytes: round(perDay('w') / 1e9), wchar: round(perDay('c') / 1e9) },
    growthMBPerDay: round((normalRow * (commitsPerDay - 24) + (hourEndRow + hoursPerHour) * 24) / 1e6),
    growthParts: {
      chainBytesPerCommit: Math.round(normalRow),
      hourEndCommitBytes: Math.round(hourEndRow),
      closedHoursBytesPerHour: hoursPerHour,
    },
    commitMs: { p50: round(quantile(lat, 0.5)), p99: round(quantile(lat, 0.99)), max: round(lat[lat.length - 1]!) },
    commitCpuMs: {
      p50: round(
        quantile(
          cpuMs.sort((x, y) => x - y),
          0.5,
        ),
      ),
      max: round(cpuMs[cpuMs.length - 1]!),
    },
    dbBytes,
  };
}

/** Before: the v1 daemon's batches of 1 024 readings, written by the frozen v1 writer. */
function runV1(args: Args, dir: string): RunResult {
  const ledger = V1LedgerWriter.open(dir);
  const fleet = new Fleet(args.devices, args.points);
  const commits: Array<{ w: number; c: number; ms: number }> = [];
  let b: Parameters<V1LedgerWriter['commitBatch']>[0] | null = null;
  const touched = new Set<number>();
  let measuring = false;
  const commit = (at: number): void => {
    if (!b) return;
    for (const d of touched) b.state.accounts.push({ account: `meter-${d}`, unsettledNano: fleet.unsettled[d]!, overLimit: false });
    touched.clear();
    const before = io();
    const s = process.hrtime.bigint();
    ledger.commitBatch({ ...b, atMs: at });
    const ms = Number(process.hrtime.bigint() - s) / 1e6;
    const after = io();
    if (measuring) commits.push({ w: after.w - before.w, c: after.c - before.c, ms });
    b = null;
  };
  let size0 = 0;
  for (let sec = 0; sec <= args.v1Seconds; sec++) {
    if (sec === 1) {
      measuring = true;
      ledger.db.pragma('wal_checkpoint(TRUNCATE)');
      size0 = fs.statSync(path.join(dir, 'ledger.db')).size;
    }
    const ts = T0 + sec * 1000;
    fleet.tick(sec, (d, p, _i, qty, amount) => {
      const device = `meter-${d}`;
      const point = `c${p}`;
      b ??= v1Batch(ts);
      const i = d * args.points + p;
      b.readings.push({ device, point, tsMs: ts, value: String(fleet.raw[i]) });
      if (sec > 0) {
        b.deltas.push({ device, point, account: device, qtyMicro: qty, fromMs: ts - 1000, toMs: ts });
        b.accruals.push({
          device,
          point,
          account: device,
          payee: 'grid',
          channel: `${device}>grid`,
          qtyMicro: qty,
          amountNano: amount,
          priceNano: PRICE,
          fromMs: ts - 1000,
          toMs: ts,
          policyVersion: 1,
        });
        b.state.lines.push({ device, point, account: device, payee: 'grid', remainder: fleet.rem[i]! });
        touched.add(d);
      }
      b.state.slots.push({ device, point, hasBaseline: true, lastRaw: BigInt(fleet.raw[i]!), lastTsMs: ts, heldRaw: null, heldTsMs: 0 });
      if (b.readings.length >= 1024) commit(ts + 5);
    });
    commit(ts + 5);
  }
  ledger.close();
  const dbBytes = fs.statSync(path.join(dir, 'ledger.db')).size;
  const perSecond = commits.length / args.v1Seconds;
  const avg = (k: 'w' | 'c'): number => commits.reduce((x, m) => x + m[k], 0) / commits.length;
  const lat = commits.map((m) => m.ms).sort((x, y) => x - y);
  return {
    store: 'v1 (schema 1, frozen writer of test/fixtures), WAL + NORMAL, a batch per 1024 readings',
    commits: commits.length,
    commitsPerDay: Math.round(perSecond * DAY_S),
    bytesPerCommit: { writeBytes: Math.round(avg('w')), wchar: Math.round(avg('c')), hourEndCommit: 0 },
    writtenGBPerDay: { writeBytes: round((avg('w') * perSecond * DAY_S) / 1e9), wchar: round((avg('c') * perSecond * DAY_S) / 1e9) },
    growthMBPerDay: round((((dbBytes - size0) / args.v1Seconds) * DAY_S) / 1e6),
    commitMs: { p50: round(quantile(lat, 0.5)), p99: round(quantile(lat, 0.99)), max: round(lat[lat.length - 1]!) },
    dbBytes,
  };
}

/**
 * The v1 store itself (not the fixture), measured once at the release before
 * this one (commit 1ca4672) with the same fleet and the v1 daemon's batches.
 */
const BEFORE_V1_STORE = {
  store:
    'v1 SqliteLedger (schema 1) at commit 1ca4672, WAL + NORMAL, a batch per 1024 readings (15 a second), 500 devices × 30 counters, 60 s',
  commitsPerDay: 1_296_000,
  bytesPerCommit: { writeBytes: 619_042, wchar: 618_406 },
  writtenGBPerDay: { writeBytes: 802.28, wchar: 801.45 },
  growthMBPerDay: 37_570,
  commitMs: { p50: 48.43, p99: 138.91, max: 182.39 },
  commitShareOfACore: 0.795,
};

function main(): void {
  const args = parseArgs(process.argv.slice(2));
  // On disk (not tmpfs): /proc/self/io counts what goes to a block device.
  const root = fs.mkdtempSync(path.join(fs.existsSync('/var/tmp') ? '/var/tmp' : os.tmpdir(), 'm2m-ledger-bench-'));
  try {
    const results: RunResult[] = [];
    for (const mode of ['NORMAL', 'FULL'] as const) {
      const r = runV2(args, mode, path.join(root, `v2-${mode}`));
      results.push(r);
      process.stderr.write(
        `${r.store}: ${r.bytesPerCommit.writeBytes} B/commit, ${r.writtenGBPerDay.writeBytes} GB/day written, +${r.growthMBPerDay} MB/day, p50 ${r.commitMs.p50} ms p99 ${r.commitMs.p99} ms, cpu p50 ${r.commitCpuMs?.p50} ms\n`,
      );
    }
    const vs = process.hrtime.bigint();
    const v = verifyLedger(path.join(root, 'v2-NORMAL'));
    const verifySeconds = Number(process.hrtime.bigint() - vs) / 1e9;
    if (args.v1Seconds > 0) {
      const r = runV1(args, path.join(root, 'v1'));
      results.push(r);
      process.stderr.write(
        `${r.store}: ${r.bytesPerCommit.writeBytes} B/commit, ${r.writtenGBPerDay.writeBytes} GB/day written, +${r.growthMBPerDay} MB/day\n`,
      );
    }
    const out = {
      bench: 'ledger',
      at: new Date().toISOString(),
      machine: {
        node: process.version,
        cpus: os.cpus().length,
        cpu: os.cpus()[0]?.model ?? '',
        platform: `${os.platform()} ${os.release()}`,
        loadavg: os.loadavg().map((x) => round(x)),
      },
      fleet: `${args.devices} devices × ${args.points} counters read every second, every counter priced (${args.devices * args.points} lines, ${args.devices} accounts); ${args.seconds} s simulated across an hour end`,
      before: BEFORE_V1_STORE,
      results,
      verify: { ok: v.ok, reason: v.reason, batches: v.batches, lines: v.lines, seconds: round(verifySeconds, 3) },
    };
    fs.mkdirSync(path.dirname(args.out), { recursive: true });
    fs.writeFileSync(args.out, `${JSON.stringify(out, null, 2)}\n`);
    process.stdout.write(`${JSON.stringify(out)}\n`);
    if (!v.ok) process.exitCode = 1;
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
}

main();
