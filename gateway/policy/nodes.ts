/**
 * Reading the properties of each m2m-* policy node (docs/architecture.md §5) into a
 * checked, typed form. Node-RED's editor stores an empty optional field as
 * "", so "" counts as not given. Money is a decimal *string*: a JSON number
 * has already been through a float and is refused.
 */
import { formatMoney, MONEY_FRAC, parseDecimal } from '../base/decimal';
import type { PolicyNode } from './flows';
import { GLOB_PATTERN, ID_HINT, ID_PATTERN, NodeReader, POINT_PATTERN, type Base } from './node-reader';
import { parseBand, type TouBand, type TouBandInput } from './tou';
import { parseControl, type ControlPolicy } from './compilers/control';
import { parseServiceOrder, type ServiceOrderPolicy } from './compilers/service-order';

export type { ControlPolicy } from './compilers/control';
export type { ServiceOrderPolicy } from './compilers/service-order';

export const IN_TOPICS = ['readings', 'events', 'vouchers'] as const;
export type InTopic = (typeof IN_TOPICS)[number];

export interface TariffPolicy extends Base {
  devices: string;
  point: string;
  payee: string;
  price: string;
  priceNano: bigint;
  tou: TouBandInput[];
  bands: TouBand[];
}
export interface CreditLimitPolicy extends Base {
  account: string;
  limit: string;
  limitNano: bigint;
  /** Unsettled amount at or below which the limit re-arms (default: the limit). */
  rearm: string;
  rearmNano: bigint;
  action: 'alarm' | 'cutoff';
  device?: string;
  point?: string;
}
export interface AlarmPolicy extends Base {
  devices: string;
  point: string;
  below?: string;
  above?: string;
  hysteresis: string;
}
export interface OfferPolicy extends Base {
  devices: string;
  point: string;
  price: string;
  priceNano: bigint;
  buyers: string[];
  /** How much a buyer may owe (delivered, not yet paid) before its deliveries pause; absent = no window. */
  credit?: string;
}
export interface InPolicy extends Base {
  topics: InTopic[];
  devices: string;
}
export interface WritePolicy extends Base {
  device: string;
  point: string;
}

export interface ParsedPolicies {
  tariffs: TariffPolicy[];
  creditLimits: CreditLimitPolicy[];
  alarms: AlarmPolicy[];
  offers: OfferPolicy[];
  ins: InPolicy[];
  writes: WritePolicy[];
  controls: ControlPolicy[];
  serviceOrders: ServiceOrderPolicy[];
}

function parseTou(r: NodeReader): { tou: TouBandInput[]; bands: TouBand[] } {
  let v = r.given('tou');
  if (v === undefined) return { tou: [], bands: [] };
  if (typeof v === 'string') {
    try {
      v = JSON.parse(v);
    } catch {
      r.problem(`tou: not a JSON list of bands`);
      return { tou: [], bands: [] };
    }
  }
  if (!Array.isArray(v)) {
    r.problem('tou: expected a list of bands [{days, from, to, price}]');
    return { tou: [], bands: [] };
  }
  const tou: TouBandInput[] = [];
  const bands: TouBand[] = [];
  v.forEach((b, i) => {
    const { band, problems } = parseBand(b, i);
    problems.forEach((p) => r.problem(p));
    if (band) {
      const o = b as Record<string, string>;
      tou.push({
        days: typeof o.days === 'string' && o.days.trim() ? o.days.trim() : '*',
        from: o.from.trim(),
        to: o.to.trim(),
        price: o.price.trim(),
      });
      bands.push(band);
    }
  });
  return { tou, bands };
}

function parseTariff(r: NodeReader): TariffPolicy | undefined {
  const devices = r.text('devices', true, GLOB_PATTERN, 'a device glob like "purifier-*"');
  const point = r.text('point', true, POINT_PATTERN, ID_HINT);
  const payee = r.text('payee', true, ID_PATTERN, ID_HINT);
  const price = r.money('price', true);
  const { tou, bands } = parseTou(r);
  if (r.problems.length || !devices || !point || !payee || !price) return undefined;
  return { ...r.base, devices, point, payee, price: price.text, priceNano: price.nano, tou, bands };
}

