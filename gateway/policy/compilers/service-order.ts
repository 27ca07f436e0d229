/**
 * `m2m-service-order` (docs/policies.md): while a condition holds on a
 * point (`below` / `above` a level, and/or `predictDays`: days to empty from
 * the recent rate) one durable order per device is opened and delivered to
 * the `provider` (MQTT topics and/or http(s) URLs) until acknowledged; it is
 * closed when the condition clears, and an acknowledged order's `fee`
 * accrues to `payee` on close, as quantity 1 of `service:<point>` on the
 * slot the daemon prepared (policy/service-fees.ts). Run by
 * policy/service-orders.ts.
 */
import { parseDecimal } from '../../base/decimal';
import { GLOB_PATTERN, ID_HINT, ID_PATTERN, NodeReader, POINT_PATTERN, readMs, readQuantity, type Base } from '../node-reader';
import { serviceSlotPoint } from '../service-points';
import type { Build, CompileScope, PlannedLine } from './scope';

export interface ServiceProvider {
  /** http:// or https:// URLs the order is POSTed to. */
  urls: string[];
  /** MQTT topics the order is published on (acknowledged on `<topic>/ack`). */
  topics: string[];
}

export interface ServiceOrderPolicy extends Base {
  devices: string;
  point: string;
  below?: string;
  above?: string;
  /** Open when the point is predicted to reach 0 within this many days. */
  predictDays?: string;
  /** The recent rate is measured over this window (default one day). */
  windowMs: number;
  /** In the point's unit: how far past a threshold the value must come back before the order closes. */
  hysteresis: string;
  provider: ServiceProvider;
  fee: string;
  feeNano: bigint;
  payee?: string;
  /** Largest delay between delivery attempts (default 30 s). */
  retryMaxMs: number;
}

export interface CompiledServiceOrderLine {
  device: string;
  slot: number;
  line: number;
  channel: number;
}

export interface CompiledServiceOrder extends Omit<ServiceOrderPolicy, 'feeNano'> {
  /** Matched devices that list the point. */
  matched: string[];
  /** The fee lines, for devices that have the `service:<point>@<payee>` slot. */
  lines: CompiledServiceOrderLine[];
}

export const DEFAULT_WINDOW_MS = 86_400_000;
export const DEFAULT_RETRY_MAX_MS = 30_000;
const TOPIC_MAX = 200;
const LOOPBACK = /^(localhost|127\.\d+\.\d+\.\d+|\[::1\])$/i;

/** `provider` as a list (or comma-separated text), or as an object {url(s), topic(s)}. */
function providerList(r: NodeReader): string[] | undefined {
  const v = r.given('provider');
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return r.list('provider');
  const o = v as Record<string, unknown>;
  const out: string[] = [];
  for (const k of Object.keys(o)) {
    if (!['url', 'urls', 'topic', 'topics'].includes(k)) r.problem(`provider.${k.slice(0, 32)}: unknown (give url and/or topic)`);
    const x = o[k];
    if (typeof x === 'string')
      out.push(
        ...x
          .split(',')
          .map((p) => p.trim())
          .filter((p) => p !== ''),
      );
    else if (Array.isArray(x) && x.every((p) => typeof p === 'string')) out.push(...x.map((p: string) => p.trim()).filter((p) => p !== ''));
    else if (x !== undefined && x !== null) r.problem(`provider.${k.slice(0, 32)}: expected a string or a list of strings`);
  }
  return out;
}

function parseProvider(r: NodeReader): ServiceProvider | undefined {
  const list = providerList(r);
  if (!list || list.length === 0) {
    r.problem('provider: required (an MQTT topic and/or an http(s) URL)');
    return undefined;
  }
  const out: ServiceProvider = { urls: [], topics: [] };
  for (const p of list) {
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(p)) {
      let url: URL | undefined;
      try {
        url = new URL(p);
      } catch {
        url = undefined;
      }
      if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) r.problem(`provider: "${p}" is not an http:// or https:// URL`);
      else out.urls.push(url.toString());
    } else if (p.length > TOPIC_MAX || /[+#]/.test(p) || p.includes('\u0000') || p.split('/').some((l) => l === '')) {
      r.problem(`provider: "${p.slice(0, 64)}" is not an MQTT topic (no wildcards + #, no empty levels, at most ${TOPIC_MAX} characters)`);
    } else out.topics.push(p);
  }
  return out;
}

