/**
 * Turning validation findings into `ConfigIssue`s: paths written the way a
 * user reads them (`devices[0].points[2].type`) and zod's issues reworded
 * into short, specific messages.
 */
import type { z } from 'zod';

export type PathPart = string | number;

/** A finding before it is located in the YAML file. */
export interface RawIssue {
  at: PathPart[];
  message: string;
}

/** ['devices', 0, 'points', 2, 'type'] -> "devices[0].points[2].type". */
export function formatPath(at: readonly PropertyKey[]): string {
  let out = '';
  for (const p of at) {
    if (typeof p === 'number') out += `[${p}]`;
    else out += out ? `.${String(p)}` : String(p);
  }
  return out;
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  if (typeof v === 'string') {
    // Non-integer YAML numbers arrive as their source text (load.ts): show them as written.
    if (/^[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?$/.test(v)) return v;
    return `"${v.length > 40 ? `${v.slice(0, 40)}…` : v}"`;
  }
  return String(v);
}

const EXPECTED: Record<string, string> = {
  object: 'a mapping',
  array: 'a list',
  int: 'an integer',
  number: 'an integer', // every number in the schema is an integer
  string: 'a string',
  boolean: 'true or false',
};

function levenshtein(a: string, b: string): number {
  const d = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = d[0];
    d[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = d[j];
      d[j] = Math.min(d[j] + 1, d[j - 1] + 1, prev + (a[i - 1].toLowerCase() === b[j - 1].toLowerCase() ? 0 : 1));
      prev = cur;
    }
  }
  return d[b.length];
}

/** The closest known key to a misspelt one, if it is close enough to be a typo. */
export function suggestKey(key: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const k of known) {
    const dist = levenshtein(key, k);
    if (dist < bestD) {
      bestD = dist;
      best = k;
    }
  }
  return best !== undefined && bestD <= Math.max(1, Math.floor(best.length / 3)) ? best : undefined;
}

function rangeMessage(issue: z.core.$ZodIssueTooBig | z.core.$ZodIssueTooSmall, big: boolean): string {
  const limit = big ? (issue as z.core.$ZodIssueTooBig).maximum : (issue as z.core.$ZodIssueTooSmall).minimum;
  const incl = issue.inclusive !== false;
  switch (issue.origin) {
    case 'string':
      if (!big && Number(limit) === 1) return 'must not be empty';
      return `must be at ${big ? 'most' : 'least'} ${limit} characters`;
    case 'array':
      return `must have at ${big ? 'most' : 'least'} ${limit} entries`;
    default:
      return `must be ${big ? (incl ? '<=' : '<') : incl ? '>=' : '>'} ${limit}`;
  }
}

/**
 * Reword zod issues. Unknown keys become one issue per key, at the key's own
 * path, with a "did you mean" when a known key is close.
 */
export function fromZodIssues(issues: readonly z.core.$ZodIssue[], base: PathPart[], knownKeys: readonly string[]): RawIssue[] {
  const out: RawIssue[] = [];
  for (const issue of issues) {
    const at = [...base, ...(issue.path as PathPart[])];
    switch (issue.code) {
      case 'unrecognized_keys':
        for (const key of issue.keys) {
          const hint = suggestKey(key, knownKeys);
          out.push({ at: [...at, key], message: `unknown key${hint ? ` (did you mean "${hint}"?)` : ''}` });
        }
        break;
      case 'invalid_type':
        out.push({
          at,
          message:
            issue.input === undefined ? 'required' : `expected ${EXPECTED[issue.expected] ?? issue.expected}, got ${describe(issue.input)}`,
        });
        break;
      case 'invalid_value':
        out.push({
          at,
          message:
            issue.values.length === 1
              ? `expected ${String(issue.values[0])}`
              : `expected one of ${issue.values.map(String).join(', ')}${issue.input !== undefined ? `, got ${describe(issue.input)}` : ''}`,
        });
        break;
      case 'invalid_union':
        if (issue.discriminator) {
          const opts = ((issue as { options?: unknown[] }).options ?? []).map(String).join(', ');
          out.push({ at: [...at], message: issue.input === undefined ? `required: one of ${opts}` : `expected one of ${opts}` });
        } else out.push({ at, message: issue.message });
        break;
      case 'too_big':
        out.push({ at, message: rangeMessage(issue, true) });
        break;
      case 'too_small':
        out.push({ at, message: rangeMessage(issue, false) });
        break;
      default:
        out.push({ at, message: issue.message });
    }
  }
  return out;
}
