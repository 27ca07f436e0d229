/**
 * One DSMR P1 telegram (text from '/' through the CRC line) -> P1Telegram.
 *
 * Numbers are never floats: every value is kept as an exact decimal string
 * with its unit, plus the same value in micro-units as a bigint. Lines that
 * cannot be understood are listed in `unparsed` and skipped, never fatal.
 * Framing and the CRC check are the parser's job (p1-framer.ts).
 */
import { P1TelegramError } from './p1-errors';

/** '2.2' (no version line, no CRC: DSMR 2.2 and 3.0), or the major version: '4', '5'. */
export type P1Version = '2.2' | '4' | '5' | (string & {});

/** dsmr-5 profile point names (docs/config.md) plus the per-phase instantaneous values. */
export const P1_POINTS = {
  import_t1: { obis: '1-0:1.8.1', unit: 'kWh' },
  import_t2: { obis: '1-0:1.8.2', unit: 'kWh' },
  export_t1: { obis: '1-0:2.8.1', unit: 'kWh' },
  export_t2: { obis: '1-0:2.8.2', unit: 'kWh' },
  power_import: { obis: '1-0:1.7.0', unit: 'kW' },
  power_export: { obis: '1-0:2.7.0', unit: 'kW' },
  voltage_l1: { obis: '1-0:32.7.0', unit: 'V' },
  voltage_l2: { obis: '1-0:52.7.0', unit: 'V' },
  voltage_l3: { obis: '1-0:72.7.0', unit: 'V' },
  current_l1: { obis: '1-0:31.7.0', unit: 'A' },
  current_l2: { obis: '1-0:51.7.0', unit: 'A' },
  current_l3: { obis: '1-0:71.7.0', unit: 'A' },
  power_import_l1: { obis: '1-0:21.7.0', unit: 'kW' },
  power_import_l2: { obis: '1-0:41.7.0', unit: 'kW' },
  power_import_l3: { obis: '1-0:61.7.0', unit: 'kW' },
  power_export_l1: { obis: '1-0:22.7.0', unit: 'kW' },
  power_export_l2: { obis: '1-0:42.7.0', unit: 'kW' },
  power_export_l3: { obis: '1-0:62.7.0', unit: 'kW' },
} as const;

export type P1PointName = keyof typeof P1_POINTS | 'gas';

export interface P1Reading {
  /** OBIS code the value came from, e.g. '1-0:1.8.1' or '0-1:24.2.1'. */
  obis: string;
  /** Exact decimal, leading zeros dropped, fraction digits kept: '000004.426' -> '4.426'. */
  value: string;
  /** The value as the meter sent it (before any Wh -> kWh / W -> kW normalisation). */
  raw: string;
  /** 'kWh', 'kW', 'V', 'A', 'm3' for the named points. */
  unit: string;
  /** `value` in micro-units of `unit` (kWh -> micro-kWh). Exact for <= 6 fraction digits, else truncated toward zero. */
  micro: bigint;
  /** Only for M-Bus readings (gas): epoch ms of the reading's own timestamp, null when unreadable. */
  at?: number | null;
}

export interface P1MbusReading extends P1Reading {
  channel: number;
  /** 0-n:24.1.0: 3 = gas, 7 = water ...; null when the meter does not say. */
  deviceType: number | null;
  equipmentId: string | null;
  at: number | null;
}

export interface P1Telegram {
  /** The identification line, '/' included: '/ISk5\2MT382-1000'. */
  header: string;
  version: P1Version;
  /** 1-3:0.2.8 as sent ('50', '42'), or Belgian 0-0:96.1.4 ('50217'); null when absent. */
  versionRaw: string | null;
  /** 0-0:1.0.0 as UTC epoch ms (S = CEST, W = CET); null when absent or invalid. */
  timestamp: number | null;
  equipmentId: string | null;
  /** 0-0:96.14.0 tariff indicator as sent ('0002'). */
  tariff: string | null;
  values: Partial<Record<P1PointName, P1Reading>>;
  /** Every M-Bus reading (gas, water, heat ...) found in the telegram. */
  mbus: P1MbusReading[];
  /** Every COSEM line: OBIS -> its parenthesised arguments as sent (first occurrence wins). */
  objects: Record<string, string[]>;
  /** The 4 hex digits after '!' (upper case), null for DSMR 2.2/3.0. */
  crc: string | null;
  /** Lines that were not understood and skipped. */
  unparsed: string[];
  /** The whole telegram text from '/' through the CRC. */
  raw: string;
}

const COSEM_RE = /^(\d{1,3}-\d{1,3}:\d{1,3}\.\d{1,3}\.\d{1,3})(?:\.\d{1,3}|\*\d{1,3})?((?:\([^()]*\))+)$/;
const ARG_RE = /\(([^()]*)\)/g;
const NUMBER_RE = /^([+-])?(\d+)(?:\.(\d+))?$/;
const MBUS_RE = /^0-(\d):24\.(2\.\d|3\.0)$/;

