/**
 * Log priorities for journald. When systemd connects a stream to the journal
 * it sets JOURNAL_STREAM=<device>:<inode> of that stream; a line starting with
 * `<N>` (sd-daemon(3): SD_ERR is "<3>") is stored at syslog priority N
 * (journald's SyslogLevelPrefix=, on by default), so `journalctl -p err`
 * finds the daemon's errors. Anywhere else (a terminal, a file, a pipe) lines
 * stay exactly as they were: plain JSON for the log, plain text for messages.
 *
 * Nothing here throws; a line it cannot classify passes unchanged.
 */
import fs from 'node:fs';

/** Syslog priorities as sd-daemon(3) names them. */
export const SD_PRIORITY = { emerg: 0, alert: 1, crit: 2, err: 3, warning: 4, notice: 5, info: 6, debug: 7 } as const;

/** pino's numeric level → syslog priority: fatal crit, error err, warn warning, info info, debug and trace debug. */
export function pinoLevelPriority(level: number): number {
  if (level >= 60) return SD_PRIORITY.crit;
  if (level >= 50) return SD_PRIORITY.err;
  if (level >= 40) return SD_PRIORITY.warning;
  if (level >= 30) return SD_PRIORITY.info;
  return SD_PRIORITY.debug;
}

/** True when file descriptor `fd` is the stream systemd connected to the journal. */
export function isJournalStream(fd: number, env: NodeJS.ProcessEnv = process.env): boolean {
  const m = /^(\d+):(\d+)$/.exec(env.JOURNAL_STREAM ?? '');
  if (!m) return false;
  try {
    const st = fs.fstatSync(fd, { bigint: true });
    return st.dev === BigInt(m[1]!) && st.ino === BigInt(m[2]!);
  } catch {
    return false;
  }
}

const LEVEL_HEAD = '{"level":';

/** `<N>` + a pino JSON line, N from its `"level"` (pino writes it first); other lines unchanged. */
export function prefixPinoLine(line: string): string {
  if (!line.startsWith(LEVEL_HEAD)) return line;
  let level = 0;
  let i = LEVEL_HEAD.length;
  for (; i < line.length && i < LEVEL_HEAD.length + 3; i++) {
    const c = line.charCodeAt(i) - 48;
    if (c < 0 || c > 9) break;
    level = level * 10 + c;
  }
  if (i === LEVEL_HEAD.length) return line;
  return `<${pinoLevelPriority(level)}>${line}`;
}

/** Each line of `text` prefixed with `<priority>` (for plain messages written to the journal). */
export function prefixLines(text: string, priority: number): string {
  return text.replace(/^(?=.)/gm, `<${priority}>`);
}

interface LineStream {
  write(chunk: string): boolean;
}

/**
 * When `fd` is the journal stream, make `dest` (pino's destination on `fd`)
 * prefix every log line with its priority; otherwise leave it untouched.
 * Returns `dest`, so it wraps in place: `pino(opts, journalPriorities(pino.destination(2), 2))`.
 */
export function journalPriorities<T extends LineStream>(dest: T, fd: number, env: NodeJS.ProcessEnv = process.env): T {
  if (!isJournalStream(fd, env)) return dest;
  const write = dest.write.bind(dest);
  dest.write = (chunk: string) => write(prefixPinoLine(chunk));
  return dest;
}

/** `text` with each line at `priority` when stderr is the journal; unchanged elsewhere. */
export function forStderr(text: string, priority: number, env: NodeJS.ProcessEnv = process.env): string {
  return isJournalStream(2, env) ? prefixLines(text, priority) : text;
}
