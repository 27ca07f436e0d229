/**
 * The targets issue 8 sets for the fleet (the product must meet them after
 * the hot-path rework) and how the recorded cases compare. Computed from the
 * stored case figures only, so `node build/bench/fleet.js --recheck`
 * recomputes them for a results file without running anything.
 *
 * Where a gateway delivers fewer points than asked (it falls behind), its
 * measured CPU understates what full delivery would cost; so next to the
 * measured cores each check gives the cores for full delivery at the
 * measured cost per point (CPU ms per 1000 points × expected points/s).
 */
import type { CaseResult } from './fleet-summary';

export const TARGETS = {
  a: {
    deliveredPercent: '>= 99.5',
    cpuCores: '<= 0.08',
    rssMiB: '<= 200',
    rssSlopeMiBPerMinAfter2Min: '< 1',
    ledgerGrowthMBPerDay: '<= 100',
    diskWritesGBPerDay: '<= 5',
    commitP99Ms: '< 50',
  },
  b: { cpuCores: '<= 0.02' },
  c: { costPerPointVsCaseA: '<= 1.5' },
  d: { pointsPerSecOnOneCore: '>= 250000' },
} as const;

interface Check {
  value: number | null;
  target: string;
  /** null when the figure could not be measured. */
  ok: boolean | null;
}

const check = (value: number | null, target: string, pass: (v: number) => boolean): Check => ({
  value,
  target,
  ok: value === null ? null : pass(value),
});

/** Cores the case would need to deliver every point at the cost per point it showed. */
export const coresForFullDelivery = (r: CaseResult): number | null =>
  r.cpu.cpuMsPer1000Points === null ? null : Math.round(((r.cpu.cpuMsPer1000Points * r.delivery.expectedPointsPerSec) / 1e6) * 1000) / 1000;

export function checkTargets(cases: Record<string, unknown>) {
  const a = cases.a as CaseResult | undefined;
  const b = cases.b as CaseResult | undefined;
  const c = cases.c as CaseResult | undefined;
  const d = cases.d as { saturationPointsPerSec: number | null; saturationMethod?: string } | undefined;
  const t = TARGETS;
  return {
    a: a && {
      deliveredPercent: check(a.delivery.percentOfExpected, t.a.deliveredPercent, (v) => v >= 99.5),
      cpuCores: check(a.cpu.meanCores, t.a.cpuCores, (v) => v <= 0.08),
      cpuCoresForFullDelivery: check(coresForFullDelivery(a), t.a.cpuCores, (v) => v <= 0.08),
      rssMiB: check(a.rss.windowMaxMiB, t.a.rssMiB, (v) => v <= 200),
      rssSlopeMiBPerMinAfter2Min: check(a.rss.slopeMiBPerMinAfter2Min, t.a.rssSlopeMiBPerMinAfter2Min, (v) => v < 1),
      ledgerGrowthMBPerDay: check(a.dataFolder.ledgerGrowthMBPerDay, t.a.ledgerGrowthMBPerDay, (v) => v <= 100),
      diskWritesGBPerDay: check(a.disk.writeGBPerDay, t.a.diskWritesGBPerDay, (v) => v <= 5),
      commitP99Ms: check(a.ledger.commitP99Ms, t.a.commitP99Ms, (v) => v < 50),
    },
    b: b && {
      cpuCores: check(b.cpu.meanCores, t.b.cpuCores, (v) => v <= 0.02),
      cpuCoresForFullDelivery: check(coresForFullDelivery(b), t.b.cpuCores, (v) => v <= 0.02),
    },
    c: c &&
      a && {
        costPerPointVsCaseA: check(
          a.cpu.cpuMsPer1000Points && c.cpu.cpuMsPer1000Points
            ? Math.round((c.cpu.cpuMsPer1000Points / a.cpu.cpuMsPer1000Points) * 100) / 100
            : null,
          t.c.costPerPointVsCaseA,
          (v) => v <= 1.5,
        ),
        cpuCoresForFullDelivery: coresForFullDelivery(c),
      },
    d: d && {
      pointsPerSecOnOneCore: {
        ...check(d.saturationPointsPerSec, t.d.pointsPerSecOnOneCore, (v) => v >= 250_000),
        method: d.saturationMethod ?? null,
      },
    },
  };
}
