/**
 * Flows -> policy tables for the metering core. The flows file is the one
 * source of truth (docs/policies.md): its m2m-* nodes are parsed, matched
 * against the configured devices and points, and compiled into
 * `PolicyTables` (tariff lines with DST-correct time-of-use segments,
 * channels, credit limits) plus the lists the rest of the daemon acts on
 * (alarms, offers, writes, ins, controls, service orders). Each node kind has its own compiler in
 * compilers/; this file runs them in a fixed order. Any problem rejects the
 * whole compile with a PolicyError naming every offending node; the caller
 * keeps its previous tables. Names are interned in the registry only when the
 * compile succeeds.
 *
 * A `devices` glob selects the configured devices that HAVE the node's point
 * (CompileScope.select, docs/policies.md): a device without it is simply not
 * selected, so adding an unrelated device never breaks a policy; a glob that
 * selects no device at all is an error naming the node.
 */
import { createHash } from 'node:crypto';
import canonicalize from 'canonicalize';
import type { PolicyTables } from '../core/types';
import { PolicyError, type PolicyProblem } from './errors';
import { extractPolicyNodes } from './flows';
import { canonicalPolicyContent, parsePolicyNodes, type WritePolicy } from './nodes';
import type { PolicyRegistry } from '../meter/policy-registry';
import { CompileScope, LineBook, type PolicySlot } from './compilers/scope';
import { checkTariffs, type CompiledTariff } from './compilers/tariff';
import { checkCreditLimits, type CompiledCreditLimit } from './compilers/credit-limit';
import { checkAlarms, type CompiledAlarm } from './compilers/alarm';
import { checkOffers, type CompiledOffer } from './compilers/offer';
import { checkIns, checkWrites, type CompiledIn } from './compilers/flow-io';
import { checkControls, type CompiledControl } from './compilers/control';
import { checkServiceOrders, type CompiledServiceOrder } from './compilers/service-order';

export type { PolicySlot } from './compilers/scope';
export type { CompiledTariff } from './compilers/tariff';
export type { CompiledCreditLimit } from './compilers/credit-limit';
export type { CompiledAlarm } from './compilers/alarm';
export type { CompiledOffer, CompiledOfferLine } from './compilers/offer';
export type { CompiledIn } from './compilers/flow-io';
export type { CompiledControl, ControlRow, LinearMap } from './compilers/control';
export type { CompiledServiceOrder, ServiceProvider } from './compilers/service-order';

export interface CompileContext {
  slots: readonly PolicySlot[];
  timezone: string;
  nowMs: number;
  version: number;
  registry: PolicyRegistry;
  /** Whether the config has an MQTT uplink (provider topics need one); unknown when absent. */
  mqtt?: boolean;
  /** Time-of-use segments are compiled for [now - past, now + future) days; recompile before `horizon.toMs`. Default 7 / 35. */
  horizonDays?: { past: number; future: number };
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
  controls: CompiledControl[];
  serviceOrders: CompiledServiceOrder[];
  /** Things worth telling the operator that do not make the policies wrong (a glob matching nothing). */
  warnings: string[];
  /** The window the time-of-use segments cover. */
  horizon: { fromMs: number; toMs: number };
}

const DAY_MS = 86_400_000;

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
  const scope = new CompileScope(ctx.slots, nodes, problems);

  // The order of the checks is the order of their problems and warnings.
  const build = {
    tariffs: checkTariffs(policies.tariffs, scope, { timezone: ctx.timezone, horizon }),
    creditLimits: checkCreditLimits(policies.creditLimits, scope),
    alarms: checkAlarms(policies.alarms, scope),
    offers: checkOffers(policies.offers, scope),
    writes: checkWrites(policies.writes, scope),
    ins: checkIns(policies.ins, scope),
    controls: checkControls(policies.controls, scope),
    serviceOrders: checkServiceOrders(policies.serviceOrders, scope, { mqtt: ctx.mqtt }),
  };
  if (problems.length > 0) throw new PolicyError(problems);

  // Valid: intern names (indices are stable for the life of the process) and build the tables.
  // The order of the builds is the order lines, channels and accounts are interned in.
  const book = new LineBook(ctx.registry);
  const tariffs = build.tariffs(book);
  const offers = build.offers(book);
  const serviceOrders = build.serviceOrders(book);
  const credit = build.creditLimits(book);
  const reg = ctx.registry;
  const channels = Array.from({ length: reg.channelCount }, (_, i) => ({ channel: i, account: reg.channelAccount(i) }));

  const content = canonicalPolicyContent(policies)
    .map((c) => canonicalize(c) as string)
    .sort();
  const hash = createHash('sha256')
    .update(`[${content.join(',')}]`)
    .digest('hex');

  return {
    version: ctx.version,
    hash,
    tables: { version: ctx.version, lines: book.sorted(), channels, creditLimits: credit.table },
    tariffs,
    alarms: build.alarms(book),
    creditLimits: credit.limits,
    offers,
    writes: build.writes(book),
    ins: build.ins(book),
    controls: build.controls(book),
    serviceOrders,
    warnings: scope.warnings,
    horizon,
  };
}
