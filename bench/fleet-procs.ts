/**
 * The child processes of the fleet bench and how they are reached: the
 * simulator (build/bench/fleet-sim.js, IPC), the gateway (its own CLI,
 * `m2m-gateway start --config FILE`, found through package.json `bin`, so
 * nothing under gateway/ is imported), optionally pinned to a CPU with
 * `taskset -c`, and plain HTTP GETs to its API on loopback.
 *
 * Every child is tracked: on exit of the bench (normal, error, SIGINT,
 * SIGTERM) the ones still alive get SIGKILL, so no gateway or simulator
 * outlives a run.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import type { FleetSimStats } from './fleet-sim';

const live = new Set<ChildProcess>();

function track(child: ChildProcess): void {
  live.add(child);
  child.once('exit', () => live.delete(child));
}

/** Temp folders of runs in progress: removed on exit unless released first. */
const tempDirs = new Set<string>();

export function removeOnExit(dir: string): void {
  tempDirs.add(dir);
}

/** The run is over: remove `dir` now, or keep it (it is no longer removed on exit either). */
export function releaseTempDir(dir: string, keep: boolean): void {
  tempDirs.delete(dir);
  if (!keep) fs.rmSync(dir, { recursive: true, force: true });
}

/** SIGKILL every tracked child still alive, remove unreleased temp folders (synchronous; safe in an 'exit' handler). */
export function killAll(): void {
  for (const c of live) {
    try {
      c.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
  for (const dir of tempDirs) fs.rmSync(dir, { recursive: true, force: true });
  tempDirs.clear();
}

let hooked = false;
/** Install the exit/signal hooks once: children die with the bench. */
export function killChildrenOnExit(): void {
  if (hooked) return;
  hooked = true;
  process.on('exit', killAll);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => {
      console.error(`\nfleet bench: ${sig}, stopping the gateway and the simulator`);
      killAll();
      process.exit(sig === 'SIGINT' ? 130 : 143);
    });
  }
}

/** The package root (where package.json is), from build/bench/. */
export const packageRoot = (): string => path.resolve(__dirname, '..', '..');

/**
 * NODE_OPTIONS of the shipped systemd unit (deploy/m2m-gateway.service,
 * `Environment=NODE_OPTIONS=…`): the bench runs the gateway as it is deployed
 * (its heap cap decides when V8 first compacts, so the RSS). '' when it sets none.
 */
export function unitNodeOptions(): string {
  const unit = fs.readFileSync(path.join(packageRoot(), 'deploy', 'm2m-gateway.service'), 'utf8');
  const m = /^Environment=NODE_OPTIONS=(.*)$/m.exec(unit);
  return m ? m[1]!.trim().replace(/^"(.*)"$/, '$1') : '';
}

/** The gateway's CLI entry, from package.json `bin` (the built main.js). */
export function gatewayBin(): string {
  const pkg = JSON.parse(fs.readFileSync(path.join(packageRoot(), 'package.json'), 'utf8')) as { bin?: Record<string, string> };
  const rel = pkg.bin?.['m2m-gateway'];
  if (!rel) throw new Error('package.json has no bin "m2m-gateway"');
  const abs = path.join(packageRoot(), rel);
  if (!fs.existsSync(abs)) throw new Error(`${abs} is missing: run npm run build first`);
  return abs;
}

/** `node args…`, pinned to `cpus` (taskset -c) when given. */
function spawnNode(args: string[], cpus: string | undefined, opts: Parameters<typeof spawn>[2]): ChildProcess {
  const child = cpus ? spawn('taskset', ['-c', cpus, process.execPath, ...args], opts) : spawn(process.execPath, args, opts);
  track(child);
  return child;
}

export const exited = (child: ChildProcess): Promise<void> =>
  child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise((resolve) => child.once('exit', () => resolve()));

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Resolves with the first message of `child` that `pick` accepts; rejects on exit or after `ms`. */
function nextMessage<T>(child: ChildProcess, what: string, ms: number, pick: (m: unknown) => T | undefined): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const done = (): void => {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
    };
    const onMessage = (m: unknown): void => {
      const v = pick(m);
      if (v === undefined) return;
      done();
      resolve(v);
    };
    const onExit = (code: number | null): void => {
      done();
      reject(new Error(`${what}: exited (code ${code}) before answering`));
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error(`${what}: no answer within ${ms} ms`));
    }, ms);
    child.on('message', onMessage);
    child.once('exit', onExit);
  });
}

export interface SimHandle {
  child: ChildProcess;
  pid: number;
  ports: number[];
  stats(): Promise<FleetSimStats>;
  stop(): Promise<void>;
}

