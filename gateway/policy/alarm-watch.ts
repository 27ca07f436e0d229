/**
 * Evaluates `m2m-alarm` policies on fresh readings (docs/architecture.md §5): an alarm
 * is raised when a value goes below `below` (or above `above`) and cleared
 * only once it is back past the threshold by `hysteresis`, so a value
 * hovering at the threshold does not flap. Comparisons are exact decimals.
 * Only the points an alarm watches are looked at (`pointsOf`): the reading
 * path decodes a value for the watch only there.
 */
import { parseDecimal } from '../base/decimal';
import type { LedgerAlarm, LedgerEvent } from '../ledger/store';
import type { CompiledAlarm } from './compile';

const FRAC = 9;
const NONE: readonly string[] = Object.freeze([]);

interface Rule {
  alarm: CompiledAlarm;
  below: bigint | null;
  above: bigint | null;
  hyst: bigint;
}

export class AlarmWatch {
  private rules = new Map<string, Rule[]>(); // "device\0point" -> rules
  private watched = new Map<string, string[]>(); // device -> watched point names
  /** Bumped on every setAlarms (callers may cache pointsOf per version). */
  version = 0;
  private readonly active = new Set<string>(); // "nodeId\0device"

  setAlarms(alarms: readonly CompiledAlarm[]): void {
    this.rules.clear();
    this.watched = new Map();
    this.version += 1;
    for (const a of alarms) {
      const rule: Rule = {
        alarm: a,
        below: a.below !== undefined && a.below !== '' ? parseDecimal(a.below, FRAC) : null,
        above: a.above !== undefined && a.above !== '' ? parseDecimal(a.above, FRAC) : null,
        hyst: a.hysteresis ? parseDecimal(a.hysteresis, FRAC) : 0n,
      };
      for (const device of a.matched) {
        const k = `${device}\u0000${a.point}`;
        const list = this.rules.get(k) ?? [];
        list.push(rule);
        this.rules.set(k, list);
        const points = this.watched.get(device) ?? [];
        if (!points.includes(a.point)) points.push(a.point);
        this.watched.set(device, points);
      }
    }
  }

  /** The points of `device` some alarm watches. */
  pointsOf(device: string): readonly string[] {
    return this.watched.get(device) ?? NONE;
  }

  /**
   * Which alarms were raised and not cleared, as the ledger keeps them
   * (`activeAlarms()`, however many events it took): an alarm active before
   * a restart is not raised again.
   */
  restore(active: Iterable<Pick<LedgerAlarm, 'policy' | 'device'>>): void {
    for (const a of active) this.active.add(`${a.policy}\u0000${a.device}`);
  }

  /** Feed one value; returns the alarm events it causes (raise or clear). */
  observe(device: string, point: string, value: string | boolean, tsMs: number): LedgerEvent[] {
    const rules = this.rules.get(`${device}\u0000${point}`);
    if (!rules || typeof value !== 'string') return [];
    let v: bigint;
    try {
      v = parseDecimal(value, FRAC);
    } catch {
      return [];
    }
    const out: LedgerEvent[] = [];
    for (const r of rules) {
      const key = `${r.alarm.nodeId}\u0000${device}`;
      const on = this.active.has(key);
      const tripped = (r.below !== null && v < r.below) || (r.above !== null && v > r.above);
      const cleared = (r.below === null || v >= r.below + r.hyst) && (r.above === null || v <= r.above - r.hyst);
      if (!on && tripped) {
        this.active.add(key);
        out.push(event('alarm', r, device, point, value, tsMs));
      } else if (on && cleared) {
        this.active.delete(key);
        out.push(event('alarm-clear', r, device, point, value, tsMs));
      }
    }
    return out;
  }
}

function event(kind: string, r: Rule, device: string, point: string, value: string, tsMs: number): LedgerEvent {
  const detail: LedgerEvent['detail'] = { value, policy: r.alarm.nodeId, name: r.alarm.name || null };
  if (r.alarm.below !== undefined) detail.below = r.alarm.below;
  if (r.alarm.above !== undefined) detail.above = r.alarm.above;
  return { kind, device, point, tsMs, detail };
}
