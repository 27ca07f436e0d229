/**
 * A Modbus TCP fleet on loopback, from one process, with node:net alone: N
 * endpoints (one listening port per device on 127.0.0.1, ports picked by the
 * OS), each answering FC1/FC2 (coils/discretes) and FC3/FC4 (holding/input
 * registers) for any unit id. Built to be cheap per request so that it is
 * never the bottleneck of the fleet bench (bench/fleet.ts), saturation case
 * included: MBAP frames are parsed in place from each TCP read (a read may
 * hold a partial frame or several; a partial tail is kept, at most one frame),
 * the answers to one read go out in one write, and register values are
 * computed on demand from the tick (no per-tick work at all).
 *
 * Values (bench/fleet-layout.ts): holding registers are uint16 counters
 * advancing 1 … 3 per tick (default 1 s) and wrapping at 65536; input
 * registers are gauges; bits alternate with the tick. Out-of-range reads get
 * exception 02, bad counts 03, other function codes 01. A frame with a
 * protocol id other than 0 or an impossible length is garbage: the
 * connection is dropped (counted).
 *
 * In-process: `startFleetSim(opts)`. As its own process (preferred, so its
 * CPU is not counted as the gateway's):
 *   node build/bench/fleet-sim.js --devices 500 [--registers 256] [--tick-ms 1000]
 * Forked with an IPC channel it sends {type:'ready', ports}, answers
 * {type:'stats'} with {type:'stats', stats} and exits on {type:'stop'} or when
 * the channel closes. Without IPC it prints {"ports":[…]} on stdout, a stats
 * line on stderr every --report-s seconds (0: never), and the final stats on
 * SIGINT/SIGTERM.
 */
import net from 'node:net';
import { SIM_REGISTERS, counterAt, gaugeAt } from './fleet-layout';

export interface FleetSimOptions {
  devices: number;
  /** Registers (and bits) per device per area. */
  registers?: number;
  tickMs?: number;
  host?: string;
}

export interface FleetSimStats {
  uptimeS: number;
  connections: number;
  requests: number;
  /** Registers returned by FC3/FC4 answers. */
  registers: number;
  bits: number;
  exceptions: number;
  /** Connections dropped for garbage (bad protocol id or length). */
  garbage: number;
  bytesIn: number;
  bytesOut: number;
  /** Requests per device: min and max over the fleet (a device never asked shows 0). */
  perDevice: { min: number; max: number };
  /** The simulator's own CPU (user + system), microseconds. */
  cpuUs: number;
}

export interface FleetSim {
  ports: number[];
  stats(): FleetSimStats;
  close(): Promise<void>;
}

const MAX_REGISTERS_PER_READ = 125;
const MAX_BITS_PER_READ = 2000;

