/**
 * Query and path parameters, declared per route as data (`{from: 'time'}`)
 * and checked here. Every failure is a 400 naming the parameter.
 *
 * - 'name':  an id (device, point, channel, kind): 1..128 printable characters.
 * - 'time':  epoch milliseconds (digits) or ISO 8601: a date (`2026-11-25`, UTC
 *            midnight) or a date-time with `Z` or an offset (`…T12:00:00+01:00`;
 *            a `+` that arrived as a space from an unencoded query is accepted).
 *            A local time without a zone is refused: ambiguous on a gateway.
 * - 'limit': an integer 1..1000.
 * Unknown or repeated parameters are refused too (a typo must not silently widen a query).
 */
import { BadRequestError } from './errors';

export type ParamKind = 'name' | 'time' | 'limit';
export type QuerySpec = Readonly<Record<string, ParamKind>>;

type ParamValue<K extends ParamKind> = K extends 'name' ? string : number;
export type ParsedQuery<S extends QuerySpec> = { -readonly [P in keyof S]?: ParamValue<S[P]> };

export const MAX_NAME_LENGTH = 128;
export const MAX_LIMIT = 1000;

// eslint-disable-next-line no-control-regex
const CONTROL_RE = /[\u0000-\u001f\u007f]/;

export function parseName(field: string, raw: string): string {
  if (raw.length === 0) throw new BadRequestError(field, 'must not be empty');
  if (raw.length > MAX_NAME_LENGTH) throw new BadRequestError(field, `longer than ${MAX_NAME_LENGTH} characters`);
  if (CONTROL_RE.test(raw)) throw new BadRequestError(field, 'contains control characters');
  return raw;
}

export function parseLimit(field: string, raw: string): number {
  if (!/^\d{1,7}$/.test(raw)) throw new BadRequestError(field, `expected an integer 1..${MAX_LIMIT}`);
  const n = Number(raw);
  if (n < 1 || n > MAX_LIMIT) throw new BadRequestError(field, `expected an integer 1..${MAX_LIMIT}`);
  return n;
}

const ISO_RE = /^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?(?:([Zz])|([+\- ])(\d{2}):?(\d{2})))?$/;

function daysInMonth(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

/** Parse a time parameter to UTC epoch ms; throws a 400 naming `field`. */
export function parseTime(field: string, raw: string): number {
  const bad = (): never => {
    throw new BadRequestError(
      field,
      `expected ISO 8601 (2026-11-25, 2026-11-25T12:00:00Z, 2026-11-25T13:00:00+01:00) or epoch milliseconds, got ${JSON.stringify(raw.slice(0, 64))}`,
    );
  };
  if (/^\d{1,15}$/.test(raw)) return Number(raw);
  const m = ISO_RE.exec(raw);
  if (!m) return bad();
  const [, y, mo, d, h, mi, s, frac, z, sign, oh, om] = m;
  const year = Number(y);
  const month = Number(mo);
  const day = Number(d);
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return bad();
  if (h === undefined) return Date.UTC(year, month - 1, day);
  if (z === undefined && sign === undefined) return bad(); // time without a zone
  const hour = Number(h);
  const minute = Number(mi);
  const second = s === undefined ? 0 : Number(s);
  if (hour > 23 || minute > 59 || second > 59) return bad();
  const ms = frac === undefined ? 0 : Number(frac.slice(0, 3).padEnd(3, '0'));
  let offsetMin = 0;
  if (sign !== undefined) {
    const offH = Number(oh);
    const offM = Number(om);
    if (offH > 23 || offM > 59) return bad();
    offsetMin = (sign === '-' ? -1 : 1) * (offH * 60 + offM);
  }
  return Date.UTC(year, month - 1, day, hour, minute, second, ms) - offsetMin * 60_000;
}

/** Check a query string against a route's spec. */
export function parseQuery<S extends QuerySpec>(params: URLSearchParams, spec: S): ParsedQuery<S> {
  const out: Record<string, string | number> = {};
  for (const key of new Set(params.keys())) {
    const kind = Object.prototype.hasOwnProperty.call(spec, key) ? spec[key] : undefined;
    const shown = key.slice(0, 64);
    if (kind === undefined) {
      const allowed = Object.keys(spec);
      throw new BadRequestError(
        shown,
        `unknown query parameter${allowed.length ? ` (allowed: ${allowed.join(', ')})` : ' (this route takes none)'}`,
      );
    }
    const values = params.getAll(key);
    if (values.length > 1) throw new BadRequestError(key, 'given more than once');
    const raw = values[0] as string;
    out[key] = kind === 'name' ? parseName(key, raw) : kind === 'time' ? parseTime(key, raw) : parseLimit(key, raw);
  }
  return out as ParsedQuery<S>;
}

/** Decode one `:param` path segment (404-free: a bad encoding is a 400 naming the parameter). */
export function decodePathParam(field: string, raw: string): string {
  let v: string;
  try {
    v = decodeURIComponent(raw);
  } catch {
    throw new BadRequestError(field, 'bad percent-encoding');
  }
  return parseName(field, v);
}
