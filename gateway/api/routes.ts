/**
 * The HTTP route table, as data: method, path pattern, who may call it,
 * which query parameters it takes, and a handler over the `ApiBackend`.
 * server.ts matches, authenticates and validates from this table; tests
 * iterate over it so a new route is covered (401 without a token) at once.
 */
import type { Access, Principal } from './auth';
import type { ApiBackend, PointValue } from './backend';
import { BadRequestError, UpgradeRequiredError } from './errors';
import { METRICS_CONTENT_TYPE, type MetricsRegistry, exposeRegistries } from '../base/metrics';
import type { ParsedQuery, QuerySpec } from './params';
import type { RouteResult } from './reply';

export type HttpMethod = 'GET' | 'POST';

export interface RouteContext<Q> {
  params: Readonly<Record<string, string>>;
  query: Q;
  /** null only on 'open' routes called without a token. */
  principal: Principal | null;
  /** The parsed JSON body (routes with `body: 'json'`), else undefined. */
  body: unknown;
  backend: ApiBackend;
  /** The API's own metrics (rendered after the backend's on /metrics). */
  apiMetrics: MetricsRegistry;
}

export type { RouteResult };

export interface RouteDef<S extends QuerySpec = QuerySpec> {
  method: HttpMethod;
  /** `/api/devices/:id/points/:point`: `:name` matches one non-empty segment. */
  path: string;
  access: Access;
  summary: string;
  query: S;
  body?: 'json';
  /** A valid body (routes with `body: 'json'`), for the docs and the table-driven tests. */
  example?: unknown;
  handle(ctx: RouteContext<ParsedQuery<S>>): RouteResult | Promise<RouteResult>;
}

/** Identity helper that keeps each route's query type for its handler. */
function route<S extends QuerySpec>(def: RouteDef<S>): RouteDef {
  return def as unknown as RouteDef;
}

export const DEFAULT_EVENT_LIMIT = 100;
/** GET /api/vouchers answers at most this many (and the rest of the last one's millisecond) unless `limit` is smaller. */
export const VOUCHER_PAGE = 1000;
const MAX_TEXT_VALUE = 256;
const DECIMAL_RE = /^[+-]?\d+(\.\d+)?$/;

/** The body of POST /api/policies: `{nodes: [ {id, type, …}, … ]}`, Node-RED's node objects, at most 1000. */
export function parsePoliciesBody(body: unknown): unknown[] {
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw new BadRequestError('body', 'expected a JSON object {"nodes": [...]}');
  for (const k of Object.keys(body)) {
    if (k !== 'nodes') throw new BadRequestError(`body.${k.slice(0, 64)}`, 'unknown field (only "nodes" is allowed)');
  }
  const nodes = (body as { nodes?: unknown }).nodes;
  if (!Array.isArray(nodes)) throw new BadRequestError('body.nodes', 'expected an array of Node-RED node objects');
  if (nodes.length > 1000) throw new BadRequestError('body.nodes', 'at most 1000 nodes');
  for (const [i, n] of nodes.entries()) {
    if (typeof n !== 'object' || n === null || Array.isArray(n)) throw new BadRequestError(`body.nodes[${i}]`, 'expected a node object');
    const { id, type } = n as { id?: unknown; type?: unknown };
    if (typeof id !== 'string' || id === '' || id.length > 64)
      throw new BadRequestError(`body.nodes[${i}].id`, 'expected a string of 1-64 characters');
    if (typeof type !== 'string' || !type.startsWith('m2m-'))
      throw new BadRequestError(`body.nodes[${i}].type`, 'only m2m-* nodes are deployed to the gateway');
  }
  return nodes;
}

