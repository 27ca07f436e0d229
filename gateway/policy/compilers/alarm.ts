/** `m2m-alarm` (docs/policies.md): the devices its glob selects (those with the point); evaluated by policy/alarm-watch.ts. */
import type { AlarmPolicy } from '../nodes';
import type { Build, CompileScope } from './scope';

export interface CompiledAlarm extends AlarmPolicy {
  /** Configured devices the glob selected (those with the point). */
  matched: string[];
}

export function checkAlarms(alarms: readonly AlarmPolicy[], s: CompileScope): Build<CompiledAlarm[]> {
  const compiled = alarms.map((a) => ({ ...a, matched: s.select(a.nodeId, a.devices, a.point) }));
  return () => compiled;
}
