/**
 * sd_notify(3) for the daemon under systemd `Type=notify`
 * (deploy/m2m-gateway.service):
 *
 * - `READY=1` once the API listens (cli/start.ts calls `ready()` after the
 *   start succeeded), so `systemctl start` returns when the gateway answers;
 * - `WATCHDOG=1` every half `WatchdogSec` (WATCHDOG_USEC), sent from a timer
 *   on the event loop: a loop that stalls starves the watchdog and systemd
 *   aborts and restarts the unit;
 * - `STOPPING=1` when a stop begins.
 *
 * Node cannot send unix datagrams (node:dgram has no AF_UNIX), so each message
 * is sent by spawning `systemd-notify`, which is a different process than the
 * daemon: the unit needs `NotifyAccess=all`, and `--pid` names the daemon as
 * the main PID. Without NOTIFY_SOCKET (not under systemd, `Type=simple`, a
 * terminal) every method is a no-op. Nothing here throws or rejects: a
 * notification that cannot be sent is logged once as a warning.
 */
import { spawn } from 'node:child_process';

/** The part of a pino logger used here. */
export interface NotifyLog {
  warn(obj: object, msg: string): void;
}

/** Sends one notification (fields such as `READY=1`); resolves when it was handed over or failed. */
export type NotifySender = (fields: readonly string[]) => Promise<void>;

export interface SdNotifyOptions {
  /** Environment to read NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID from (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** The daemon's PID (default process.pid). */
  pid?: number;
  /** How a notification is sent (default: spawn `systemd-notify`). Tests pass a recorder. */
  send?: NotifySender;
  /** The systemd-notify binary (default found on PATH). */
  command?: string;
}

/**
 * How often to feed the watchdog, in ms: half of WATCHDOG_USEC, as
 * sd_watchdog_enabled(3) advises; null when no watchdog is asked of this
 * process (unset, not a positive integer, or WATCHDOG_PID names another process).
 */
export function watchdogIntervalMs(env: NodeJS.ProcessEnv, pid: number): number | null {
  const usec = env.WATCHDOG_USEC;
  if (!usec || !/^[1-9]\d*$/.test(usec)) return null;
  const forPid = env.WATCHDOG_PID;
  if (forPid !== undefined && forPid !== '' && Number(forPid) !== pid) return null;
  return Math.max(1, Math.floor(Number(usec) / 2000));
}

/** The default sender: `systemd-notify --pid=<pid> FIELD...`, bounded to 5 s. */
export function systemdNotifySender(pid: number, command = 'systemd-notify'): NotifySender {
  return (fields) =>
    new Promise((resolve, reject) => {
      let child;
      try {
        child = spawn(command, [`--pid=${pid}`, ...fields], { stdio: ['ignore', 'ignore', 'pipe'] });
      } catch (err) {
        reject(err);
        return;
      }
      let stderr = '';
      child.stderr?.setEncoding('utf8');
      child.stderr?.on('data', (s: string) => (stderr += s));
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      timer.unref();
      child.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        if (code === 0) resolve();
        else reject(new Error(`${command} ${fields.join(' ')}: ${signal ?? `exit ${code}`}${stderr ? `: ${stderr.trim()}` : ''}`));
      });
    });
}

export class SdNotifier {
  /** True when a service manager listens (NOTIFY_SOCKET is set). */
  readonly enabled: boolean;
  /** Watchdog feeding interval in ms, or null when no watchdog is configured. */
  readonly watchdogMs: number | null;
  private readonly send: NotifySender;
  private timer: NodeJS.Timeout | null = null;
  private feeding = false;
  private warned = false;

  constructor(
    private readonly log: NotifyLog,
    opts: SdNotifyOptions = {},
  ) {
    const env = opts.env ?? process.env;
    const pid = opts.pid ?? process.pid;
    this.enabled = Boolean(env.NOTIFY_SOCKET);
    this.watchdogMs = this.enabled ? watchdogIntervalMs(env, pid) : null;
    this.send = opts.send ?? systemdNotifySender(pid, opts.command);
  }

  /** Startup finished: READY=1 with a status line, then the watchdog starts being fed. */
  async ready(status?: string): Promise<void> {
    if (!this.enabled) return;
    await this.notify(status ? ['READY=1', `STATUS=${oneLine(status)}`] : ['READY=1']);
    this.startWatchdog();
  }

  /** A stop begins: the watchdog stops being fed (systemd's stop timeout applies from here). */
  async stopping(status?: string): Promise<void> {
    this.stopWatchdog();
    if (!this.enabled) return;
    await this.notify(status ? ['STOPPING=1', `STATUS=${oneLine(status)}`] : ['STOPPING=1']);
  }

  /** Free-form status shown by `systemctl status`. */
  async status(text: string): Promise<void> {
    if (!this.enabled) return;
    await this.notify([`STATUS=${oneLine(text)}`]);
  }

  /** Stop feeding the watchdog (idempotent). */
  stopWatchdog(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private startWatchdog(): void {
    if (this.watchdogMs === null || this.timer) return;
    this.timer = setInterval(() => this.feed(), this.watchdogMs);
    // The watchdog never keeps the process alive on its own.
    this.timer.unref();
  }

  /** One WATCHDOG=1; skipped while the previous one is still on its way (no pile-up of children). */
  private feed(): void {
    if (this.feeding) return;
    this.feeding = true;
    void this.notify(['WATCHDOG=1']).finally(() => {
      this.feeding = false;
    });
  }

  private async notify(fields: readonly string[]): Promise<void> {
    try {
      await this.send(fields);
    } catch (err) {
      if (this.warned) return;
      this.warned = true;
      this.log.warn({ err, fields }, 'systemd notification failed (is systemd-notify installed and NotifyAccess=all set?)');
    }
  }
}

function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}
