/**
 * Field-bus figures, every link type side by side in one run, against the
 * pymodbus 3.0 peer (test/sim/modbus_server.py), loopback and a socat pty pair
 * only. Writes bench/results/bus.json.
 *
 *  1. throughput: back-to-back FC3 reads of 10 registers through the bus queue,
 *     for modbus-tcp, rtu-over-tcp, modbus-rtu at 115200 and at 9600 baud —
 *     and modbus-serial's own ports as rivals (connectTelnet for a converter,
 *     connectRTUBuffered for a serial line). A pty does not pace bytes at the
 *     baud rate: the serial figures are the link's own cost plus its t3.5 gap;
 *     `wireBoundRequestsPerS` is what a real line at that baud allows.
 *  2. garbage: one truncated reply, then 5 requests: how long the broken request
 *     took, and how many of the next ones failed (stale bytes poisoning them).
 *  3. recovery: the device (or converter, or pty pair + device) is killed,
 *     kept down 1 s and restarted; polling with the daemon's defaults
 *     (LinkSupervisor base 500 ms cap 30 s, pollMs 1000): time to notice (offline) and
 *     time from the device being back to the first complete reading.
 *
 *   npm run build:bench && node build/bench/bus.js [--seconds S] [--trials N] [--out FILE]
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import ModbusRTU from 'modbus-serial';
import type { ModbusLink } from '../gateway/links/link';
import { ModbusRtuLink, rtuInterFrameGapMs, serialCharBits } from '../gateway/links/modbus-rtu';
import { ModbusTcpLink } from '../gateway/links/modbus-tcp';
import { RtuOverTcpLink } from '../gateway/links/rtu-over-tcp';
import { silentLogger } from '../gateway/base/log';
import { BusQueues } from '../gateway/poll/bus-queue';
import { DevicePoller, type DeviceReadings, type DeviceStateChange } from '../gateway/poll/device-poller';
import { LinkSupervisors } from '../gateway/poll/link-supervisor';
import type { ResolvedPoint } from '../gateway/devices/point';
import { startModbusPeer, type ModbusPeer, type PeerSpec } from '../test/sim/modbus-peer';
import { startSerialBus, type SerialBus } from '../test/sim/serial-bus';

/** The bench's own bus queues and link supervisors (as the FieldBus keeps its own). */
const queues = new BusQueues();
const supervisors = new LinkSupervisors();

interface Args {
  seconds: number;
  trials: number;
  out: string;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { seconds: 2, trials: 3, out: path.resolve(__dirname, '..', '..', 'bench', 'results', 'bus.json') };
  for (let i = 0; i < argv.length; i += 2) {
    if (argv[i] === '--seconds') a.seconds = Number(argv[i + 1]);
    else if (argv[i] === '--trials') a.trials = Number(argv[i + 1]);
    else if (argv[i] === '--out') a.out = path.resolve(argv[i + 1]);
  }
  return a;
}

const logger = silentLogger();
const REGISTERS = 10;
const TIMEOUT_MS = 500;
const POLL_MS = 1000; // the config default
const SPEC: PeerSpec = { units: { 1: { holding: { 0: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10] } } } };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const round = (x: number, d = 3) => Math.round(x * 10 ** d) / 10 ** d;

/** Anything that reads 10 holding registers of unit 1. */
type Reader = { name: string; impl: string; read: () => Promise<unknown>; close: () => Promise<void> };

function percentiles(ms: number[]) {
  const s = [...ms].sort((a, b) => a - b);
  const at = (p: number) => round(s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? 0);
  return { p50: at(0.5), p90: at(0.9), p99: at(0.99), max: round(s[s.length - 1] ?? 0) };
}

function viaLink(name: string, link: ModbusLink): Reader {
  const queue = queues.for(link.busKey);
  return {
    name,
    impl: `m2m ${link.constructor.name}`,
    read: () => queue.run(() => link.readRegisters(1, 'holding', 0, REGISTERS)),
    close: async () => {
      await link.close();
      queues.release(link.busKey);
    },
  };
}

function viaRival(name: string, impl: string, client: ModbusRTU): Reader {
  client.setID(1);
  client.setTimeout(TIMEOUT_MS);
  client.on('error', () => {});
  return {
    name,
    impl,
    read: () => client.readHoldingRegisters(0, REGISTERS),
    close: () => new Promise<void>((r) => client.close(() => r())),
  };
}

/** Requests a real line allows: request + reply characters and one t3.5 gap per transaction. */
function wireBound(baud: number): number {
  const bits = serialCharBits(8, 'none', 1);
  const chars = 8 + (5 + 2 * REGISTERS);
  return round(1000 / ((chars * bits * 1000) / baud + rtuInterFrameGapMs(baud, bits)), 1);
}

interface Sample {
  lat: number[];
  errors: number;
  seconds: number;
}

