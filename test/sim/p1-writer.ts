/**
 * A simulated P1 port: socat joins two ptys, the test writes telegrams (and
 * garbage) into end A, the code under test reads end B as a serial port.
 * Killing socat makes B vanish like an unplugged USB adapter; start() brings
 * it back under the same path.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { constants, mkdtempSync, rmSync, type promises as fsp } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { p1Crc } from '../../gateway/links/p1-framer';

export interface PtyPair {
  /** Folder holding the two links (removed by dispose()). */
  readonly dir: string;
  /** Path the test writes to. */
  readonly a: string;
  /** Path the serial port under test opens. */
  readonly b: string;
  /** Is socat running? */
  readonly running: boolean;
  /** (Re)start socat; resolves once both links exist. */
  start(): Promise<void>;
  /** Kill socat and wait for it to exit: B disappears. */
  stop(): Promise<void>;
  /** stop() and remove the folder. */
  dispose(): Promise<void>;
}

const READY = 'starting data transfer loop';

/** Start `socat -d -d pty,raw,echo=0,link=<dir>/A pty,raw,echo=0,link=<dir>/B`. */
export async function startPtyPair(options: { startTimeoutMs?: number } = {}): Promise<PtyPair> {
  const dir = mkdtempSync(join(tmpdir(), 'm2m-p1-'));
  const a = join(dir, 'A');
  const b = join(dir, 'B');
  const startTimeoutMs = options.startTimeoutMs ?? 5000;
  let child: ChildProcess | undefined;

  const start = (): Promise<void> =>
    new Promise((resolve, reject) => {
      if (child) return resolve();
      const p = spawn('socat', ['-d', '-d', `pty,raw,echo=0,link=${a}`, `pty,raw,echo=0,link=${b}`], {
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      child = p;
      let log = '';
      const timer = setTimeout(() => {
        p.kill('SIGKILL');
        reject(new Error(`socat did not start within ${startTimeoutMs} ms: ${log}`));
      }, startTimeoutMs);
      p.stderr?.on('data', (d: Buffer) => {
        log += d.toString();
        if (log.includes(READY)) {
          clearTimeout(timer);
          resolve();
        }
      });
      p.on('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
      p.on('exit', () => {
        clearTimeout(timer);
        if (child === p) child = undefined;
        reject(new Error(`socat exited: ${log}`)); // no-op once resolved
      });
    });

  const stop = (): Promise<void> =>
    new Promise((resolve) => {
      const p = child;
      if (!p || p.exitCode !== null) {
        child = undefined;
        return resolve();
      }
      p.once('exit', () => resolve());
      p.kill('SIGTERM');
    });

  await start();
  return {
    dir,
    a,
    b,
    get running() {
      return child !== undefined;
    },
    start,
    stop,
    async dispose() {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Writes raw bytes into a pty end (opened once, kept open). */
export class P1Writer {
  private constructor(private readonly handle: fsp.FileHandle) {}

  static async open(path: string): Promise<P1Writer> {
    return new P1Writer(await open(path, constants.O_WRONLY | constants.O_NOCTTY));
  }

  async write(data: string | Buffer): Promise<void> {
    const buf = typeof data === 'string' ? Buffer.from(data, 'latin1') : data;
    let off = 0;
    while (off < buf.length) off += (await this.handle.write(buf, off, buf.length - off)).bytesWritten;
  }

  async close(): Promise<void> {
    await this.handle.close().catch(() => undefined);
  }
}

/**
 * Build a telegram from its lines (header first, without the '!' line), CRLF
 * line ends. With crc (default) the CRC16/ARC line of DSMR 4+/5 is appended,
 * without it a bare '!' as DSMR 2.2/3.0 sends.
 */
export function buildTelegram(lines: string[], options: { crc?: boolean } = {}): string {
  const frame = `${lines.join('\r\n')}\r\n!`;
  return options.crc === false ? `${frame}\r\n` : `${frame}${p1Crc(frame)}\r\n`;
}
