/**
 * Time-of-use bands -> UTC price segments, DST-correct.
 *
 * A band ({days: "mon-fri", from: "07:00", to: "22:00", price}) is local wall
 * time in the gateway's IANA time zone. It starts on each of its days at
 * `from` and ends at `to` the same day, or the next day when `to <= from`
 * (it wraps past midnight; "24:00" is the end of the day).
 *
 * A boundary is the first instant the local clock reaches its wall time:
 *  - in a spring-forward gap (Oslo 2026-03-29 02:00 -> 03:00) a time that
 *    does not exist (02:30) maps to the end of the gap (03:00 CEST = 01:00Z);
 *  - in a fall-back repeat (Oslo 2026-10-25 03:00 -> 02:00) a time that
 *    happens twice (02:30) maps to its first occurrence (02:30 CEST = 00:30Z),
 *    so a band is one continuous interval.
 * Local wall times are mapped to UTC with Intl.DateTimeFormat (no tz tables of our own).
 */
import type { PriceSegment } from '../core/types';
import { isDecimal, MONEY_FRAC, parseDecimal } from '../base/decimal';

export interface TouBandInput {
  days?: string;
  from: string;
  to: string;
  price: string;
}

export interface TouBand {
  /** Bit d set = the band starts on weekday d (0 = Sunday … 6 = Saturday). */
  dayMask: number;
  /** Minutes after local midnight, 0..1439. */
  fromMin: number;
  /** Minutes after local midnight, 0..1440; <= fromMin means the band ends the next day. */
  toMin: number;
  priceNano: bigint;
  /** As written, for messages: "mon-fri 07:00-22:00". */
  label: string;
}

const DAY_NAMES = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];
const FULL_DAY_NAMES = ['sunday', 'monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday'];
const ALL_DAYS = 0b1111111;
const MINUTE = 60_000;
const DAY = 86_400_000;

function dayIndex(token: string): number {
  const t = token.toLowerCase();
  const i = DAY_NAMES.indexOf(t);
  return i >= 0 ? i : FULL_DAY_NAMES.indexOf(t);
}

/** "mon-fri", "sat,sun", "fri-mon", "mon", "*" -> weekday bit mask; a string explains a bad spec. */
export function parseDays(spec: string): number | string {
  const s = spec.trim().toLowerCase();
  if (s === '' || s === '*' || s === 'all' || s === 'daily') return ALL_DAYS;
  let mask = 0;
  for (const raw of s.split(',')) {
    const token = raw.trim();
    const range = token.split('-').map((x) => x.trim());
    if (range.length === 1 && dayIndex(range[0]) >= 0) {
      mask |= 1 << dayIndex(range[0]);
    } else if (range.length === 2 && dayIndex(range[0]) >= 0 && dayIndex(range[1]) >= 0) {
      let d = dayIndex(range[0]);
      const end = dayIndex(range[1]);
      for (;;) {
        mask |= 1 << d;
        if (d === end) break;
        d = (d + 1) % 7;
      }
    } else {
      return `"${spec}" is not a day list: use names mon..sun, ranges like mon-fri, commas (sat,sun) or "*"`;
    }
  }
  return mask;
}

/** "07:00" -> 420; "24:00" -> 1440 when allowed; undefined when not a clock time. */
export function parseClock(s: unknown, allow24: boolean): number | undefined {
  if (typeof s !== 'string') return undefined;
  const m = /^(\d{1,2}):(\d{2})$/.exec(s.trim());
  if (!m) return undefined;
  const h = Number(m[1]);
  const min = Number(m[2]);
  if (allow24 && h === 24 && min === 0) return 1440;
  return h < 24 && min < 60 ? h * 60 + min : undefined;
}

/** Validate one band as written in a node; problems are returned as text ("tou[0].from: …"). */
export function parseBand(b: unknown, index: number): { band?: TouBand; problems: string[] } {
  const at = `tou[${index}]`;
  if (typeof b !== 'object' || b === null || Array.isArray(b)) return { problems: [`${at}: expected an object {days, from, to, price}`] };
  const o = b as Record<string, unknown>;
  const problems: string[] = [];
  const days = o.days === undefined ? '*' : o.days;
  let dayMask = 0;
  if (typeof days !== 'string') problems.push(`${at}.days: expected a string like "mon-fri"`);
  else {
    const d = parseDays(days);
    if (typeof d === 'string') problems.push(`${at}.days: ${d}`);
    else dayMask = d;
  }
  const fromMin = parseClock(o.from, false);
  if (fromMin === undefined) problems.push(`${at}.from: ${JSON.stringify(o.from)} is not a time HH:MM (00:00..23:59)`);
  const toMin = parseClock(o.to, true);
  if (toMin === undefined) problems.push(`${at}.to: ${JSON.stringify(o.to)} is not a time HH:MM (00:00..24:00)`);
  if (!isDecimal(o.price, MONEY_FRAC) || String(o.price).trim().startsWith('-')) {
    problems.push(`${at}.price: ${JSON.stringify(o.price)} is not a non-negative decimal with at most ${MONEY_FRAC} fraction digits`);
  }
  for (const k of Object.keys(o)) {
    if (!['days', 'from', 'to', 'price'].includes(k)) problems.push(`${at}.${k}: unknown property`);
  }
  if (problems.length > 0) return { problems };
  return {
    band: {
      dayMask,
      fromMin: fromMin as number,
      toMin: toMin as number,
      priceNano: parseDecimal(o.price as string, MONEY_FRAC),
      label: `${typeof days === 'string' && days.trim() ? days.trim() : '*'} ${String(o.from).trim()}-${String(o.to).trim()}`,
    },
    problems,
  };
}