/** Back-to-back reads for `seconds`. */
async function sample(r: Reader, seconds: number, into: Sample): Promise<void> {
  for (let i = 0; i < 20; i++) await r.read(); // warm up
  const t0 = performance.now();
  while (performance.now() - t0 < seconds * 1000) {
    const s = performance.now();
    try {
      await r.read();
      into.lat.push(performance.now() - s);
    } catch {
      into.errors += 1;
    }
  }
  into.seconds += (performance.now() - t0) / 1000;
}

/**
 * Every reader in turn, in `rounds` rounds (so a load spike on this shared
 * machine hits all of them alike), `seconds` in total each.
 */
async function throughput(runs: Array<[() => Promise<Reader>, Record<string, unknown>]>, seconds: number, rounds = 2) {
  const samples = runs.map((): Sample => ({ lat: [], errors: 0, seconds: 0 }));
  const names: Array<{ link: string; impl: string }> = [];
  for (let pass = 0; pass < rounds; pass++) {
    for (const [i, [make]] of runs.entries()) {
      const r = await make();
      names[i] = { link: r.name, impl: r.impl };
      await sample(r, seconds / rounds, samples[i]);
      await r.close();
    }
  }
  return runs.map(([, extra], i) => {
    const { lat, errors, seconds: elapsed } = samples[i];
    const row = {
      ...names[i],
      request: `FC3 ${REGISTERS} registers`,
      seconds: round(elapsed),
      requests: lat.length,
      requestsPerS: round(lat.length / elapsed, 1),
      errors,
      latencyMs: percentiles(lat),
      ...extra,
    };
    console.log(`${row.link.padEnd(26)} ${row.impl.padEnd(42)} ${String(row.requestsPerS).padStart(8)} req/s  p50 ${row.latencyMs.p50} ms`);
    return row;
  });
}

async function garbage(r: Reader, peer: ModbusPeer) {
  await r.read();
  await peer.fault('truncate');
  const s = performance.now();
  const broken = await r.read().then(
    () => 'ok',
    (e: { code?: string; message?: string }) => e.code ?? e.message ?? 'error',
  );
  const brokenMs = round(performance.now() - s, 1);
  let failures = 0;
  for (let i = 0; i < 5; i++) await r.read().catch(() => (failures += 1));
  const row = {
    link: r.name,
    impl: r.impl,
    fault: 'one truncated reply',
    brokenRequest: broken,
    brokenRequestMs: brokenMs,
    nextRequests: 5,
    nextFailures: failures,
  };
  console.log(`${r.name.padEnd(26)} ${r.impl.padEnd(42)} broken reply took ${brokenMs} ms, then ${failures}/5 failed`);
  return row;
}