function parseCreditLimit(r: NodeReader): CreditLimitPolicy | undefined {
  const account = r.text('account', true, ID_PATTERN, ID_HINT);
  const limit = r.money('limit', true);
  const rearm = r.money('rearm', false);
  const actionRaw = r.given('action') ?? 'alarm';
  if (actionRaw !== 'alarm' && actionRaw !== 'cutoff') r.problem(`action: ${JSON.stringify(actionRaw)} is not one of alarm, cutoff`);
  const action = actionRaw === 'cutoff' ? 'cutoff' : 'alarm';
  const cutoff = action === 'cutoff';
  const device = r.text('device', cutoff, ID_PATTERN, ID_HINT);
  const point = r.text('point', cutoff, POINT_PATTERN, ID_HINT);
  if (limit && rearm && rearm.nano > limit.nano) r.problem(`rearm: ${rearm.text} must not be above the limit ${limit.text}`);
  if (r.problems.length || !account || !limit) return undefined;
  const out: CreditLimitPolicy = {
    ...r.base,
    account,
    limit: limit.text,
    limitNano: limit.nano,
    rearm: rearm?.text ?? limit.text,
    rearmNano: rearm?.nano ?? limit.nano,
    action,
  };
  if (device) out.device = device;
  if (point) out.point = point;
  return out;
}

function parseAlarm(r: NodeReader): AlarmPolicy | undefined {
  const devices = r.text('devices', true, GLOB_PATTERN, 'a device glob like "purifier-*"');
  const point = r.text('point', true, POINT_PATTERN, ID_HINT);
  const below = r.decimal('below', false);
  const above = r.decimal('above', false);
  const hysteresis = r.decimal('hysteresis', false) ?? '0';
  if (r.given('below') === undefined && r.given('above') === undefined) r.problem('give below, above or both');
  if (hysteresis.startsWith('-')) r.problem(`hysteresis: ${hysteresis} must not be negative`);
  if (r.problems.length || !devices || !point) return undefined;
  const out: AlarmPolicy = { ...r.base, devices, point, hysteresis };
  if (below !== undefined) out.below = below;
  if (above !== undefined) out.above = above;
  return out;
}

function parseOffer(r: NodeReader): OfferPolicy | undefined {
  const devices = r.text('devices', true, GLOB_PATTERN, 'a device glob like "purifier-*"');
  const point = r.text('point', true, POINT_PATTERN, ID_HINT);
  const price = r.money('price', true);
  const buyers = r.list('buyers') ?? [];
  if (buyers.length === 0) r.problem('buyers: required (the buyer account ids)');
  for (const b of buyers) if (!ID_PATTERN.test(b)) r.problem(`buyers: "${b}" is not a valid account id (${ID_HINT})`);
  if (new Set(buyers).size !== buyers.length) r.problem('buyers: listed twice');
  const credit = r.money('credit', false);
  if (r.problems.length || !devices || !point || !price) return undefined;
  return { ...r.base, devices, point, price: price.text, priceNano: price.nano, buyers, ...(credit ? { credit: credit.text } : {}) };
}

function parseIn(r: NodeReader): InPolicy | undefined {
  const topics = r.list('topics') ?? [...IN_TOPICS];
  for (const t of topics)
    if (!(IN_TOPICS as readonly string[]).includes(t)) r.problem(`topics: "${t}" is not one of ${IN_TOPICS.join(', ')}`);
  const devices = r.text('devices', false, GLOB_PATTERN, 'a device glob like "purifier-*"') ?? '*';
  if (r.problems.length) return undefined;
  return { ...r.base, topics: [...new Set(topics)] as InTopic[], devices };
}

