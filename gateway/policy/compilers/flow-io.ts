/**
 * The flow nodes that carry gateway messages (docs/policies.md): `m2m-write`
 * names one configured writable point; `m2m-in` filters by a device glob
 * (matching nothing is fine: it may be meant for devices added later).
 */
import { matchDevices } from '../glob';
import type { InPolicy, WritePolicy } from '../nodes';
import type { Build, CompileScope } from './scope';

export interface CompiledIn extends InPolicy {
  matched: string[];
}

export function checkWrites(writes: readonly WritePolicy[], s: CompileScope): Build<WritePolicy[]> {
  for (const w of writes) {
    if (!s.deviceAccount.has(w.device)) s.warn(w.nodeId, `device "${w.device}" is not configured`);
    else if (!s.pointOf(w.device, w.point)) s.warn(w.nodeId, `device "${w.device}" has no point "${w.point}" listed`);
  }
  return () => [...writes];
}

export function checkIns(ins: readonly InPolicy[], s: CompileScope): Build<CompiledIn[]> {
  const compiled = ins.map((i) => ({ ...i, matched: matchDevices(i.devices, s.deviceIds) }));
  return () => compiled;
}
