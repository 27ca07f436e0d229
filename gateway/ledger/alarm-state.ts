/**
 * Alarm state as the fold of the ledger's alarm events: an 'alarm' event
 * (detail.policy = the m2m-alarm node id) raises (policy, device), an
 * 'alarm-clear' clears it. The ledger keeps the result as state (table
 * `alarm_state`, updated in the commit that records the events), so a restart
 * knows every raised alarm however many events came before; `ledger verify`
 * folds the chained events again and compares.
 */
import type { LedgerAlarm, LedgerEvent } from './store';

export const ALARM_SEP = '\u0000';

export function alarmKey(policy: string, device: string): string {
  return policy + ALARM_SEP + device;
}

/**
 * Apply one event to `active` (by alarmKey). Returns the key it changed, or
 * null when the event is not an alarm event of a policy and device.
 */
export function foldAlarmEvent(
  active: Map<string, LedgerAlarm>,
  e: Pick<LedgerEvent, 'kind' | 'device' | 'point' | 'tsMs' | 'detail'>,
): string | null {
  if (e.kind !== 'alarm' && e.kind !== 'alarm-clear') return null;
  const policy = e.detail.policy;
  if (typeof policy !== 'string' || !e.device) return null;
  const key = alarmKey(policy, e.device);
  if (e.kind === 'alarm') {
    if (active.has(key)) return null; // already raised: keeps its first time
    active.set(key, { policy, device: e.device, point: e.point ?? '', sinceMs: e.tsMs });
  } else if (!active.delete(key)) return null;
  return key;
}
