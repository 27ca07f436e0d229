/**
 * The fleet bench's results as tables: a compact console table and the same
 * rows in Markdown (for README.md's "Fleet benchmark" section).
 */
import type { CaseResult } from './fleet-summary';

const fmt = (x: number | null | undefined, d = 0): string =>
  x === null || x === undefined || Number.isNaN(x)
    ? '–'
    : x.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });

const HEAD = [
  'case',
  'fleet',
  'pollMs',
  'points/s',
  'delivered',
  'CPU cores',
  'CPU ms/1k points',
  'RSS end/max MiB',
  'RSS MiB/min',
  'writes GB/day',
  'ledger MB/day',
  'folder MB/day',
  'commit mean/p99 ms',
  'lag p99 ms',
  'others cores',
];

function cells(r: CaseResult): string[] {
  const s = r.setup;
  return [
    r.id,
    `${s.devices}×${s.pointsPerDevice} ${s.layout}${s.gatewayCpus !== 'any' ? ` cpu${s.gatewayCpus}` : ''}`,
    String(s.pollMs),
    fmt(r.delivery.pointsPerSec),
    `${fmt(r.delivery.percentOfExpected, 1)} %`,
    fmt(r.cpu.meanCores, 3),
    fmt(r.cpu.cpuMsPer1000Points, 1),
    `${fmt(r.rss.windowEndMiB)}/${fmt(r.rss.windowMaxMiB)}`,
    fmt(r.rss.slopeMiBPerMinAfter2Min ?? r.rss.slopeMiBPerMinWindow, 2) + (r.rss.slopeMiBPerMinAfter2Min === null ? '*' : ''),
    fmt(r.disk.writeGBPerDay, 1),
    fmt(r.dataFolder.ledgerGrowthMBPerDay),
    fmt(r.dataFolder.growthMBPerDay),
    `${fmt(r.ledger.commitMeanMs, 1)}/${fmt(r.ledger.commitP99Ms, 1)}`,
    fmt(r.eventLoop.lagP99MsWorst, 1),
    fmt(r.cpu.otherProcessesCores, 2),
  ];
}

export function consoleTable(rows: CaseResult[]): string {
  const all = [HEAD, ...rows.map(cells)];
  const widths = HEAD.map((_, i) => Math.max(...all.map((r) => r[i]!.length)));
  return all.map((r) => r.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ')).join('\n');
}

export function markdownTable(rows: CaseResult[]): string {
  const line = (r: string[]): string => `| ${r.join(' | ')} |`;
  return [line(HEAD), line(HEAD.map((_, i) => (i < 2 ? '---' : '---:'))), ...rows.map((r) => line(cells(r)))].join('\n');
}
