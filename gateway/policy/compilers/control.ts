/**
 * `m2m-control` (docs/policies.md): a closed loop in the gateway. The
 * `output` setpoint of every matched device follows its `input` point
 * through a table [{from, set}] or a linear map (inMin..inMax -> outMin..outMax,
 * rounded to `step`), with `hysteresis` (in the input's unit) and at least
 * `minIntervalMs` between writes. Run by policy/control-loop.ts.
 */
import { parseDecimal } from '../../base/decimal';
import { GLOB_PATTERN, ID_HINT, NodeReader, POINT_PATTERN, readJsonList, readMs, readQuantity, type Base } from '../node-reader';
import type { Build, CompileScope } from './scope';

export interface ControlRow {
  /** The row applies from this input value up (to the next row's `from`). */
  from: string;
  /** The setpoint written while it applies. */
  set: string;
}

export interface LinearMap {
  inMin: string;
  inMax: string;
  outMin: string;
  outMax: string;
  /** The written value is rounded to a multiple of it (default "1"). */
  step: string;
}

export interface ControlPolicy extends Base {
  devices: string;
  input: string;
  output: string;
  /** Sorted by `from`, strictly increasing; empty when `linear` is given. */
  table: ControlRow[];
  linear?: LinearMap;
  hysteresis: string;
  minIntervalMs: number;
}

export interface CompiledControl extends ControlPolicy {
  /** Matched devices that list both points. */
  matched: string[];
}

export const DEFAULT_MIN_INTERVAL_MS = 1_000;
const FRAC = 9;
const LINEAR_KEYS = ['inMin', 'inMax', 'outMin', 'outMax'] as const;

function parseTable(r: NodeReader): ControlRow[] {
  const list = readJsonList(r, 'table') ?? [];
  const rows: ControlRow[] = [];
  list.forEach((row, i) => {
    const o = row as Record<string, unknown> | null;
    if (typeof o !== 'object' || o === null) {
      r.problem(`table[${i}]: expected {from, set}`);
      return;
    }
    const from = readQuantity(r, `table[${i}].from`, o.from);
    const set = readQuantity(r, `table[${i}].set`, o.set);
    if (from !== undefined && set !== undefined) rows.push({ from, set });
  });
  for (let i = 1; i < rows.length; i++) {
    if (parseDecimal(rows[i]!.from, FRAC) <= parseDecimal(rows[i - 1]!.from, FRAC))
      r.problem(`table[${i}].from: must be above the row before (${rows[i - 1]!.from})`);
  }
  return rows;
}

/** The linear map's fields, flat on the node (as the edit dialog stores them) or nested as `linear: {…}`. */
function linearField(r: NodeReader, k: string): unknown {
  const nested = r.given('linear');
  if (typeof nested === 'object' && nested !== null && !Array.isArray(nested)) {
    const v = (nested as Record<string, unknown>)[k];
    if (v !== undefined && v !== null && v !== '') return v;
  }
  return r.given(k);
}

function parseLinear(r: NodeReader): LinearMap | undefined {
  const given = LINEAR_KEYS.filter((k) => linearField(r, k) !== undefined);
  if (given.length === 0) return undefined;
  if (given.length < LINEAR_KEYS.length) {
    r.problem(`a linear map needs ${LINEAR_KEYS.join(', ')} (missing ${LINEAR_KEYS.filter((k) => !given.includes(k)).join(', ')})`);
    return undefined;
  }
  const [inMin, inMax, outMin, outMax] = LINEAR_KEYS.map((k) => readQuantity(r, k, linearField(r, k)));
  const step = linearField(r, 'step') === undefined ? '1' : readQuantity(r, 'step', linearField(r, 'step'));
  if (inMin === undefined || inMax === undefined || outMin === undefined || outMax === undefined || step === undefined) return undefined;
  if (parseDecimal(inMin, FRAC) === parseDecimal(inMax, FRAC)) r.problem('inMax: must differ from inMin');
  if (parseDecimal(step, FRAC) <= 0n) r.problem(`step: ${step} must be above 0`);
  return { inMin, inMax, outMin, outMax, step };
}

export function parseControl(r: NodeReader): ControlPolicy | undefined {
  const devices = r.text('devices', true, GLOB_PATTERN, 'a device glob like "purifier-*"');
  const input = r.text('input', true, POINT_PATTERN, ID_HINT);
  const output = r.text('output', true, POINT_PATTERN, ID_HINT);
  const tableGiven = r.given('table') !== undefined;
  const linearGiven = LINEAR_KEYS.some((k) => linearField(r, k) !== undefined);
  const before = r.problems.length;
  const table = parseTable(r);
  const linear = parseLinear(r);
  if (tableGiven && linearGiven) r.problem('give either a table or a linear map (inMin, inMax, outMin, outMax), not both');
  else if (!tableGiven && !linearGiven)
    r.problem('table: required (a list of {from, set}), or a linear map (inMin, inMax, outMin, outMax)');
  else if (tableGiven && table.length === 0 && r.problems.length === before) r.problem('table: must have at least one row');
  const h = r.given('hysteresis') === undefined ? '0' : readQuantity(r, 'hysteresis', r.given('hysteresis'));
  if (h !== undefined && h.startsWith('-')) r.problem(`hysteresis: ${h} must not be negative`);
  const minIntervalMs = readMs(r, 'minIntervalMs', DEFAULT_MIN_INTERVAL_MS, 0, 86_400_000);
  if (input !== undefined && input === output) r.problem('output: must not be the input point');
  if (r.problems.length || !devices || !input || !output || h === undefined) return undefined;
  const out: ControlPolicy = { ...r.base, devices, input, output, table: linear ? [] : table, hysteresis: h, minIntervalMs };
  if (linear) out.linear = linear;
  return out;
}

export function checkControls(controls: readonly ControlPolicy[], s: CompileScope): Build<CompiledControl[]> {
  const controlledBy = new Map<string, string>();
  const compiled = controls.map((c) => {
    const matched: string[] = [];
    for (const device of s.match(c.nodeId, c.devices)) {
      const input = s.pointOf(device, c.input);
      const output = s.pointOf(device, c.output);
      if (!input || !output) {
        s.warn(c.nodeId, `device "${device}" has no point "${!input ? c.input : c.output}" listed; not controlled`);
        continue;
      }
      if (output.kind !== 'setpoint') {
        s.fail(c.nodeId, `output "${c.output}" of device "${device}" is a ${output.kind}; a control writes a setpoint point`);
        continue;
      }
      if (output.writable === false) {
        s.fail(c.nodeId, `output "${c.output}" of device "${device}" is not writable (set writable: true in the config)`);
        continue;
      }
      const key = `${device}\0${c.output}`;
      const other = controlledBy.get(key);
      if (other !== undefined) {
        s.fail(c.nodeId, `${device}/${c.output} is already controlled by ${s.label(other)}`);
        continue;
      }
      controlledBy.set(key, c.nodeId);
      matched.push(device);
    }
    return { ...c, matched };
  });
  return () => compiled;
}
