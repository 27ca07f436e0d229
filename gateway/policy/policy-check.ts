/**
 * `m2m-gateway config check` for policies (docs/policies.md): compile
 * `<dataDir>/flows.json` against the configured devices exactly as the
 * daemon does at start, without a ledger or a core. Problems come back as
 * the PolicyError the daemon would log and record, each naming its node.
 */
import type { PointKind } from '../devices/point';
import { PolicyRegistry } from '../meter/policy-registry';
import { compilePolicies, type CompiledPolicy, type PolicySlot } from './compile';
import { PolicyError } from './errors';
import { readFlowsFile } from './flows';

export interface CheckedDevice {
  id: string;
  account: string;
  points: ReadonlyArray<{ name: string; kind: PointKind }>;
}

export type FlowsCheck = { state: 'missing' } | { state: 'ok'; policy: CompiledPolicy } | { state: 'rejected'; error: PolicyError };

/** Compile `flowsFile` against `devices`; never throws for a bad file (the PolicyError is the answer). */
export function checkFlowsFile(flowsFile: string, devices: readonly CheckedDevice[], timezone: string, nowMs = Date.now()): FlowsCheck {
  const slots: PolicySlot[] = [];
  let next = 0;
  for (const d of devices) {
    for (const p of d.points)
      slots.push({ slot: p.kind === 'counter' ? next++ : -1, device: d.id, point: p.name, account: d.account, kind: p.kind });
  }
  try {
    const flows = readFlowsFile(flowsFile);
    if (flows === null) return { state: 'missing' };
    return { state: 'ok', policy: compilePolicies(flows, { slots, timezone, nowMs, version: 1, registry: new PolicyRegistry() }) };
  } catch (err) {
    if (err instanceof PolicyError) return { state: 'rejected', error: err };
    throw err;
  }
}