/** Parse one telegram. Throws P1TelegramError only when `text` is not a telegram at all. */
export function parseTelegram(text: string): P1Telegram {
  const start = text.indexOf('/');
  const end = text.lastIndexOf('!');
  if (start < 0 || end < start) throw new P1TelegramError('not a P1 telegram: expected "/" … "!"');
  const raw = text.slice(start).replace(/\s+$/, '');
  const frame = text.slice(start, end);
  const lineEnd = frame.search(/\r?\n/);
  const header = (lineEnd < 0 ? frame : frame.slice(0, lineEnd)).trim();
  const crcText = text.slice(end + 1).trim();
  const crc = /^[0-9A-Fa-f]{4}$/.test(crcText) ? crcText.toUpperCase() : null;

  const unparsed: string[] = [];
  const objects: Record<string, string[]> = {};
  for (const line of logicalLines(lineEnd < 0 ? '' : frame.slice(lineEnd))) {
    const m = COSEM_RE.exec(line);
    if (!m) {
      unparsed.push(line);
      continue;
    }
    const args = [...m[2].matchAll(ARG_RE)].map((a) => a[1]);
    if (!(m[1] in objects)) objects[m[1]] = args;
  }
  const first = (obis: string): string | null => objects[obis]?.[0] ?? null;

  let versionRaw = first('1-3:0.2.8');
  let version: P1Version;
  if (versionRaw !== null && /^\d+$/.test(versionRaw)) version = versionRaw.length === 1 ? versionRaw : versionRaw[0];
  else if ((versionRaw = first('0-0:96.1.4')) !== null)
    version = '5'; // Belgian e-MUCS, based on DSMR 5.0.2
  else version = crc !== null ? '4' : '2.2';

  let timestamp: number | null = null;
  const ts = first('0-0:1.0.0');
  if (ts !== null) {
    timestamp = p1TimeToEpochMs(ts);
    if (timestamp === null) unparsed.push(`0-0:1.0.0(${ts})`);
  }

  const values: Partial<Record<P1PointName, P1Reading>> = {};
  for (const [name, spec] of Object.entries(P1_POINTS) as [keyof typeof P1_POINTS, { obis: string; unit: string }][]) {
    const arg = first(spec.obis);
    if (arg === null) continue;
    const reading = quantity(spec.obis, arg, null, spec.unit);
    if (reading) values[name] = reading;
    else unparsed.push(`${spec.obis}(${arg})`);
  }

  const mbus = mbusReadings(objects, unparsed);
  const gas = pickGas(mbus);
  if (gas) values.gas = gas;

  return {
    header,
    version,
    versionRaw,
    timestamp,
    equipmentId: first('0-0:96.1.1'),
    tariff: first('0-0:96.14.0'),
    values,
    mbus,
    objects,
    crc,
    unparsed,
    raw,
  };
}

/** Split into lines, dropping blanks; a line starting with '(' continues the one before (DSMR 2.2 gas). */
function logicalLines(body: string): string[] {
  const out: string[] = [];
  for (const piece of body.split(/\r?\n/)) {
    const line = piece.trim();
    if (line === '') continue;
    if (line.startsWith('(') && out.length > 0) out[out.length - 1] += line;
    else out.push(line);
  }
  return out;
}

/** Unit conversions into the named points' units; exact decimal shifts only. */
const UNIT_SHIFT: Record<string, { unit: string; shift: number }> = {
  kwh: { unit: 'kWh', shift: 0 },
  wh: { unit: 'kWh', shift: 3 },
  kw: { unit: 'kW', shift: 0 },
  w: { unit: 'kW', shift: 3 },
  v: { unit: 'V', shift: 0 },
  a: { unit: 'A', shift: 0 },
  m3: { unit: 'm3', shift: 0 },
};

/**
 * '000004.426*kWh' -> reading. `unitHint` is the unit given elsewhere (DSMR 2.2 gas).
 * `want` is the unit the point must end up in (Wh/W are shifted exactly to
 * kWh/kW), or null to take any unit. Null when the number or unit does not fit.
 */
function quantity(obis: string, arg: string, unitHint: string | null, want: string | null): P1Reading | null {
  const star = arg.indexOf('*');
  const raw = star < 0 ? arg : arg.slice(0, star);
  const sent = (star < 0 ? unitHint : arg.slice(star + 1))?.trim() ?? '';
  const m = NUMBER_RE.exec(raw);
  if (!m || sent === '') return null;
  const conv = UNIT_SHIFT[sent.toLowerCase()] ?? { unit: sent, shift: 0 };
  if (want !== null && conv.unit !== want) return null;
  const fracLen = (m[3] ?? '').length + conv.shift;
  const digits = BigInt(m[2] + (m[3] ?? ''));
  const signed = m[1] === '-' ? -digits : digits;
  return { obis, value: formatScaled(signed, fracLen), raw, unit: conv.unit, micro: toMicro(signed, fracLen) };
}

function formatScaled(v: bigint, frac: number): string {
  const neg = v < 0n;
  const s = (neg ? -v : v).toString().padStart(frac + 1, '0');
  const body = frac > 0 ? `${s.slice(0, s.length - frac)}.${s.slice(s.length - frac)}` : s;
  return neg ? `-${body}` : body;
}

