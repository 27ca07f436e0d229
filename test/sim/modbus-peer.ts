/**
 * Jest helper: starts test/sim/modbus_server.py (pymodbus 3.0 under
 * /usr/bin/python3) as a real Modbus peer — Modbus TCP on a loopback port,
 * RTU over TCP (`framer: 'rtu'`), or RTU on a serial device (`serial`, see
 * serial-bus.ts for a pty pair) — and drives its stdin control channel. See
 * the spec format in modbus_server.py.
 *
 *   const peer = await startModbusPeer({ units: { 1: { holding: { 0: [1, 2] } } } });
 *   await peer.set('holding', 0, [1234]);          // unit = first unit of the spec
 *   await peer.set('coil', 3, [true], 2);          // unit 2
 *   await peer.get('holding', 0, 2);               // -> [1234, 2]
 *   await peer.stop();
 * Restart on the same port: startModbusPeer({ ...spec, port: peer.port }).
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';

export type PeerArea = 'holding' | 'input' | 'coil' | 'discrete';

export interface PeerUnitSpec {
  size?: number;
  sparse?: boolean;
  holding?: Record<number, number[]>;
  input?: Record<number, number[]>;
  coil?: Record<number, Array<boolean | number>>;
  discrete?: Record<number, Array<boolean | number>>;
}

export interface PeerEvolution {
  unit?: number;
  area?: 'holding' | 'input';
  address: number;
  type?: 'uint16' | 'int16' | 'uint32' | 'int32' | 'uint64' | 'int64' | 'float32' | 'float64';
  wordOrder?: 'ABCD' | 'CDAB' | 'BADC' | 'DCBA';
  step?: number;
  everyMs?: number;
}

export interface PeerSerialSpec {
  /** The serial device the peer serves RTU on (one end of a pty pair). */
  port: string;
  baudrate?: number;
  parity?: 'N' | 'E' | 'O';
  bytesize?: 7 | 8;
  stopbits?: 1 | 2;
}

/** Reply corruptions of an RTU peer (see modbus_server.py `fault`). */
export type PeerFault = 'crc' | 'truncate' | 'noise' | 'garbage' | 'split' | 'silent';

export interface PeerSpec {
  port?: number;
  /** TCP framing: 'socket' (Modbus TCP, default) or 'rtu' (RTU frames over TCP, a converter). */
  framer?: 'socket' | 'rtu';
  /** Serve RTU on a serial device instead of TCP. */
  serial?: PeerSerialSpec;
  /** Unit ids answered with exception 0x0B; other unknown unit ids get no answer. */
  deadUnits?: number[];
  units?: Record<number, PeerUnitSpec>;
  evolutions?: PeerEvolution[];
  verbose?: boolean;
}

export interface ModbusPeer {
  /** TCP port; 0 for a serial peer. */
  port: number;
  set(area: PeerArea, address: number, words: Array<number | boolean>, unit?: number): Promise<void>;
  get(area: PeerArea, address: number, count: number, unit?: number): Promise<number[]>;
  pause(): Promise<void>;
  resume(): Promise<void>;
  /** Close every client connection (like a device reboot), keep listening. */
  drop(): Promise<number>;
  /** Corrupt the next `n` replies (RTU framing only). */
  fault(kind: PeerFault, n?: number): Promise<void>;
  clearFaults(): Promise<void>;
  /** Put raw bytes on the line now (serial) or on every connection (TCP). */
  noise(bytes: number[]): Promise<void>;
  /** CRC-valid request frames seen on the wire per unit id (RTU framing only), answered or not. */
  requestCounts(): Promise<Record<number, number>>;
  resetRequestCounts(): Promise<void>;
  stop(): Promise<void>;
}

// next to this file under jest; from build/test/sim (a compiled bench) back in the source tree
const SCRIPT = [
  path.join(__dirname, 'modbus_server.py'),
  path.resolve(__dirname, '..', '..', '..', 'test', 'sim', 'modbus_server.py'),
].find((p) => existsSync(p)) as string;
const PYTHON = '/usr/bin/python3';

export function startModbusPeer(spec: PeerSpec = {}, startTimeoutMs = 15_000): Promise<ModbusPeer> {
  const child: ChildProcessWithoutNullStreams = spawn(PYTHON, [SCRIPT, JSON.stringify(spec)], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const lines = readline.createInterface({ input: child.stdout });
  let stderr = '';
  child.stderr.on('data', (b: Buffer) => {
    stderr = (stderr + b.toString()).slice(-4000);
  });
  const replies: Array<{ resolve: (s: string) => void; reject: (e: Error) => void }> = [];
  let exited = false;
  const exit = new Promise<void>((resolve) => {
    child.once('exit', () => {
      exited = true;
      for (const r of replies.splice(0)) r.reject(new Error(`modbus peer exited: ${stderr}`));
      resolve();
    });
  });

  const command = (line: string): Promise<string> => {
    if (exited) return Promise.reject(new Error('modbus peer is not running'));
    return new Promise((resolve, reject) => {
      replies.push({ resolve, reject });
      child.stdin.write(`${line}\n`);
    }).then((answer) => {
      const text = answer as string;
      if (!text.startsWith('ok')) throw new Error(`modbus peer: ${line} -> ${text}`);
      return text.slice(2).trim();
    });
  };
  const unitArg = (unit?: number) => (unit === undefined ? '' : ` u${unit}`);

  return new Promise<ModbusPeer>((resolve, reject) => {
    let started = false;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`modbus peer did not start within ${startTimeoutMs} ms: ${stderr}`));
    }, startTimeoutMs);
    child.once('exit', (code) => {
      if (!started) {
        clearTimeout(timer);
        reject(new Error(`modbus peer exited with ${code} before listening: ${stderr}`));
      }
    });
    lines.on('line', (line) => {
      if (!started) {
        started = true;
        const port = Number(line.trim());
        clearTimeout(timer);
        resolve({
          port,
          set: async (area, address, words, unit) => {
            const vals = words.map((w) => (typeof w === 'boolean' ? (w ? 1 : 0) : w)).join(' ');
            await command(`set${unitArg(unit)} ${area} ${address} ${vals}`);
          },
          get: async (area, address, count, unit) =>
            (await command(`get${unitArg(unit)} ${area} ${address} ${count}`)).split(/\s+/).filter(Boolean).map(Number),
          pause: async () => {
            await command('pause');
          },
          resume: async () => {
            await command('resume');
          },
          drop: async () => Number(await command('drop')),
          fault: async (kind, n = 1) => {
            await command(`fault ${kind} ${n}`);
          },
          clearFaults: async () => {
            await command('fault clear');
          },
          noise: async (bytes) => {
            await command(`noise ${bytes.map((b) => (b & 0xff).toString(16).padStart(2, '0')).join('')}`);
          },
          requestCounts: async () => {
            const out: Record<number, number> = {};
            for (const pair of (await command('count')).split(/\s+/).filter(Boolean)) {
              const [unit, n] = pair.split(':').map(Number);
              out[unit] = n;
            }
            return out;
          },
          resetRequestCounts: async () => {
            await command('count reset');
          },
          stop: async () => {
            if (exited) return;
            child.stdin.end('stop\n');
            const killer = setTimeout(() => child.kill('SIGKILL'), 3000);
            await exit;
            clearTimeout(killer);
          },
        });
        return;
      }
      replies.shift()?.resolve(line);
    });
  });
}