export async function startFleetSim(opts: FleetSimOptions): Promise<FleetSim> {
  const size = opts.registers ?? SIM_REGISTERS;
  const tickMs = opts.tickMs ?? 1000;
  const host = opts.host ?? '127.0.0.1';
  const t0 = Date.now();
  const cpu0 = process.cpuUsage();
  const perDevice = new Uint32Array(opts.devices);
  const s = { connections: 0, requests: 0, registers: 0, bits: 0, exceptions: 0, garbage: 0, bytesIn: 0, bytesOut: 0 };
  const sockets = new Set<net.Socket>();

  const exception = (tid: number, unit: number, fc: number, code: number): Buffer => {
    s.exceptions++;
    const b = Buffer.allocUnsafe(9);
    b.writeUInt16BE(tid, 0);
    b.writeUInt16BE(0, 2);
    b.writeUInt16BE(3, 4);
    b[6] = unit;
    b[7] = fc | 0x80;
    b[8] = code;
    return b;
  };

  /** The answer to the frame at buf[off …], `len` = its MBAP length field (unit id + PDU). */
  const answer = (dev: number, tick: number, buf: Buffer, off: number, len: number): Buffer => {
    const tid = buf.readUInt16BE(off);
    const unit = buf[off + 6]!;
    const fc = buf[off + 7]!;
    s.requests++;
    perDevice[dev]++;
    if (fc < 1 || fc > 4) return exception(tid, unit, fc, 0x01);
    if (len !== 6) return exception(tid, unit, fc, 0x03);
    const addr = buf.readUInt16BE(off + 8);
    const count = buf.readUInt16BE(off + 10);
    const isBits = fc <= 2;
    if (count < 1 || count > (isBits ? MAX_BITS_PER_READ : MAX_REGISTERS_PER_READ)) return exception(tid, unit, fc, 0x03);
    if (addr + count > size) return exception(tid, unit, fc, 0x02);
    const n = isBits ? (count + 7) >> 3 : count * 2;
    const out = Buffer.allocUnsafe(9 + n);
    out.writeUInt16BE(tid, 0);
    out.writeUInt16BE(0, 2);
    out.writeUInt16BE(3 + n, 4);
    out[6] = unit;
    out[7] = fc;
    out[8] = n;
    if (isBits) {
      out.fill(0, 9);
      for (let k = 0; k < count; k++) if (((dev + addr + k + tick + fc) & 1) === 1) out[9 + (k >> 3)] |= 1 << (k & 7);
      s.bits += count;
    } else {
      for (let k = 0; k < count; k++) {
        const v = fc === 3 ? counterAt(dev, addr + k, tick) : gaugeAt(dev, addr + k, tick);
        out[9 + 2 * k] = v >> 8;
        out[10 + 2 * k] = v & 0xff;
      }
      s.registers += count;
    }
    return out;
  };

  const serve =
    (dev: number) =>
    (sock: net.Socket): void => {
      s.connections++;
      sockets.add(sock);
      sock.setNoDelay(true);
      let tail: Buffer | null = null;
      sock.on('data', (chunk: Buffer) => {
        s.bytesIn += chunk.length;
        const buf = tail ? Buffer.concat([tail, chunk]) : chunk;
        tail = null;
        const tick = Math.floor((Date.now() - t0) / tickMs);
        let off = 0;
        let first: Buffer | null = null;
        let more: Buffer[] | null = null;
        while (buf.length - off >= 7) {
          const proto = buf.readUInt16BE(off + 2);
          const len = buf.readUInt16BE(off + 4);
          if (proto !== 0 || len < 2 || len > 254) {
            s.garbage++;
            sock.destroy();
            return;
          }
          if (buf.length - off < 6 + len) break;
          const a = answer(dev, tick, buf, off, len);
          if (first === null) first = a;
          else (more ??= [first]).push(a);
          off += 6 + len;
        }
        if (off < buf.length) tail = Buffer.from(buf.subarray(off)); // < 260 bytes: at most one partial frame
        const out = more ? Buffer.concat(more) : first;
        if (out) {
          s.bytesOut += out.length;
          sock.write(out);
        }
      });
      sock.on('error', () => undefined); // a gateway going away mid-answer is not our problem
      sock.on('close', () => sockets.delete(sock));
    };

  const servers: net.Server[] = [];
  const ports: number[] = [];
  try {
    for (let dev = 0; dev < opts.devices; dev++) {
      const server = net.createServer(serve(dev));
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen({ host, port: 0, backlog: 16 }, () => {
          server.off('error', reject);
          resolve();
        });
      });
      servers.push(server);
      ports.push((server.address() as net.AddressInfo).port);
    }
  } catch (err) {
    for (const server of servers) server.close();
    throw err;
  }

  return {
    ports,
    stats(): FleetSimStats {
      let min = Infinity;
      let max = 0;
      for (const r of perDevice) {
        if (r < min) min = r;
        if (r > max) max = r;
      }
      const c = process.cpuUsage(cpu0);
      return { uptimeS: (Date.now() - t0) / 1000, ...s, perDevice: { min: perDevice.length ? min : 0, max }, cpuUs: c.user + c.system };
    },
    async close(): Promise<void> {
      for (const sock of sockets) sock.destroy();
      await Promise.all(servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
    },
  };
}

function parseArgs(argv: string[]): Required<FleetSimOptions> & { reportS: number } {
  const a = { devices: 500, registers: SIM_REGISTERS, tickMs: 1000, host: '127.0.0.1', reportS: 0 };
  for (let i = 0; i < argv.length; i += 2) {
    const k = argv[i];
    const v = argv[i + 1] ?? '';
    if (k === '--devices') a.devices = Number(v);
    else if (k === '--registers') a.registers = Number(v);
    else if (k === '--tick-ms') a.tickMs = Number(v);
    else if (k === '--report-s') a.reportS = Number(v);
    else throw new Error(`unknown option ${k} (known: --devices N --registers N --tick-ms MS --report-s S)`);
  }
  if (!(a.devices >= 1 && a.devices <= 10_000)) throw new Error('--devices: 1 … 10000');
  if (!(a.registers >= 1 && a.registers <= 65_536)) throw new Error('--registers: 1 … 65536');
  if (!(a.tickMs >= 1)) throw new Error('--tick-ms: at least 1');
  return a;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const sim = await startFleetSim(args);
  const stop = (code: number): void => {
    void sim.close().finally(() => process.exit(code));
    setTimeout(() => process.exit(code), 2000).unref();
  };
  if (process.send) {
    process.on('message', (m: { type?: string }) => {
      if (m?.type === 'stats') process.send?.({ type: 'stats', stats: sim.stats() });
      else if (m?.type === 'stop') stop(0);
    });
    process.on('disconnect', () => stop(0)); // never outlive the bench
    process.send({ type: 'ready', ports: sim.ports });
    return;
  }
  process.stdout.write(JSON.stringify({ ports: sim.ports }) + '\n');
  if (args.reportS > 0) setInterval(() => process.stderr.write(JSON.stringify(sim.stats()) + '\n'), args.reportS * 1000);
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      process.stderr.write(JSON.stringify(sim.stats()) + '\n');
      stop(0);
    });
  }
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