export async function startSim(opts: { devices: number; registers: number; tickMs: number; cpus?: string }): Promise<SimHandle> {
  const js = path.join(__dirname, 'fleet-sim.js');
  const args = [js, '--devices', String(opts.devices), '--registers', String(opts.registers), '--tick-ms', String(opts.tickMs)];
  const child = spawnNode(args, opts.cpus, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const ports = await nextMessage(child, 'simulator', 30_000, (m) =>
    (m as { type?: string }).type === 'ready' ? (m as { ports: number[] }).ports : undefined,
  );
  return {
    child,
    pid: child.pid!,
    ports,
    stats: () => {
      const p = nextMessage(child, 'simulator stats', 10_000, (m) =>
        (m as { type?: string }).type === 'stats' ? (m as { stats: FleetSimStats }).stats : undefined,
      );
      child.send({ type: 'stats' });
      return p;
    },
    stop: async () => {
      if (child.connected) child.send({ type: 'stop' });
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited(child);
      clearTimeout(t);
    },
  };
}

export interface GatewayHandle {
  child: ChildProcess;
  pid: number;
  /** The API base URL the gateway printed ("… running; API http://127.0.0.1:PORT"). */
  apiUrl: Promise<string>;
  /** Ends of the gateway's stdout + stderr (its log), for error messages. */
  tail(): string;
}

/**
 * `m2m-gateway start --config FILE` in `cwd`, pinned to `cpus` when given.
 * stdout and stderr go to `logFile` (they may hold the generated secrets:
 * keep the file in the run's temp folder) and are never echoed.
 */
export function startGateway(opts: {
  config: string;
  cwd: string;
  logFile: string;
  cpus?: string;
  env?: NodeJS.ProcessEnv;
}): GatewayHandle {
  const log = fs.createWriteStream(opts.logFile);
  // FLEET_GATEWAY_NODE_ARGS: extra node flags for the gateway only (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof").
  const nodeArgs = (process.env.FLEET_GATEWAY_NODE_ARGS ?? '').split(' ').filter((a) => a !== '');
  const child = spawnNode([...nodeArgs, gatewayBin(), 'start', '--config', opts.config], opts.cpus, {
    cwd: opts.cwd,
    env: { ...process.env, NODE_OPTIONS: unitNodeOptions(), ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let tail = '';
  const keep = (chunk: Buffer): void => {
    log.write(chunk);
    tail = (tail + chunk.toString('utf8')).slice(-4000);
  };
  child.stderr!.on('data', keep);
  child.once('exit', () => log.end());
  const apiUrl = new Promise<string>((resolve, reject) => {
    let out: string | null = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      keep(chunk);
      if (out === null) return; // found already
      out += chunk.toString('utf8');
      const m = /running; API (http:\/\/\S+)/.exec(out);
      if (m) {
        out = null;
        resolve(m[1]!);
      }
    });
    child.once('exit', (code, sig) => reject(new Error(`gateway exited (code ${code}, ${sig ?? 'no signal'}) before it was up:\n${tail}`)));
  });
  apiUrl.catch(() => undefined); // the caller awaits it; an early exit must not be an unhandled rejection meanwhile
  return { child, pid: child.pid!, apiUrl, tail: () => tail };
}

/** SIGTERM, then SIGKILL after `graceMs`; how it ended and how long stopping took. */
export async function stopGateway(
  child: ChildProcess,
  graceMs = 20_000,
): Promise<{ code: number | null; signal: string | null; stopMs: number; killed: boolean }> {
  const t0 = performance.now();
  let killed = false;
  if (child.exitCode === null && child.signalCode === null) {
    child.kill('SIGTERM');
    const t = setTimeout(() => {
      killed = true;
      child.kill('SIGKILL');
    }, graceMs);
    await exited(child);
    clearTimeout(t);
  }
  return { code: child.exitCode, signal: child.signalCode, stopMs: Math.round(performance.now() - t0), killed };
}

export interface HttpAnswer {
  status: number;
  body: string;
  ms: number;
}

/** GET `url` with an optional bearer token (loopback, no keep-alive). */
export function httpGet(url: string, token?: string, timeoutMs = 30_000): Promise<HttpAnswer> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers: token ? { authorization: `Bearer ${token}` } : {}, agent: false, timeout: timeoutMs }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(parts).toString('utf8'), ms: performance.now() - t0 }),
      );
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url}: no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
  });
}

/** Poll `check` every `everyMs` until it returns true or `ms` pass; true when it did. */
export async function waitFor(check: () => Promise<boolean>, ms: number, everyMs: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await check().catch(() => false)) return true;
    if (Date.now() > deadline) return false;
    await sleep(everyMs);
  }
}