/** The body of POST /api/devices/:id/points/:point: exactly `{value}`. JSON numbers become decimal strings. */
export function parseWriteBody(body: unknown): PointValue {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new BadRequestError('body', 'expected a JSON object {"value": …}');
  }
  for (const k of Object.keys(body)) {
    if (k !== 'value') throw new BadRequestError(`body.${k.slice(0, 64)}`, 'unknown field (only "value" is allowed)');
  }
  if (!('value' in body)) throw new BadRequestError('value', 'missing');
  const v = (body as { value: unknown }).value;
  if (typeof v === 'boolean') return v;
  if (typeof v === 'number') {
    const s = String(v);
    if (!Number.isFinite(v) || !DECIMAL_RE.test(s)) {
      throw new BadRequestError('value', `number ${s} cannot be written exactly; send a decimal string`);
    }
    return s;
  }
  if (typeof v === 'string') {
    if (v.length === 0) throw new BadRequestError('value', 'must not be empty');
    if (v.length > MAX_TEXT_VALUE) throw new BadRequestError('value', `longer than ${MAX_TEXT_VALUE} characters`);
    return v;
  }
  throw new BadRequestError('value', 'expected a boolean, a number or a decimal string');
}

export const ROUTES: readonly RouteDef[] = [
  route({
    method: 'GET',
    path: '/api/health',
    access: 'open',
    summary: 'liveness, version, uptime and link states',
    query: {},
    handle: async ({ backend }) => ({ json: await backend.health() }),
  }),
  route({
    method: 'GET',
    path: '/api/devices',
    access: 'admin',
    summary: 'every device with its state and last point values',
    query: {},
    handle: async ({ backend }) => ({ json: await backend.devices() }),
  }),
  route({
    method: 'POST',
    path: '/api/devices/:id/points/:point',
    access: 'admin',
    summary: 'write a point, read it back, answer the confirmed value',
    query: {},
    body: 'json',
    example: { value: 5 },
    handle: async ({ backend, params, body }) => {
      const value = parseWriteBody(body);
      const confirmed = await backend.writePoint(params.id as string, params.point as string, value);
      return { json: { value: confirmed.value } };
    },
  }),
  route({
    method: 'POST',
    path: '/api/policies',
    access: 'admin',
    summary: 'deploy m2m-* policy nodes from another Node-RED (node-red-contrib-m2m-gateway)',
    query: {},
    body: 'json',
    example: { nodes: [] },
    handle: async ({ backend, body }) => ({ json: await backend.deployPolicies(parsePoliciesBody(body)) }),
  }),
  route({
    method: 'GET',
    path: '/api/ledger',
    access: 'admin',
    summary: 'totals per (device, point, account, payee) over [from, to)',
    query: { device: 'name', point: 'name', from: 'time', to: 'time' },
    handle: async ({ backend, query }) => {
      if (query.from !== undefined && query.to !== undefined && query.to < query.from) {
        throw new BadRequestError('to', 'must not be before from');
      }
      return { json: await backend.ledger(query) };
    },
  }),
  route({
    method: 'GET',
    path: '/api/accounts',
    access: 'admin',
    summary: 'accounts with unsettled and vouchered amounts',
    query: {},
    handle: async ({ backend }) => ({ json: await backend.accounts() }),
  }),
  route({
    method: 'GET',
    path: '/api/channels',
    access: 'admin',
    summary: 'payment channels (payer > payee)',
    query: {},
    handle: async ({ backend }) => ({ json: await backend.channels() }),
  }),
  route({
    method: 'GET',
    path: '/api/vouchers',
    access: 'payee',
    summary:
      "signed vouchers issued and received, optionally of one channel, issued at or after since: the oldest limit (default 1000) by issue time and the rest of the last one's millisecond, ordered by channel and seq (page on with since = the newest issuedAt); a payee token sees only its channels",
    query: { channel: 'name', since: 'time', limit: 'limit' },
    handle: async ({ backend, query, principal }) => {
      // a payee's page is cut among its own vouchers: cut among everyone's, it could hold none
      // of them, and paging by the newest issuedAt received would never move on
      const payee = principal?.kind === 'payee' ? principal.account : undefined;
      const all = await backend.vouchers({ ...query, limit: query.limit ?? VOUCHER_PAGE, ...(payee === undefined ? {} : { payee }) });
      return { json: payee === undefined ? all : all.filter((v) => v.payee === payee) };
    },
  }),
  route({
    method: 'GET',
    path: '/api/checkpoints',
    access: 'payee',
    summary: 'signed ledger checkpoints, newest first',
    query: { limit: 'limit' },
    handle: async ({ backend, query }) => ({ json: ((await backend.checkpoints?.()) ?? []).slice(0, query.limit ?? DEFAULT_EVENT_LIMIT) }),
  }),
  route({
    method: 'GET',
    path: '/api/events',
    access: 'admin',
    summary: 'alarms, resets, rollovers, quarantines, policy changes, control writes, service orders (newest first)',
    query: { kind: 'name', device: 'name', since: 'time', limit: 'limit' },
    handle: async ({ backend, query }) => ({
      json: await backend.events({ ...query, limit: query.limit ?? DEFAULT_EVENT_LIMIT }),
    }),
  }),
  route({
    method: 'GET',
    path: '/api/orders',
    access: 'admin',
    summary: 'service orders: open, acknowledged, closed (newest first)',
    query: { state: 'name', device: 'name', limit: 'limit' },
    handle: async ({ backend, query }) => {
      const { state } = query;
      if (state !== undefined && state !== 'open' && state !== 'acked' && state !== 'closed') {
        throw new BadRequestError('state', 'expected one of open, acked, closed');
      }
      return { json: await backend.orders({ state, device: query.device, limit: query.limit ?? DEFAULT_EVENT_LIMIT }) };
    },
  }),
  route({
    method: 'GET',
    path: '/metrics',
    access: 'metrics',
    summary: 'Prometheus text format',
    query: {},
    handle: async ({ backend, apiMetrics }) => ({
      text: await exposeRegistries([backend.metrics(), apiMetrics]),
      contentType: METRICS_CONTENT_TYPE,
    }),
  }),
  route({
    method: 'GET',
    path: '/api/stream',
    access: 'authenticated',
    summary: 'WebSocket: readings, events, vouchers (see stream.ts); a plain GET answers 426',
    query: { token: 'name' },
    handle: () => {
      throw new UpgradeRequiredError();
    },
  }),
];

