/**
 * Flows -> policy tables for the metering core. The flows file is the one
 * source of truth (DESIGN.md §5): its m2m-* nodes are parsed, matched
 * against the configured devices and points, and compiled into
 * `PolicyTables` (tariff lines with DST-correct time-of-use segments,
 * channels, credit limits) plus the lists the rest of the daemon acts on
 * (alarms, offers, writes, ins). Any problem rejects the whole compile with a
 * PolicyError naming every offending node; the caller keeps its previous
 * tables. Names are interned in the registry only when the compile succeeds.
 */
import { createHash } from 'node:crypto';
import canonicalize from 'canonicalize';
import type { PolicyTables, PriceSegment, TariffLine } from '../core/types';
import type { PointKind } from '../devices/point';
import { dataPoint, dataSlotPoint } from './data-points';
import { PolicyError, type PolicyProblem } from './errors';
import { extractPolicyNodes, nodeLabel, type PolicyNode } from './flows';
import { matchDevices } from './glob';
import {
  canonicalPolicyContent,
  parsePolicyNodes,
  type AlarmPolicy,
  type InPolicy,
  type TariffPolicy,
  type WritePolicy,
} from './nodes';
import type { PolicyRegistry } from '../meter/policy-registry';
import { compileTou, type TouBandInput } from './tou';

/** A point the daemon knows. Counters carry their core slot; other kinds may be listed for checks (slot unused). */
export interface PolicySlot {
  slot: number;
  device: string;
  point: string;
  account: string;
  kind: PointKind;
}

export interface CompileContext {
  slots: readonly PolicySlot[];
  timezone: string;
  nowMs: number;
  version: number;
  registry: PolicyRegistry;
  /** Time-of-use segments are compiled for [now - past, now + future) days; recompile before `horizon.toMs`. Default 7 / 35. */
  horizonDays?: { past: number; future: number };
}

export interface CompiledTariff {
  nodeId: string;
  name: string;
  line: number;
  slot: number;
  device: string;
  point: string;
  payee: string;
  /** Payer account. */
  account: string;
  channel: number;
  price: string;
  tou: TouBandInput[];
}

export interface CompiledAlarm extends AlarmPolicy {
  /** Configured devices the glob matched. */
  matched: string[];
}

export interface CompiledCreditLimit {
  nodeId: string;
  name: string;
  account: string;
  limit: string;
  rearm: string;
  action: 'alarm' | 'cutoff';
  device?: string;
  point?: string;
}

export interface CompiledOfferLine {
  device: string;
  buyer: string;
  line: number;
  slot: number;
  channel: number;
}

export interface CompiledOffer {
  nodeId: string;
  name: string;
  devices: string;
  point: string;
  /** Price per reading delivered. */
  price: string;
  buyers: string[];
  /** The credit window (money a buyer may owe before delivery pauses); absent = none. */
  credit?: string;
  matched: string[];
  /** Tariff lines metering deliveries, for devices that have a `data:<point>@<buyer>` (or shared `data:<point>`) slot. */
  lines: CompiledOfferLine[];
}

export interface CompiledIn extends InPolicy {
  matched: string[];
}

export interface CompiledPolicy {
  version: number;
  /** sha256 (hex) of the canonical policy content: the same policies give the same hash whatever the layout. */
  hash: string;
  tables: PolicyTables;
  tariffs: CompiledTariff[];
  alarms: CompiledAlarm[];
  creditLimits: CompiledCreditLimit[];
  offers: CompiledOffer[];
  writes: WritePolicy[];
  ins: CompiledIn[];
  /** Things worth telling the operator that do not make the policies wrong (a glob matching nothing). */
  warnings: string[];
  /** The window the time-of-use segments cover. */
  horizon: { fromMs: number; toMs: number };
}

const DAY_MS = 86_400_000;

interface PlannedLine {
  slot: number;
  payer: string;
  payee: string;
  priceNano: bigint;
  segments: PriceSegment[];
  label: string;
}

