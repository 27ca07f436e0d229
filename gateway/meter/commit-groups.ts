/**
 * Commits spread over the commit period (docs/ledger.md, "Cadence"): a large
 * site's devices are split into groups, and the cadence commits one group at
 * a time, every `commitMs / count`, so every device still commits every
 * `commitMs` but no single commit rewrites every device's state (nor closes
 * every line's hour at once). A group is a run of devices in configuration
 * order, so its rows sit together in the ledger. Events, vouchers and policy
 * changes still commit everything at once.
 */
import type { SlotMap } from './slot-map';

/** Counter slots one commit should hold at most, about. */
export const SLOTS_PER_COMMIT = 2500;
/** Never commit more often than this on the cadence, ms. */
export const MIN_GROUP_COMMIT_MS = 500;
export const MAX_COMMIT_GROUPS = 16;

/** How many groups a site of `slotCount` counter slots commits in. */
export function commitGroupCount(slotCount: number, commitMs: number): number {
  const wanted = Math.ceil(slotCount / SLOTS_PER_COMMIT);
  return Math.max(1, Math.min(wanted, Math.floor(commitMs / MIN_GROUP_COMMIT_MS), MAX_COMMIT_GROUPS));
}

export class CommitGroups {
  private readonly byDevice = new Map<string, number>();
  /** Group of each slot, filled as slots are asked for (slots can be added later). */
  private readonly slotGroup: number[] = [];
  private readonly members: string[][];

  constructor(
    private readonly slots: SlotMap,
    readonly count: number,
  ) {
    const devices: string[] = [];
    for (const s of slots.slots) if (!this.byDevice.has(s.device)) this.byDevice.set(s.device, devices.push(s.device) - 1);
    this.members = Array.from({ length: count }, () => []);
    devices.forEach((d, i) => {
      const g = Math.floor((i * count) / devices.length);
      this.byDevice.set(d, g);
      this.members[g]!.push(d);
    });
  }

  /** The group of a slot's device; a device added after start joins the smallest group. */
  of(slot: number): number {
    let g: number | undefined = this.slotGroup[slot];
    if (g !== undefined) return g;
    const device = this.slots.at(slot).device;
    g = this.byDevice.get(device);
    if (g === undefined) {
      g = this.members.reduce((best, m, i) => (m.length < this.members[best]!.length ? i : best), 0);
      this.byDevice.set(device, g);
      this.members[g]!.push(device);
    }
    this.slotGroup[slot] = g;
    return g;
  }

  /** The devices of group g. */
  devices(g: number): readonly string[] {
    return this.members[g]!;
  }
}
