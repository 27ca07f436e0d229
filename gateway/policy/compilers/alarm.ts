/** `m2m-alarm` (docs/policies.md): the devices its glob matches; evaluated by policy/alarm-watch.ts. */
import type { AlarmPolicy } from '../nodes';
import type { Build, CompileScope } from './scope';

export interface CompiledAlarm extends AlarmPolicy {
  /** Configured devices the glob matched. */
  matched: string[];
}

export function checkAlarms(alarms: readonly AlarmPolicy[], s: CompileScope): Build<CompiledAlarm[]> {
  const compiled = alarms.map((a) => {
    const matched = s.match(a.nodeId, a.devices);
    s.checkPoints(a.nodeId, matched, a.point);
    return { ...a, matched };
  });
  return () => compiled;
}
