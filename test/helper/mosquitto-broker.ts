/**
 * Jest helper: a real Debian `mosquitto` (/usr/sbin/mosquitto) on a loopback
 * port, started and stopped by the test, with a minimal config file:
 *
 *   const b = await MosquittoBroker.start(dir);          // free port, anonymous, no persistence
 *   await b.stop();                                      // SIGTERM, wait for the exit
 *   await b.start({ passwordFile });                     // same port again, other settings
 *   b.reload({ allowAnonymous: true });                  // rewrite the config, SIGHUP
 *
 * With MOSQ_LOG=<file> in the environment the broker logs everything there (for debugging a test).
 * Every wait is bounded. `stopAll()` in afterAll SIGKILLs whatever is still running.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../../gateway/cli/demo/free-port';
import { waitFor } from './daemon-process';

export const MOSQUITTO = '/usr/sbin/mosquitto';

export interface BrokerSettings {
  allowAnonymous?: boolean;
  /** A mosquitto password file (see `addBrokerUser`). */
  passwordFile?: string;
}

const live = new Set<ChildProcess>();

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** Add (or replace) a user in a mosquitto password file (hashed by mosquitto_passwd). */
export async function addBrokerUser(file: string, user: string, password: string): Promise<void> {
  const args = fs.existsSync(file) ? ['-b', file, user, password] : ['-c', '-b', file, user, password];
  await new Promise<void>((resolve, reject) => {
    const p = spawn('/usr/bin/mosquitto_passwd', args, { stdio: 'ignore' });
    p.once('error', reject);
    p.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`mosquitto_passwd exited ${code}`))));
  });
}

export class MosquittoBroker {
  private child: ChildProcess | null = null;
  log = '';
  private readonly confFile: string;

  private constructor(
    readonly dir: string,
    readonly port: number,
  ) {
    this.confFile = path.join(dir, 'mosquitto.conf');
  }

  /** A broker on a free loopback port; `dir` holds its config file. */
  static async start(dir: string, settings: BrokerSettings = {}): Promise<MosquittoBroker> {
    fs.mkdirSync(dir, { recursive: true });
    const b = new MosquittoBroker(dir, await freePort());
    await b.start(settings);
    return b;
  }

  get url(): string {
    return `mqtt://127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.child !== null;
  }

  private writeConfig(s: BrokerSettings): void {
    const lines = [
      `listener ${this.port} 127.0.0.1`,
      `allow_anonymous ${s.allowAnonymous ?? true}`,
      'persistence false',
      // When run as root mosquitto would switch to user "mosquitto", who cannot read the test's files.
      `user ${os.userInfo().username}`,
    ];
    if (s.passwordFile) lines.push(`password_file ${s.passwordFile}`);
    if (process.env.MOSQ_LOG) lines.push('log_type all', `log_dest file ${process.env.MOSQ_LOG}`);
    fs.writeFileSync(this.confFile, lines.join('\n') + '\n');
  }

  /** (Re)start on the same port and wait until it accepts connections. */
  async start(settings: BrokerSettings = {}): Promise<void> {
    if (this.child) throw new Error('broker already running');
    this.writeConfig(settings);
    const child = spawn(MOSQUITTO, ['-c', this.confFile], { stdio: ['ignore', 'pipe', 'pipe'] });
    live.add(child);
    this.child = child;
    const append = (b: Buffer) => (this.log = (this.log + b.toString()).slice(-200_000));
    child.stdout!.on('data', append);
    child.stderr!.on('data', append);
    let exited = false;
    child.once('exit', () => {
      exited = true;
      live.delete(child);
      if (this.child === child) this.child = null;
    });
    await waitFor(
      async () => {
        if (exited) throw new Error(`mosquitto exited before listening:\n${this.log}`);
        return (await portOpen(this.port)) ? true : undefined;
      },
      () => `mosquitto to listen on ${this.port}\n${this.log}`,
      10_000,
      25,
    );
  }

  /** Rewrite the config and send SIGHUP (mosquitto reloads allow_anonymous and password_file). */
  reload(settings: BrokerSettings): void {
    this.writeConfig(settings);
    this.child?.kill('SIGHUP');
  }

  /** SIGTERM and wait for the exit (SIGKILL after 5 s). */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child) return;
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      child.once('exit', () => {
        clearTimeout(t);
        resolve();
      });
      child.kill('SIGTERM');
    });
    this.child = null;
  }

  /** SIGKILL every broker still running (afterAll). */
  static async stopAll(): Promise<void> {
    await Promise.all(
      [...live].map(
        (c) =>
          new Promise<void>((resolve) => {
            if (c.exitCode !== null || c.signalCode !== null) return resolve();
            c.once('exit', () => resolve());
            c.kill('SIGKILL');
          }),
      ),
    );
    live.clear();
  }
}