export function compilePolicies(flows: unknown, ctx: CompileContext): CompiledPolicy {
  const { past, future } = ctx.horizonDays ?? { past: 7, future: 35 };
  const horizon = { fromMs: ctx.nowMs - past * DAY_MS, toMs: ctx.nowMs + future * DAY_MS };
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: ctx.timezone });
  } catch {
    throw new PolicyError([{ message: `timezone: "${ctx.timezone}" is not an IANA time zone` }]);
  }

  const { nodes, problems: structural } = flows === null || flows === undefined ? { nodes: [], problems: [] } : extractPolicyNodes(flows);
  const { policies, problems: parseProblems } = parsePolicyNodes(nodes);
  const problems: PolicyProblem[] = [...structural, ...parseProblems];
  const warnings: string[] = [];
  const byId = new Map<string, PolicyNode>(nodes.map((n) => [n.id, n]));
  const label = (nodeId: string): string => nodeLabel(byId.get(nodeId) ?? { id: nodeId, type: 'node' });
  const fail = (nodeId: string, message: string) => problems.push({ nodeId, message: `${label(nodeId)}: ${message}` });
  const warn = (nodeId: string, message: string) => warnings.push(`${label(nodeId)}: ${message}`);

  const deviceIds: string[] = [];
  const deviceAccount = new Map<string, string>();
  const points = new Map<string, PolicySlot>();
  for (const s of ctx.slots) {
    if (!deviceAccount.has(s.device)) {
      deviceIds.push(s.device);
      deviceAccount.set(s.device, s.account);
    }
    points.set(`${s.device}\0${s.point}`, s);
  }
  const pointOf = (device: string, point: string) => points.get(`${device}\0${point}`);
  const match = (nodeId: string, glob: string): string[] => {
    const m = matchDevices(glob, deviceIds);
    if (m.length === 0) warn(nodeId, `devices "${glob}" match no configured device`);
    return m;
  };

  // Tariffs: one line per matched device.
  const planned: Array<{ tariff: TariffPolicy; device: string; entry: PolicySlot; plan: PlannedLine }> = [];
  const pricedBy = new Map<string, string>();
  for (const t of policies.tariffs) {
    const { segments, overlaps } = compileTou(t.bands, ctx.timezone, horizon.fromMs, horizon.toMs);
    for (const o of overlaps) fail(t.nodeId, `tou: bands "${o.a.label}" and "${o.b.label}" overlap (on ${o.date})`);
    for (const device of match(t.nodeId, t.devices)) {
      const entry = pointOf(device, t.point);
      if (!entry) {
        fail(t.nodeId, `device "${device}" has no counter point "${t.point}"`);
        continue;
      }
      if (entry.kind !== 'counter') {
        fail(t.nodeId, `point "${t.point}" of device "${device}" is a ${entry.kind}; tariffs price counter points`);
        continue;
      }
      const key = `${device}\0${t.point}\0${t.payee}`;
      const other = pricedBy.get(key);
      if (other !== undefined) {
        fail(t.nodeId, `${device}/${t.point} is already priced for payee "${t.payee}" by ${label(other)}`);
        continue;
      }
      pricedBy.set(key, t.nodeId);
      planned.push({
        tariff: t,
        device,
        entry,
        plan: { slot: entry.slot, payer: entry.account, payee: t.payee, priceNano: t.priceNano, segments, label: label(t.nodeId) },
      });
    }
  }

  // Credit limits: one per account.
  const accounts = new Set(deviceAccount.values());
  const limitBy = new Map<string, string>();
  for (const c of policies.creditLimits) {
    const other = limitBy.get(c.account);
    if (other !== undefined) fail(c.nodeId, `account "${c.account}" already has a credit limit: ${label(other)}`);
    limitBy.set(c.account, c.nodeId);
    if (!accounts.has(c.account)) warn(c.nodeId, `account "${c.account}" is not the account of any configured device`);
    if (c.device !== undefined && c.point !== undefined) {
      const entry = pointOf(c.device, c.point);
      if (!deviceAccount.has(c.device)) warn(c.nodeId, `device "${c.device}" is not configured`);
      else if (!entry) warn(c.nodeId, `device "${c.device}" has no point "${c.point}" listed`);
      else if (c.action === 'cutoff' && entry.kind !== 'switch') {
        fail(c.nodeId, `cutoff point "${c.point}" of device "${c.device}" is a ${entry.kind}; a cutoff writes a switch point`);
      }
    }
  }

  const checkPoints = (nodeId: string, devices: string[], point: string) => {
    for (const d of devices) if (!pointOf(d, point)) warn(nodeId, `device "${d}" has no point "${point}" listed`);
  };
  const alarms: CompiledAlarm[] = policies.alarms.map((a) => {
    const matched = match(a.nodeId, a.devices);
    checkPoints(a.nodeId, matched, a.point);
    return { ...a, matched };
  });

  // Offers: deliveries are metered as quantity 1 of `data:<point>`, buyer -> device account.
  const offerPlans: Array<{ offer: (typeof policies.offers)[number]; matched: string[]; lines: Array<{ device: string; buyer: string; plan: PlannedLine }> }> = [];
  const offeredBy = new Map<string, string>();
  for (const o of policies.offers) {
    const matched = match(o.nodeId, o.devices);
    checkPoints(o.nodeId, matched, o.point);
    const lines: Array<{ device: string; buyer: string; plan: PlannedLine }> = [];
    for (const device of matched) {
      for (const buyer of o.buyers) {
        const key = `${device}\0${o.point}\0${buyer}`;
        const other = offeredBy.get(key);
        if (other !== undefined) fail(o.nodeId, `${device}/${o.point} is already offered to "${buyer}" by ${label(other)}`);
        offeredBy.set(key, o.nodeId);
        if (buyer === deviceAccount.get(device)) warn(o.nodeId, `buyer "${buyer}" is the account of device "${device}" itself`);
        // Per-buyer slot first: one slot shared by several buyers would bill each of them for every delivery.
        const dataSlot = pointOf(device, dataSlotPoint(o.point, buyer)) ?? pointOf(device, dataPoint(o.point));
        if (dataSlot) {
          const plan = { slot: dataSlot.slot, payer: buyer, payee: dataSlot.account, priceNano: o.priceNano, segments: [], label: label(o.nodeId) };
          lines.push({ device, buyer, plan });
        }
      }
    }
    offerPlans.push({ offer: o, matched, lines });
  }

  for (const w of policies.writes) {
    if (!deviceAccount.has(w.device)) warn(w.nodeId, `device "${w.device}" is not configured`);
    else if (!pointOf(w.device, w.point)) warn(w.nodeId, `device "${w.device}" has no point "${w.point}" listed`);
  }
  const ins: CompiledIn[] = policies.ins.map((i) => ({ ...i, matched: matchDevices(i.devices, deviceIds) }));

  if (problems.length > 0) throw new PolicyError(problems);

  // Valid: intern names (indices are stable for the life of the process) and build the tables.
  const reg = ctx.registry;
  const lines = new Map<number, TariffLine>();
  const addLine = (p: PlannedLine) => {
    const channel = reg.channel(p.payer, p.payee);
    const line = reg.line(p.slot, channel);
    if (lines.has(line)) throw new PolicyError([{ message: `${p.label}: slot ${p.slot} is priced twice on channel ${reg.channelInfo(channel).id}` }]);
    lines.set(line, { line, slot: p.slot, channel, priceNano: p.priceNano, segments: p.segments });
    return { line, channel };
  };
  const tariffs: CompiledTariff[] = planned.map(({ tariff: t, device, entry, plan }) => {
    const { line, channel } = addLine(plan);
    return {
      nodeId: t.nodeId,
      name: t.name,
      line,
      slot: entry.slot,
      device,
      point: t.point,
      payee: t.payee,
      account: entry.account,
      channel,
      price: t.price,
      tou: t.tou,
    };
  });
  const offers: CompiledOffer[] = offerPlans.map(({ offer: o, matched, lines: ls }) => ({
    nodeId: o.nodeId,
    name: o.name,
    devices: o.devices,
    point: o.point,
    price: o.price,
    buyers: o.buyers,
    ...(o.credit !== undefined ? { credit: o.credit } : {}),
    matched,
    lines: ls.map(({ device, buyer, plan }) => ({ device, buyer, slot: plan.slot, ...addLine(plan) })),
  }));
  const creditTable = policies.creditLimits
    .map((c) => ({ account: reg.account(c.account), limitNano: c.limitNano, rearmNano: c.rearmNano }))
    .sort((a, b) => a.account - b.account);
  const channels = Array.from({ length: reg.channelCount }, (_, i) => ({ channel: i, account: reg.channelAccount(i) }));

  const content = canonicalPolicyContent(policies)
    .map((c) => canonicalize(c) as string)
    .sort();
  const hash = createHash('sha256').update(`[${content.join(',')}]`).digest('hex');

  return {
    version: ctx.version,
    hash,
    tables: {
      version: ctx.version,
      lines: [...lines.values()].sort((a, b) => a.line - b.line),
      channels,
      creditLimits: creditTable,
    },
    tariffs,
    alarms,
    creditLimits: policies.creditLimits.map(({ limitNano: _l, rearmNano: _r, ...rest }) => rest),
    offers,
    writes: policies.writes,
    ins,
    warnings,
    horizon,
  };
}