function toMicro(v: bigint, frac: number): bigint {
  if (frac <= 6) return v * 10n ** BigInt(6 - frac);
  return v / 10n ** BigInt(frac - 6); // bigint division truncates toward zero
}

function mbusReadings(objects: Record<string, string[]>, unparsed: string[]): P1MbusReading[] {
  const out: P1MbusReading[] = [];
  for (const [obis, args] of Object.entries(objects)) {
    const m = MBUS_RE.exec(obis);
    if (!m) continue;
    const channel = Number(m[1]);
    // DSMR 4/5: 0-n:24.2.x(YYMMDDhhmmssX)(value*unit)
    // DSMR 2.2/3: 0-n:24.3.0(YYMMDDhhmmss)(00)(60)(1)(0-n:24.2.1)(m3)(value)
    const legacy = m[2] === '3.0';
    const tsArg = args[0] ?? '';
    const valueArg = legacy ? args[6] : args[1];
    const unitHint = legacy ? (args[5] ?? null) : null;
    const reading = valueArg === undefined ? null : quantity(obis, valueArg, unitHint, null);
    if (!reading) {
      unparsed.push(`${obis}(${args.join(')(')})`);
      continue;
    }
    const type = objects[`0-${channel}:24.1.0`]?.[0];
    out.push({
      ...reading,
      channel,
      deviceType: type !== undefined && /^\d+$/.test(type) ? Number(type) : null,
      equipmentId: objects[`0-${channel}:96.1.0`]?.[0] ?? objects[`0-${channel}:96.1.1`]?.[0] ?? null,
      at: p1TimeToEpochMs(tsArg),
    });
  }
  return out.sort((a, b) => a.channel - b.channel || a.obis.localeCompare(b.obis));
}

/**
 * The gas meter: an m3 reading on a channel whose device type is 3 (gas), or
 * with no device type given; lowest channel first, 24.2.1 (temperature
 * corrected) before 24.2.3 (Belgium) before 24.3.0 (DSMR 2.2/3).
 */
function pickGas(mbus: P1MbusReading[]): P1Reading | undefined {
  const m3 = mbus.filter((r) => r.unit === 'm3' && (r.deviceType === null || r.deviceType === 3));
  const rank = (r: P1MbusReading): number =>
    (r.deviceType === 3 ? 0 : 10) + (r.obis.endsWith('24.2.1') ? 0 : r.obis.endsWith('24.2.3') ? 1 : 2);
  const best = m3.sort((a, b) => rank(a) - rank(b) || a.channel - b.channel)[0];
  if (!best) return undefined;
  return { obis: best.obis, value: best.value, raw: best.raw, unit: best.unit, micro: best.micro, at: best.at };
}

/** Meters on the P1 port keep Dutch/Belgian local time. */
export const P1_TIME_ZONE = 'Europe/Amsterdam';
const HOUR_MS = 3_600_000;
const P1_TIME_RE = /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})([SW])?$/;

/**
 * 'YYMMDDhhmmssX' -> UTC epoch ms. X = S (summer, CEST = UTC+2) or W (winter,
 * CET = UTC+1) decides the offset, so the repeated hour at the end of summer
 * time is never ambiguous. Without X (DSMR 2.2/3 gas) the Europe/Amsterdam
 * rules decide; in the repeated hour the first (summer) instant is taken.
 * Null for anything that is not a real date and time.
 */
export function p1TimeToEpochMs(s: string): number | null {
  const m = P1_TIME_RE.exec(s.trim());
  if (!m) return null;
  const [y, mo, d, h, mi, se] = m.slice(1, 7).map(Number);
  const local = Date.UTC(2000 + y, mo - 1, d, h, mi, se);
  const check = new Date(local);
  if (check.getUTCMonth() !== mo - 1 || check.getUTCDate() !== d || h > 23 || mi > 59 || se > 59) return null;
  if (m[7] === 'S') return local - 2 * HOUR_MS;
  if (m[7] === 'W') return local - HOUR_MS;
  return zoneLocalToUtc(local, P1_TIME_ZONE);
}

const offsetFormats = new Map<string, Intl.DateTimeFormat>();

/** Offset (ms) of `zone` from UTC at instant `utc`. */
function zoneOffset(utc: number, zone: string): number {
  let offsetFormat = offsetFormats.get(zone);
  if (!offsetFormat) {
    offsetFormat = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    offsetFormats.set(zone, offsetFormat);
  }
  const p: Record<string, number> = {};
  for (const part of offsetFormat.formatToParts(utc)) p[part.type] = Number(part.value);
  const asUtc = Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second);
  return asUtc - Math.floor(utc / 1000) * 1000;
}

/** Local wall-clock ms (as if UTC) -> UTC ms; repeated hour: the earlier instant; skipped hour: standard offset. */
function zoneLocalToUtc(local: number, zone: string): number {
  const offsets = [...new Set([zoneOffset(local - 14 * HOUR_MS, zone), zoneOffset(local + 14 * HOUR_MS, zone)])].sort((a, b) => b - a);
  for (const off of offsets) if (zoneOffset(local - off, zone) === off) return local - off;
  return local - offsets[offsets.length - 1];
}
