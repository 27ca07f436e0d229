/**
 * Jest helper: starts test/sim/modbus_server.py (pymodbus 3.0 under
 * /usr/bin/python3) as a real Modbus TCP peer on a loopback port and drives
 * its stdin control channel. See the spec format in modbus_server.py.
 *
 *   const peer = await startModbusPeer({ units: { 1: { holding: { 0: [1, 2] } } } });
 *   await peer.set('holding', 0, [1234]);          // unit = first unit of the spec
 *   await peer.set('coil', 3, [true], 2);          // unit 2
 *   await peer.get('holding', 0, 2);               // -> [1234, 2]
 *   await peer.stop();
 * Restart on the same port: startModbusPeer({ ...spec, port: peer.port }).
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
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

export interface PeerSpec {
  port?: number;
  /** Unit ids answered with exception 0x0B; other unknown unit ids get no answer. */
  deadUnits?: number[];
  units?: Record<number, PeerUnitSpec>;
  evolutions?: PeerEvolution[];
  verbose?: boolean;
}

export interface ModbusPeer {
  port: number;
  set(area: PeerArea, address: number, words: Array<number | boolean>, unit?: number): Promise<void>;
  get(area: PeerArea, address: number, count: number, unit?: number): Promise<number[]>;
  pause(): Promise<void>;
  resume(): Promise<void>;
  /** Close every client connection (like a device reboot), keep listening. */
  drop(): Promise<number>;
  stop(): Promise<void>;
}

const SCRIPT = path.join(__dirname, 'modbus_server.py');
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
    let port = 0;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`modbus peer did not start within ${startTimeoutMs} ms: ${stderr}`));
    }, startTimeoutMs);
    child.once('exit', (code) => {
      if (port === 0) {
        clearTimeout(timer);
        reject(new Error(`modbus peer exited with ${code} before listening: ${stderr}`));
      }
    });
    lines.on('line', (line) => {
      if (port === 0) {
        port = Number(line.trim());
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