function parseWrite(r: NodeReader): WritePolicy | undefined {
  const device = r.text('device', true, ID_PATTERN, ID_HINT);
  const point = r.text('point', true, POINT_PATTERN, ID_HINT);
  if (r.problems.length || !device || !point) return undefined;
  return { ...r.base, device, point };
}

/** Parse every policy node; problems carry the node label. */
export function parsePolicyNodes(nodes: readonly PolicyNode[]): {
  policies: ParsedPolicies;
  problems: Array<{ nodeId: string; message: string }>;
} {
  const policies: ParsedPolicies = {
    tariffs: [],
    creditLimits: [],
    alarms: [],
    offers: [],
    ins: [],
    writes: [],
    controls: [],
    serviceOrders: [],
  };
  const problems: Array<{ nodeId: string; message: string }> = [];
  for (const node of nodes) {
    const r = new NodeReader(node);
    switch (node.type) {
      case 'm2m-tariff': {
        const p = parseTariff(r);
        if (p) policies.tariffs.push(p);
        break;
      }
      case 'm2m-credit-limit': {
        const p = parseCreditLimit(r);
        if (p) policies.creditLimits.push(p);
        break;
      }
      case 'm2m-alarm': {
        const p = parseAlarm(r);
        if (p) policies.alarms.push(p);
        break;
      }
      case 'm2m-offer': {
        const p = parseOffer(r);
        if (p) policies.offers.push(p);
        break;
      }
      case 'm2m-in': {
        const p = parseIn(r);
        if (p) policies.ins.push(p);
        break;
      }
      case 'm2m-write': {
        const p = parseWrite(r);
        if (p) policies.writes.push(p);
        break;
      }
      case 'm2m-control': {
        const p = parseControl(r);
        if (p) policies.controls.push(p);
        break;
      }
      case 'm2m-service-order': {
        const p = parseServiceOrder(r);
        if (p) policies.serviceOrders.push(p);
        break;
      }
    }
    for (const message of r.problems) problems.push({ nodeId: node.id, message });
  }
  return { policies, problems };
}

/** Policy content that matters for metering, canonical: what the policy hash covers. */
export function canonicalPolicyContent(p: ParsedPolicies): unknown[] {
  const money = (s: string) => formatMoney(parseDecimal(s, MONEY_FRAC));
  return [
    ...p.tariffs.map((t) => ({
      type: 'm2m-tariff',
      devices: t.devices,
      point: t.point,
      payee: t.payee,
      price: money(t.price),
      tou: t.tou.map((b) => ({ days: b.days, from: b.from, to: b.to, price: money(b.price) })),
    })),
    ...p.creditLimits.map((c) => ({
      type: 'm2m-credit-limit',
      account: c.account,
      limit: money(c.limit),
      rearm: money(c.rearm),
      action: c.action,
      device: c.device ?? null,
      point: c.point ?? null,
    })),
    ...p.alarms.map((a) => ({
      type: 'm2m-alarm',
      devices: a.devices,
      point: a.point,
      below: a.below ?? null,
      above: a.above ?? null,
      hysteresis: a.hysteresis,
    })),
    ...p.offers.map((o) => ({
      type: 'm2m-offer',
      devices: o.devices,
      point: o.point,
      price: money(o.price),
      buyers: [...o.buyers].sort(),
      ...(o.credit !== undefined ? { credit: money(o.credit) } : {}),
    })),
    ...p.ins.map((i) => ({ type: 'm2m-in', topics: [...i.topics].sort(), devices: i.devices })),
    ...p.writes.map((w) => ({ type: 'm2m-write', device: w.device, point: w.point })),
    ...p.controls.map(({ nodeId: _n, name: _m, ...c }) => ({ type: 'm2m-control', ...c, linear: c.linear ?? null })),
    ...p.serviceOrders.map(({ nodeId: _n, name: _m, feeNano: _f, ...o }) => ({
      type: 'm2m-service-order',
      ...o,
      below: o.below ?? null,
      above: o.above ?? null,
      predictDays: o.predictDays ?? null,
      fee: money(o.fee),
      payee: o.payee ?? null,
    })),
  ];
}
