/**
 * Jest helper: runs the REAL built `m2m-gateway` CLI (build/gateway/cli/main.js)
 * as child processes — one-shot commands (`config check`, `token`, `ledger
 * verify`, `init`) and the long-running daemon (`start`, `demo`), capturing
 * their output. The API client is in gateway-api.ts.
 *
 *   requireBuild();                                   // clear error when build/ is missing
 *   const r = await runCli(['config', 'check', '--config', file]);   // {code, stdout, stderr}
 *   const d = await GatewayProcess.start(['start', '--config', file]);
 *   await waitFor(async () => ..., 'what we wait for', 10_000);
 *   d.kill('SIGKILL'); await d.exited;
 *   await killAllProcesses();                         // afterAll: every child still alive
 *
 * Every wait is bounded and fails with a message naming what was awaited.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export const REPO_ROOT = path.resolve(__dirname, '..', '..');
export const CLI_MAIN = path.join(REPO_ROOT, 'build', 'gateway', 'cli', 'main.js');
const CORE_WASM = path.join(REPO_ROOT, 'build', 'core.wasm');

/** Throws a clear error when the daemon has not been built (the test command builds first). */
export function requireBuild(): void {
  const missing = [CLI_MAIN, CORE_WASM].filter((f) => !fs.existsSync(f));
  if (missing.length > 0) {
    throw new Error(
      `the built daemon is missing (${missing.map((f) => path.relative(REPO_ROOT, f)).join(', ')}); run \`npm run build\` first`,
    );
  }
}

const live = new Set<ChildProcess>();

/** SIGKILL every child started here that is still running, and wait for each to exit (bounded). */
export async function killAllProcesses(): Promise<void> {
  const waits: Promise<void>[] = [];
  for (const c of live) {
    if (c.exitCode === null && c.signalCode === null) {
      waits.push(
        new Promise<void>((resolve) => {
          const t = setTimeout(resolve, 5000);
          c.once('exit', () => {
            clearTimeout(t);
            resolve();
          });
          c.kill('SIGKILL');
        }),
      );
    }
  }
  await Promise.all(waits);
  live.clear();
}

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Run one CLI command to completion (SIGKILLed and rejected after `timeoutMs`). */
export function runCli(args: string[], opts: { timeoutMs?: number; cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<CliResult> {
  const timeoutMs = opts.timeoutMs ?? 15_000;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI_MAIN, ...args], {
      cwd: opts.cwd ?? REPO_ROOT,
      env: { ...process.env, ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    live.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`m2m-gateway ${args.join(' ')} did not exit within ${timeoutMs} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, timeoutMs);
    child.once('error', (e) => {
      clearTimeout(timer);
      live.delete(child);
      reject(e);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      live.delete(child);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

const MAX_CAPTURE = 4 * 1024 * 1024;

/** A long-running CLI process (`start`, `demo`) whose output is captured as it comes. */
export class GatewayProcess {
  stdout = '';
  stderr = '';
  /** The API base URL the process printed (`http://127.0.0.1:PORT`). */
  url = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private exit: { code: number | null; signal: NodeJS.Signals | null } | null = null;

  private constructor(
    readonly child: ChildProcess,
    readonly args: string[],
  ) {
    live.add(child);
    child.stdout!.on('data', (b: Buffer) => (this.stdout = (this.stdout + b.toString()).slice(-MAX_CAPTURE)));
    child.stderr!.on('data', (b: Buffer) => (this.stderr = (this.stderr + b.toString()).slice(-MAX_CAPTURE)));
    this.exited = new Promise((resolve) => {
      child.once('close', (code, signal) => {
        live.delete(child);
        this.exit = { code, signal };
        resolve(this.exit);
      });
    });
  }

  /**
   * Spawn `node build/gateway/cli/main.js <args>` and wait until it prints its
   * API URL (a line matching `urlPattern`, first group = URL).
   */
  static async start(
    args: string[],
    opts: { urlPattern?: RegExp; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {},
  ): Promise<GatewayProcess> {
    const pattern = opts.urlPattern ?? /running; API (http:\/\/\S+)/;
    const child = spawn(process.execPath, [CLI_MAIN, ...args], {
      cwd: REPO_ROOT,
      env: { ...process.env, ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const gp = new GatewayProcess(child, args);
    await waitFor(
      async () => {
        if (gp.exit) {
          throw new Error(
            `m2m-gateway ${args.join(' ')} exited (${gp.exit.code ?? gp.exit.signal}) before serving\nstdout: ${gp.stdout}\nstderr: ${gp.stderr}`,
          );
        }
        return pattern.exec(gp.stdout)?.[1];
      },
      () => `m2m-gateway ${args.join(' ')} to print its API URL\nstdout: ${gp.stdout}\nstderr: ${gp.stderr.slice(-4000)}`,
      opts.timeoutMs ?? 20_000,
      25,
    ).then((url) => (gp.url = url));
    return gp;
  }

  get running(): boolean {
    return this.exit === null;
  }

  kill(signal: NodeJS.Signals): void {
    if (this.running) this.child.kill(signal);
  }

  /** Send `signal` and wait for the exit (SIGKILL and reject after `timeoutMs`). */
  async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 10_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    this.kill(signal);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        this.kill('SIGKILL');
        reject(
          new Error(
            `m2m-gateway ${this.args.join(' ')} did not exit within ${timeoutMs} ms of ${signal}\nstderr: ${this.stderr.slice(-4000)}`,
          ),
        );
      }, timeoutMs);
    });
    try {
      return await Promise.race([this.exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** The JSON log lines (pino, on stderr) parsed; non-JSON lines are skipped. */
  logLines(): Array<Record<string, unknown>> {
    const out: Array<Record<string, unknown>> = [];
    for (const line of this.stderr.split('\n')) {
      if (!line.startsWith('{')) continue;
      try {
        out.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        // a line cut by the capture limit
      }
    }
    return out;
  }
}

/**
 * Poll `probe` until it returns something other than undefined; reject with
 * "timed out after N ms waiting for <what>" (plus the last probe error) at the deadline.
 */
export async function waitFor<T>(
  probe: () => Promise<T | undefined> | T | undefined,
  what: string | (() => string),
  timeoutMs: number,
  intervalMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
      lastError = undefined;
    } catch (e) {
      // A probe that throws a "fatal" error (the process died) ends the wait at once.
      if (e instanceof Error && /exited .* before/.test(e.message)) throw e;
      lastError = e;
    }
    if (Date.now() >= deadline) {
      const desc = typeof what === 'function' ? what() : what;
      const why = lastError === undefined ? '' : `\nlast error: ${lastError instanceof Error ? lastError.message : String(lastError)}`;
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${desc}${why}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
