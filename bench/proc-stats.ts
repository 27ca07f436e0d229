/**
 * What a process costs, read from /proc the way an operator's tools would
 * (Linux only; the fleet bench runs as the same user as the gateway, or
 * root, so /proc/PID/io is readable):
 *  - CPU: utime + stime of the whole thread group (/proc/PID/stat fields 14
 *    and 15), in clock ticks (`getconf CLK_TCK`, 100 on Linux);
 *  - memory: VmRSS and VmHWM (/proc/PID/status);
 *  - disk: write_bytes (bytes this process caused to be sent to storage,
 *    counted when pages are dirtied), cancelled_write_bytes, wchar
 *    (/proc/PID/io);
 *  - a folder's size: every file below it (lstat, symlinks not followed),
 *    apparent bytes and allocated bytes — SQLite's -wal and -shm included;
 *  - the machine: busy and total ticks per CPU (/proc/stat), to see what
 *    other processes took during a run.
 * Nothing here throws for a process that has gone: readers return null.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

let clkTck: number | null = null;

/** Clock ticks per second (getconf CLK_TCK; 100 when getconf is missing). */
export function clockTicks(): number {
  if (clkTck === null) {
    try {
      clkTck = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clkTck = 100;
    }
  }
  return clkTck;
}

const readText = (file: string): string | null => {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return null;
  }
};

/** utime + stime of the process (all its threads), clock ticks; null when it is gone. */
export function cpuTicks(pid: number): number | null {
  const stat = readText(`/proc/${pid}/stat`);
  if (stat === null) return null;
  // comm (field 2) may hold spaces and parentheses: fields from 3 on follow the last ')'.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(rest[11]) + Number(rest[12]); // fields 14 and 15
}

export interface MemoryFigures {
  rssBytes: number;
  /** Peak RSS of the process so far. */
  hwmBytes: number;
}

export function memory(pid: number): MemoryFigures | null {
  const status = readText(`/proc/${pid}/status`);
  if (status === null) return null;
  const kB = (key: string): number => {
    const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status);
    return m ? Number(m[1]) * 1024 : 0;
  };
  return { rssBytes: kB('VmRSS'), hwmBytes: kB('VmHWM') };
}

export interface IoFigures {
  writeBytes: number;
  cancelledWriteBytes: number;
  readBytes: number;
  /** Bytes passed to write(2) and friends, sockets and pipes included. */
  wchar: number;
}

export function io(pid: number): IoFigures | null {
  const text = readText(`/proc/${pid}/io`);
  if (text === null) return null;
  const get = (key: string): number => Number(new RegExp(`^${key}: (\\d+)`, 'm').exec(text)?.[1] ?? 0);
  return {
    writeBytes: get('write_bytes'),
    cancelledWriteBytes: get('cancelled_write_bytes'),
    readBytes: get('read_bytes'),
    wchar: get('wchar'),
  };
}

export interface FolderSize {
  files: number;
  /** Sum of file sizes. */
  bytes: number;
  /** Sum of allocated blocks × 512 (what the disk really holds). */
  allocatedBytes: number;
}

/** Size of every file below `dir` (0 for a missing folder; files vanishing meanwhile are skipped). */
export function folderSize(dir: string): FolderSize {
  const total: FolderSize = { files: 0, bytes: 0, allocatedBytes: 0 };
  const walk = (d: string): void => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else {
        try {
          const st = fs.lstatSync(p);
          total.files++;
          total.bytes += st.size;
          total.allocatedBytes += st.blocks * 512;
        } catch {
          // gone between readdir and lstat (SQLite's -shm, a Node-RED backup)
        }
      }
    }
  };
  walk(dir);
  return total;
}

/** Size of one file, 0 when it does not exist. */
export function fileBytes(file: string): number {
  try {
    return fs.statSync(file).size;
  } catch {
    return 0;
  }
}

export interface CpuTimes {
  /** Busy ticks (everything but idle and iowait) per CPU. */
  busy: number[];
  total: number[];
}

/** Per-CPU tick counters of the machine (/proc/stat `cpuN` lines). */
export function machineCpu(): CpuTimes {
  const text = readText('/proc/stat') ?? '';
  const busy: number[] = [];
  const total: number[] = [];
  for (const line of text.split('\n')) {
    const m = /^cpu(\d+) (.*)$/.exec(line);
    if (!m) continue;
    const v = m[2]!.trim().split(/\s+/).map(Number);
    // user nice system idle iowait irq softirq steal (guest is inside user)
    const sum = v.slice(0, 8).reduce((a, b) => a + b, 0);
    const idle = (v[3] ?? 0) + (v[4] ?? 0);
    busy[Number(m[1])] = sum - idle;
    total[Number(m[1])] = sum;
  }
  return { busy, total };
}

/** One sample of a process, `tS` seconds after the sampler started. */
export interface ProcSample {
  tS: number;
  cpuTicks: number;
  rssBytes: number;
  writeBytes: number;
  folderBytes: number;
  /** Bytes of the named files (e.g. ledger.db + -wal + -shm). */
  fileBytes: number;
  /** Bytes of the first named file alone (ledger.db: what stays; the WAL is a bounded journal). */
  firstFileBytes: number;
}

/**
 * Samples one process (CPU, RSS, write_bytes), a folder and a set of files
 * every `everyMs`, from construction until stop() or the process's end.
 */
export class ProcSampler {
  readonly samples: ProcSample[] = [];
  private readonly t0 = performance.now();
  private readonly timer: NodeJS.Timeout;

  constructor(
    readonly pid: number,
    private readonly folder: string,
    private readonly files: readonly string[],
    everyMs = 1000,
  ) {
    this.sample();
    this.timer = setInterval(() => this.sample(), everyMs);
  }

  /** Seconds since the sampler started (the same clock as the samples' tS). */
  now(): number {
    return (performance.now() - this.t0) / 1000;
  }

  /** Take a sample now; null when the process is gone. */
  sample(): ProcSample | null {
    const cpu = cpuTicks(this.pid);
    const mem = memory(this.pid);
    const w = io(this.pid);
    if (cpu === null || mem === null || w === null) return null;
    const s: ProcSample = {
      tS: this.now(),
      cpuTicks: cpu,
      rssBytes: mem.rssBytes,
      writeBytes: w.writeBytes,
      folderBytes: folderSize(this.folder).bytes,
      fileBytes: this.files.reduce((t, f) => t + fileBytes(f), 0),
      firstFileBytes: this.files.length > 0 ? fileBytes(this.files[0]!) : 0,
    };
    this.samples.push(s);
    return s;
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
