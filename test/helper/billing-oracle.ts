/**
 * The test's own billing oracle (docs/architecture.md §3), in plain BigInt and written
 * without any gateway code: decimal strings are parsed and formatted here,
 * deltas and wraps computed here, so the daemon's answers are checked against
 * an independent computation.
 *
 *   const water = new CounterOracle('purifier-1', 'water', 'purifier-1', 'waterworks', 32, '1', '0.012345678');
 *   water.read(100n);  // baseline: bills nothing
 *   water.read(5n);    // ... later readings bill their delta (wraps included)
 *   water.row('NOK')   // the /api/ledger row it must produce
 */
import type { LedgerRow } from './gateway-api';

/** "0.012345678" with frac 9 -> 12345678n. */
export function fixed(s: string, frac: number): bigint {
  const m = /^(\d+)(?:\.(\d+))?$/.exec(s);
  if (!m || (m[2] ?? '').length > frac) throw new Error(`test bug: bad decimal ${s}`);
  return BigInt(m[1]! + (m[2] ?? '').padEnd(frac, '0'));
}

/** 12345678n with frac 9 -> "0.012345678" (frac > 0). */
export function format(v: bigint, frac: number): string {
  const s = v.toString().padStart(frac + 1, '0');
  return `${s.slice(0, s.length - frac)}.${s.slice(s.length - frac)}`;
}

/** An exact decimal string in canonical form (no trailing fraction zeros, no leading zeros), for comparing point values. */
export function canonical(s: string): string {
  const m = /^(-?)(\d+)(?:\.(\d+))?$/.exec(s);
  if (!m) return s;
  const frac = (m[3] ?? '').replace(/0+$/, '');
  const int = m[2]!.replace(/^0+(?=\d)/, '');
  return `${m[1]}${int}${frac ? `.${frac}` : ''}`;
}

/** raw × scale as a canonical exact decimal string. */
export function scaled(raw: bigint, scale: string): string {
  const [i, f = ''] = scale.split('.');
  const n = raw * BigInt(i! + f);
  return canonical(f.length === 0 ? n.toString() : format(n, f.length));
}

/** One tariffed counter as the design defines billing (docs/architecture.md §3). */
export class CounterOracle {
  last: bigint | undefined;
  qtyMicro = 0n;
  readonly microPerCount: bigint;
  readonly priceNano: bigint;

  constructor(
    readonly device: string,
    readonly point: string,
    readonly account: string,
    readonly payee: string,
    readonly widthBits: number,
    readonly scale: string,
    readonly price: string,
  ) {
    this.microPerCount = fixed(scale, 6);
    this.priceNano = fixed(price, 9);
  }

  /** A reading: the first is the baseline; later ones bill their delta (a wrap: new + 2^W − old). */
  read(raw: bigint): void {
    if (this.last !== undefined) {
      const delta = raw >= this.last ? raw - this.last : raw + (1n << BigInt(this.widthBits)) - this.last;
      if (delta >= 1n << BigInt(this.widthBits - 1)) throw new Error(`test bug: step ${this.last} -> ${raw} is not a rollover`);
      this.qtyMicro += delta * this.microPerCount;
    }
    this.last = raw;
  }

  /** floor(Σ qty_i × price / 10^6): with one flat price that is floor(Σqty × price / 10^6). */
  get amountNano(): bigint {
    return (this.qtyMicro * this.priceNano) / 1_000_000n;
  }

  row(currency: string): LedgerRow {
    return {
      device: this.device,
      point: this.point,
      account: this.account,
      payee: this.payee,
      quantity: format(this.qtyMicro, 6),
      amount: format(this.amountNano, 9),
      currency,
    };
  }
}