const formats = new Map<string, Intl.DateTimeFormat>();
function formatFor(timeZone: string): Intl.DateTimeFormat {
  let f = formats.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formats.set(timeZone, f);
  }
  return f;
}

/** The local wall clock at instant `t`, written as if it were UTC epoch ms (whole seconds). */
export function wallClockMs(timeZone: string, t: number): number {
  const v: Record<string, number> = {};
  for (const p of formatFor(timeZone).formatToParts(new Date(t))) {
    if (p.type !== 'literal') v[p.type] = Number(p.value);
  }
  return Date.UTC(v.year, v.month - 1, v.day, v.hour, v.minute, v.second);
}

const offsetAt = (timeZone: string, t: number): number => wallClockMs(timeZone, t) - Math.floor(t / 1000) * 1000;

/**
 * The first instant at which the local clock of `timeZone` reaches `wall`
 * (local wall time written as UTC epoch ms). See the file comment for gaps and repeats.
 */
export function wallToUtc(timeZone: string, wall: number): number {
  const before = offsetAt(timeZone, wall - DAY);
  const after = offsetAt(timeZone, wall + DAY);
  const valid = [wall - before, wall - after].filter((t) => wallClockMs(timeZone, t) === wall);
  if (valid.length > 0) return Math.min(...valid);
  // In a gap: the clock jumps over `wall`; the transition instant is when it passes it.
  let lo = wall - Math.max(before, after);
  let hi = wall - Math.min(before, after);
  while (hi - lo > 1000) {
    const mid = Math.floor((lo + hi) / 2000) * 1000;
    if (wallClockMs(timeZone, mid) >= wall) hi = mid;
    else lo = mid;
  }
  return hi;
}

export interface TouOverlap {
  a: TouBand;
  b: TouBand;
  /** Local date (YYYY-MM-DD) the later band starts on. */
  date: string;
}

/**
 * Compile bands into sorted, non-overlapping UTC segments covering
 * [fromMs, toMs). Overlapping bands are reported (each pair once) and the
 * segments are then not usable.
 */
export function compileTou(
  bands: readonly TouBand[],
  timeZone: string,
  fromMs: number,
  toMs: number,
): { segments: PriceSegment[]; overlaps: TouOverlap[] } {
  if (bands.length === 0 || toMs <= fromMs) return { segments: [], overlaps: [] };
  const raw: Array<PriceSegment & { band: TouBand; date: string }> = [];
  const firstWall = wallClockMs(timeZone, fromMs);
  const lastWall = wallClockMs(timeZone, toMs);
  // Start a day early: a band from the previous evening may wrap into the horizon.
  let day = Math.floor(firstWall / DAY) * DAY - DAY;
  for (; day <= lastWall; day += DAY) {
    const weekday = new Date(day).getUTCDay();
    for (const band of bands) {
      if (!(band.dayMask & (1 << weekday))) continue;
      const start = wallToUtc(timeZone, day + band.fromMin * MINUTE);
      const endMin = band.toMin <= band.fromMin ? band.toMin + 1440 : band.toMin;
      const end = wallToUtc(timeZone, day + endMin * MINUTE);
      const s = Math.max(start, fromMs);
      const e = Math.min(end, toMs);
      if (e > s) raw.push({ fromMs: s, toMs: e, priceNano: band.priceNano, band, date: new Date(day).toISOString().slice(0, 10) });
    }
  }
  raw.sort((x, y) => x.fromMs - y.fromMs || x.toMs - y.toMs);
  const overlaps: TouOverlap[] = [];
  const seen = new Set<string>();
  let reach = raw.length > 0 ? raw[0] : undefined;
  for (let i = 1; i < raw.length; i++) {
    const cur = raw[i];
    if (reach && cur.fromMs < reach.toMs) {
      const key = `${bands.indexOf(reach.band)}/${bands.indexOf(cur.band)}`;
      if (!seen.has(key)) {
        seen.add(key);
        overlaps.push({ a: reach.band, b: cur.band, date: cur.date });
      }
    }
    if (!reach || cur.toMs > reach.toMs) reach = cur;
  }
  if (overlaps.length > 0) return { segments: [], overlaps };
  const segments: PriceSegment[] = [];
  for (const r of raw) {
    const last = segments[segments.length - 1];
    if (last && last.toMs === r.fromMs && last.priceNano === r.priceNano) last.toMs = r.toMs;
    else segments.push({ fromMs: r.fromMs, toMs: r.toMs, priceNano: r.priceNano });
  }
  return { segments, overlaps };
}
