/**
 * Reading one policy node's properties (docs/policies.md, "The nodes"):
 * Node-RED's editor stores an empty optional field as "", so "" counts as not
 * given. Money is a decimal *string*: a JSON number has already been through
 * a float and is refused. Every problem is collected with the node's label.
 */
import { isDecimal, MONEY_FRAC, parseDecimal } from '../base/decimal';
import { nodeLabel, type PolicyNode } from './flows';

export const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
export const POINT_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,68}$/;
export const GLOB_PATTERN = /^[A-Za-z0-9_.*?,\s-]+$/;
export const ID_HINT = 'letters, digits, "_", "." or "-"';

/** What every parsed policy carries. */
export interface Base {
  nodeId: string;
  name: string;
}

/** Reads one node's properties, collecting every problem with the node's label. */
export class NodeReader {
  readonly problems: string[] = [];
  constructor(readonly node: PolicyNode) {}

  get base(): Base {
    return { nodeId: this.node.id, name: typeof this.node.name === 'string' ? this.node.name : '' };
  }

  problem(message: string): void {
    this.problems.push(`${nodeLabel(this.node)}: ${message}`);
  }

  given(key: string): unknown {
    const v = this.node[key];
    return v === undefined || v === null || (typeof v === 'string' && v.trim() === '') ? undefined : v;
  }

  text(key: string, required: boolean, pattern: RegExp, hint: string): string | undefined {
    const v = this.given(key);
    if (v === undefined) {
      if (required) this.problem(`${key}: required`);
      return undefined;
    }
    if (typeof v !== 'string' || !pattern.test(v.trim())) {
      this.problem(`${key}: ${JSON.stringify(v)} is not valid (${hint})`);
      return undefined;
    }
    return v.trim();
  }

  decimal(key: string, required: boolean, frac = MONEY_FRAC): string | undefined {
    const v = this.given(key);
    if (v === undefined) {
      if (required) this.problem(`${key}: required (a decimal string like "1.25")`);
      return undefined;
    }
    if (typeof v === 'number') {
      this.problem(`${key}: ${v} is a JSON number; write it as a decimal string ("${v}") so it never passes through a float`);
      return undefined;
    }
    if (!isDecimal(v, frac)) {
      this.problem(`${key}: ${JSON.stringify(v)} is not a decimal with at most ${frac} fraction digits`);
      return undefined;
    }
    return (v as string).trim().replace(/^\+/, '');
  }

  money(key: string, required: boolean): { text: string; nano: bigint } | undefined {
    const text = this.decimal(key, required);
    if (text === undefined) return undefined;
    const nano = parseDecimal(text, MONEY_FRAC);
    if (nano < 0n) {
      this.problem(`${key}: ${JSON.stringify(text)} must not be negative`);
      return undefined;
    }
    return { text, nano };
  }

  /** A list given as a JSON array of strings or a comma-separated string. */
  list(key: string): string[] | undefined {
    const v = this.given(key);
    if (v === undefined) return undefined;
    if (typeof v === 'string')
      return v
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s !== '');
    if (Array.isArray(v) && v.every((s) => typeof s === 'string')) return v.map((s: string) => s.trim()).filter((s) => s !== '');
    this.problem(`${key}: expected a list of strings`);
    return undefined;
  }
}

/**
 * A non-money quantity (a threshold, a table value, days): a decimal string,
 * or a JSON number that is exactly a short decimal (`12.5`). Answers the
 * decimal string, or undefined (with a problem when it was given but bad).
 */
export function readQuantity(r: NodeReader, key: string, v: unknown, frac = MONEY_FRAC): string | undefined {
  const s = typeof v === 'number' && Number.isFinite(v) ? String(v) : v;
  if (!isDecimal(s, frac)) {
    r.problem(`${key}: ${JSON.stringify(v)} is not a decimal with at most ${frac} fraction digits`);
    return undefined;
  }
  return s.trim().replace(/^\+/, '');
}

/** A whole number of milliseconds in [min, max], default when not given. */
export function readMs(r: NodeReader, key: string, dflt: number, min: number, max: number): number {
  const v = r.given(key);
  if (v === undefined) return dflt;
  const n = typeof v === 'string' && /^\s*\d{1,12}\s*$/.test(v) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max) {
    r.problem(`${key}: ${JSON.stringify(v)} is not a whole number of milliseconds in ${min}..${max}`);
    return dflt;
  }
  return n;
}

/** A list given as a JSON array (or a JSON text of one), else a problem. */
export function readJsonList(r: NodeReader, key: string): unknown[] | undefined {
  let v = r.given(key);
  if (v === undefined) return undefined;
  if (typeof v === 'string') {
    try {
      v = JSON.parse(v);
    } catch {
      r.problem(`${key}: not a JSON list`);
      return undefined;
    }
  }
  if (!Array.isArray(v)) {
    r.problem(`${key}: expected a list`);
    return undefined;
  }
  return v;
}