/** Poll with the daemon's defaults; kill the device, keep it down 1 s, restart it. */
async function recovery(name: string, link: ModbusLink, kill: () => Promise<void>, restart: () => Promise<void>, trials: number) {
  const point: ResolvedPoint = {
    name: 'r',
    kind: 'gauge',
    area: 'holding',
    address: 0,
    type: 'uint16',
    length: 0,
    wordOrder: 'ABCD',
    scale: '1',
    offset: '0',
    unit: '',
    writable: false,
    maxRate: '',
  };
  const supervisor = supervisors.for(link, { logger }); // defaults: base 500 ms, cap 30 s
  const poller = new DevicePoller({
    device: { id: `${name}-dev`, unitId: 1, pollMs: POLL_MS, points: [point] },
    link,
    queue: queues.for(link.busKey),
    logger,
    supervisor,
  });
  const next = <T>(event: 'readings' | 'state', pred: (x: T) => boolean) =>
    new Promise<void>((resolve) => {
      const on = (x: T) => {
        if (!pred(x)) return;
        poller.removeListener(event, on);
        resolve();
      };
      poller.on(event, on);
    });
  const complete = (r: DeviceReadings) => r.failed.length === 0 && r.values.length === 1;
  poller.start();
  await next('readings', complete);
  const rows = [];
  for (let t = 0; t < trials; t++) {
    const offline = next('state', (s: DeviceStateChange) => s.state === 'offline');
    const k = performance.now();
    await kill();
    await offline;
    const detectMs = performance.now() - k;
    await sleep(Math.max(0, 1000 - detectMs));
    await restart();
    const back = performance.now();
    await next('readings', complete);
    const row = { detectMs: round(detectMs, 1), downMs: round(back - k, 1), recoveryMs: round(performance.now() - back, 1) };
    rows.push(row);
    console.log(
      `${name.padEnd(26)} restart ${t + 1}: offline after ${row.detectMs} ms, first reading ${row.recoveryMs} ms after the device was back`,
    );
  }
  await poller.stop();
  await link.close();
  queues.release(link.busKey);
  const sorted = rows.map((r) => r.recoveryMs).sort((a, b) => a - b);
  return {
    link: name,
    pollMs: POLL_MS,
    supervisor: 'base 500 ms, cap 30 s, full jitter',
    recoveryMs: { min: sorted[0], median: sorted[Math.floor(sorted.length / 2)], max: sorted[sorted.length - 1] },
    trials: rows,
  };
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const started = performance.now();
  let tcp = await startModbusPeer(SPEC);
  let conv = await startModbusPeer({ ...SPEC, framer: 'rtu' });
  const bus: SerialBus = await startSerialBus(SPEC, { baudrate: 115200 });
  const throughputRows = [];
  const garbageRows = [];
  const recoveryRows = [];
  try {
    console.log('-- throughput');
    const mk = {
      tcp: () => new ModbusTcpLink({ id: 'tcp', host: '127.0.0.1', port: tcp.port, timeoutMs: TIMEOUT_MS }, logger),
      conv: () => new RtuOverTcpLink({ id: 'conv', host: '127.0.0.1', port: conv.port, timeoutMs: TIMEOUT_MS }, logger),
      rtu: (baudRate: number, interFrameGapMs?: number) =>
        new ModbusRtuLink({ id: `rtu${baudRate}`, path: bus.path, baudRate, timeoutMs: TIMEOUT_MS, interFrameGapMs }, logger),
    };
    const opened = async (l: ModbusLink) => (await l.open(), l);
    const telnet = async () => {
      const c = new ModbusRTU();
      await c.connectTelnet('127.0.0.1', { port: conv.port });
      return viaRival('rtu-over-tcp', 'modbus-serial connectTelnet (rival)', c);
    };
    const buffered = async () => {
      const c = new ModbusRTU();
      await c.connectRTUBuffered(bus.path, { baudRate: 115200 });
      return viaRival('modbus-rtu 115200', 'modbus-serial connectRTUBuffered (rival)', c);
    };
    const runs: Array<[() => Promise<Reader>, Record<string, unknown>]> = [
      [async () => viaLink('modbus-tcp', await opened(mk.tcp())), {}],
      [async () => viaLink('rtu-over-tcp', await opened(mk.conv())), {}],
      [telnet, {}],
      [
        async () => viaLink('modbus-rtu 115200', await opened(mk.rtu(115200))),
        { wireBoundRequestsPerS: wireBound(115200), interFrameGapMs: 1.75 },
      ],
      [
        async () => viaLink('modbus-rtu 115200 gap 0', await opened(mk.rtu(115200, 0))),
        { interFrameGapMs: 0, note: 'no t3.5 (like the rival): the stack cost alone' },
      ],
      [buffered, { wireBoundRequestsPerS: wireBound(115200), interFrameGapMs: 0 }],
      [
        async () => viaLink('modbus-rtu 9600', await opened(mk.rtu(9600))),
        { wireBoundRequestsPerS: wireBound(9600), interFrameGapMs: round(rtuInterFrameGapMs(9600, 10)) },
      ],
    ];
    throughputRows.push(...(await throughput(runs, args.seconds)));

    console.log('-- garbage');
    for (const [make, peer] of [
      [async () => viaLink('rtu-over-tcp', await opened(mk.conv())), conv],
      [telnet, conv],
      [async () => viaLink('modbus-rtu 115200', await opened(mk.rtu(115200))), bus.peer],
      [buffered, bus.peer],
    ] as Array<[() => Promise<Reader>, ModbusPeer]>) {
      const r = await make();
      garbageRows.push(await garbage(r, peer));
      await r.close();
      await peer.clearFaults();
    }

    console.log('-- recovery after a device restart');
    recoveryRows.push(
      await recovery(
        'modbus-tcp',
        mk.tcp(),
        () => tcp.stop(),
        async () => {
          tcp = await startModbusPeer({ ...SPEC, port: tcp.port });
        },
        args.trials,
      ),
    );
    recoveryRows.push(
      await recovery(
        'rtu-over-tcp',
        mk.conv(),
        () => conv.stop(),
        async () => {
          conv = await startModbusPeer({ ...SPEC, framer: 'rtu', port: conv.port });
        },
        args.trials,
      ),
    );
    recoveryRows.push(
      await recovery(
        'modbus-rtu 115200',
        mk.rtu(115200),
        () => bus.stop(),
        () => bus.start(),
        args.trials,
      ),
    );
  } finally {
    await Promise.all([tcp.stop(), conv.stop(), bus.dispose()]);
  }
  const out = {
    bench: 'bus',
    at: new Date().toISOString(),
    machine: {
      node: process.version,
      cpus: os.cpus().length,
      cpu: os.cpus()[0]?.model ?? '',
      platform: `${os.platform()} ${os.release()}`,
    },
    peer: 'pymodbus 3.0 (Debian python3-pymodbus), loopback TCP and a socat pty pair',
    note: 'A pty does not pace bytes at the baud rate: modbus-rtu figures are the stack cost plus the t3.5 gap; wireBoundRequestsPerS is the ceiling of a real 8N1 line.',
    totalSeconds: round((performance.now() - started) / 1000, 1),
    throughput: throughputRows,
    garbage: garbageRows,
    recovery: recoveryRows,
  };
  fs.mkdirSync(path.dirname(args.out), { recursive: true });
  fs.writeFileSync(args.out, `${JSON.stringify(out, null, 2)}\n`);
  console.log(`wrote ${args.out} (${out.totalSeconds} s)`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