export type RouteMatch =
  { kind: 'route'; route: RouteDef; params: Record<string, string> } | { kind: 'method'; allow: string[] } | { kind: 'none' };

interface CompiledRoute {
  route: RouteDef;
  segments: string[];
}

/** A matcher over a route table (HEAD is served by GET routes). */
export function routeMatcher(routes: readonly RouteDef[]): (method: string, pathname: string) => RouteMatch {
  const compiled: CompiledRoute[] = routes.map((r) => ({ route: r, segments: r.path.split('/').slice(1) }));
  return (method, pathname) => {
    const path = pathname.length > 1 && pathname.endsWith('/') ? pathname.slice(0, -1) : pathname;
    const parts = path.split('/').slice(1);
    const allow = new Set<string>();
    for (const c of compiled) {
      const params = matchSegments(c.segments, parts);
      if (!params) continue;
      if (c.route.method === method || (method === 'HEAD' && c.route.method === 'GET')) {
        return { kind: 'route', route: c.route, params };
      }
      allow.add(c.route.method);
      if (c.route.method === 'GET') allow.add('HEAD');
    }
    return allow.size > 0 ? { kind: 'method', allow: [...allow] } : { kind: 'none' };
  };
}

function matchSegments(pattern: string[], parts: string[]): Record<string, string> | null {
  if (pattern.length !== parts.length) return null;
  const params: Record<string, string> = {};
  for (let i = 0; i < pattern.length; i++) {
    const p = pattern[i] as string;
    const v = parts[i] as string;
    if (p.startsWith(':')) {
      if (v === '') return null;
      params[p.slice(1)] = v;
    } else if (p !== v) {
      return null;
    }
  }
  return params;
}
