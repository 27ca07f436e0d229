/**
 * Exact decimal strings <-> scaled bigints. Money and quantities never pass
 * through floats: "12.345" with 9 fraction digits is 12345000000n.
 */
import { GatewayError } from './errors';

export class DecimalError extends GatewayError {
  constructor(message: string) {
    super('GW_ERR_DECIMAL', message);
  }
}

const DECIMAL_RE = /^([+-])?(\d+)(?:\.(\d+))?$/;

/** True when `s` is a plain decimal with at most `maxFrac` fraction digits. */
export function isDecimal(s: unknown, maxFrac: number): s is string {
  if (typeof s !== 'string') return false;
  const m = DECIMAL_RE.exec(s.trim());
  return m !== null && (m[3] ?? '').length <= maxFrac;
}

/** Parse "1.5" with frac=6 -> 1500000n. Throws DecimalError when it has more fraction digits than `frac`. */
export function parseDecimal(s: string, frac: number): bigint {
  const m = DECIMAL_RE.exec(String(s).trim());
  if (!m) throw new DecimalError(`not a decimal number: ${JSON.stringify(s)}`);
  const fracPart = m[3] ?? '';
  if (fracPart.length > frac) {
    throw new DecimalError(`${JSON.stringify(s)} has more than ${frac} fraction digits`);
  }
  const v = BigInt(m[2] + fracPart.padEnd(frac, '0'));
  return m[1] === '-' ? -v : v;
}

/** Format a scaled bigint: formatDecimal(12345000000n, 9) -> "12.345000000". */
export function formatDecimal(v: bigint, frac: number): string {
  const neg = v < 0n;
  const abs = (neg ? -v : v).toString().padStart(frac + 1, '0');
  const int = abs.slice(0, abs.length - frac);
  const fr = abs.slice(abs.length - frac);
  return (neg ? '-' : '') + (frac > 0 ? `${int}.${fr}` : int);
}

/** Fraction digits of money (nano-currency) and quantities (micro-units). */
export const MONEY_FRAC = 9;
export const QTY_FRAC = 6;

export const formatMoney = (nano: bigint): string => formatDecimal(nano, MONEY_FRAC);
export const formatQty = (micro: bigint): string => formatDecimal(micro, QTY_FRAC);