export function parseServiceOrder(r: NodeReader): ServiceOrderPolicy | undefined {
  const devices = r.text('devices', true, GLOB_PATTERN, 'a device glob like "purifier-*"');
  const point = r.text('point', true, POINT_PATTERN, ID_HINT);
  const q = (key: string) => (r.given(key) === undefined ? undefined : readQuantity(r, key, r.given(key)));
  const below = q('below');
  const above = q('above');
  const predictDays = q('predictDays');
  if (r.given('below') === undefined && r.given('above') === undefined && r.given('predictDays') === undefined)
    r.problem('give below, above and/or predictDays');
  if (predictDays !== undefined && parseDecimal(predictDays, 9) <= 0n) r.problem(`predictDays: ${predictDays} must be above 0`);
  const hysteresis = q('hysteresis') ?? '0';
  if (hysteresis.startsWith('-')) r.problem(`hysteresis: ${hysteresis} must not be negative`);
  const windowMs = readMs(r, 'windowMs', DEFAULT_WINDOW_MS, 1_000, 90 * DEFAULT_WINDOW_MS);
  const retryMaxMs = readMs(r, 'retryMaxMs', DEFAULT_RETRY_MAX_MS, 100, 3_600_000);
  const provider = parseProvider(r);
  const fee = r.money('fee', false) ?? { text: '0', nano: 0n };
  const payee = r.text('payee', fee.nano > 0n, ID_PATTERN, ID_HINT);
  if (r.problems.length || !devices || !point || !provider) return undefined;
  const out: ServiceOrderPolicy = {
    ...r.base,
    devices,
    point,
    windowMs,
    hysteresis,
    provider,
    fee: fee.text,
    feeNano: fee.nano,
    retryMaxMs,
  };
  if (below !== undefined) out.below = below;
  if (above !== undefined) out.above = above;
  if (predictDays !== undefined) out.predictDays = predictDays;
  if (payee !== undefined) out.payee = payee;
  return out;
}

export function checkServiceOrders(
  orders: readonly ServiceOrderPolicy[],
  s: CompileScope,
  ctx: { mqtt?: boolean },
): Build<CompiledServiceOrder[]> {
  const billedBy = new Map<string, string>();
  const plans = orders.map((o) => {
    for (const u of o.provider.urls) {
      const url = new URL(u);
      if (url.protocol === 'http:' && !LOOPBACK.test(url.hostname))
        s.warn(o.nodeId, `provider "${u}" is plain http: use https:// outside loopback`);
    }
    if (o.provider.topics.length > 0 && ctx.mqtt === false)
      s.warn(o.nodeId, `provider topics need the mqtt section in the config; "${o.provider.topics[0]}" cannot be reached`);
    const matched: string[] = [];
    const lines: Array<{ device: string; plan: PlannedLine }> = [];
    for (const device of s.match(o.nodeId, o.devices)) {
      if (!s.pointOf(device, o.point)) {
        s.warn(o.nodeId, `device "${device}" has no point "${o.point}" listed`);
        continue;
      }
      matched.push(device);
      if (o.feeNano === 0n || o.payee === undefined) continue;
      const key = `${device}\0${o.point}\0${o.payee}`;
      const other = billedBy.get(key);
      if (other !== undefined) {
        s.fail(o.nodeId, `fees for ${device}/${o.point} are already billed to "${o.payee}" by ${s.label(other)}`);
        continue;
      }
      billedBy.set(key, o.nodeId);
      const slot = s.pointOf(device, serviceSlotPoint(o.point, o.payee));
      if (slot)
        lines.push({
          device,
          plan: { slot: slot.slot, payer: slot.account, payee: o.payee, priceNano: o.feeNano, segments: [], label: s.label(o.nodeId) },
        });
    }
    return { order: o, matched, lines };
  });
  return (book) =>
    plans.map(({ order: { feeNano: _fee, ...order }, matched, lines }) => ({
      ...order,
      matched,
      lines: lines.map(({ device, plan }) => ({ device, slot: plan.slot, ...book.add(plan) })),
    }));
}
