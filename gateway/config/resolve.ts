/**
 * From a migrated config object to a LoadedConfig: schema validation, then
 * the checks that span fields (link references, duplicates, profile merge,
 * Modicon registers, type/area/kind rules, widths), then defaults.
 *
 * Every problem is collected. The whole document is validated by the schema
 * once (for its issues); each link, device and point is also parsed on its
 * own so that one broken point does not hide the cross-field problems of the
 * others.
 */
import * as os from 'node:os';
import * as path from 'node:path';
import type { z } from 'zod';
import { loadProfile, type ProfileDef } from './profiles';
import { ProfileError } from './errors';
import { fromZodIssues, type PathPart, type RawIssue } from './issues';
import { normDecimal, resolvePoint, type Family, type Report } from './resolve-point';
import {
  configSchema,
  deviceSchema,
  gatewaySchema,
  httpSchema,
  policySchema,
  KNOWN_KEYS,
  LINK_TYPES,
  linkSchema,
  mqttSchema,
  pointSchema,
  settlementSchema,
  ledgerSchema,
  durationMs,
  sizeBytes,
  type DevicePoint,
  type LinkConfig,
  type LinkType,
  type LoadedConfig,
  type LoadedDevice,
  type PointConfig,
} from './schema';

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function part<T>(schema: z.ZodType<T>, value: unknown): T | undefined {
  const r = schema.safeParse(value);
  return r.success ? r.data : undefined;
}

export function systemTimeZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
}

function canonicalTimeZone(tz: string): string {
  return new Intl.DateTimeFormat('en-US', { timeZone: tz }).resolvedOptions().timeZone;
}

function parseListen(listen: string): { host: string; port: number } {
  const i = listen.lastIndexOf(':');
  return { host: listen.slice(0, i).replace(/^\[(.*)\]$/, '$1'), port: Number(listen.slice(i + 1)) };
}

/** A device point overriding a profile point field by field; a register replaces area+address and vice versa. */
function mergePoint(base: PointConfig, over: PointConfig): PointConfig {
  const out: Record<string, unknown> = { ...base };
  if (over.register !== undefined) {
    delete out.area;
    delete out.address;
  }
  if (over.area !== undefined || over.address !== undefined) delete out.register;
  for (const [k, v] of Object.entries(over)) if (v !== undefined) out[k] = v;
  return out as PointConfig;
}

/** Report duplicate string ids in a list of raw entries. */
function checkDuplicates(list: unknown[], key: string, base: PathPart[], what: string, issues: RawIssue[]): void {
  const first = new Map<string, number>();
  list.forEach((e, i) => {
    const v = isRecord(e) ? e[key] : undefined;
    if (typeof v !== 'string') return;
    const prev = first.get(v);
    if (prev === undefined) first.set(v, i);
    else issues.push({ at: [...base, i, key], message: `duplicate ${what} "${v}" (also ${base.join('.')}[${prev}])` });
  });
}

interface DeviceContext {
  linkTypes: Map<string, LinkType | undefined>;
  profileDirs: string[];
  p1Owner: Map<string, number>;
}

/** What the steps of one device share: its index, its path builder, and the issues list. */
interface DeviceScope {
  i: number;
  at: (...p: PathPart[]) => PathPart[];
  issues: RawIssue[];
}

/** The device's profile ("generic" when none is named), or undefined after reporting why it cannot be loaded. */
function deviceProfile(name: string | undefined, ctx: DeviceContext, d: DeviceScope): ProfileDef | undefined {
  if (name === undefined) return undefined;
  try {
    return loadProfile(name, { dirs: ctx.profileDirs });
  } catch (e) {
    if (!(e instanceof ProfileError)) throw e;
    d.issues.push({ at: d.at('profile'), message: e.message });
    return undefined;
  }
}

/** The type of the link the device names; an unknown link is reported. */
function deviceLinkType(linkName: string | undefined, ctx: DeviceContext, d: DeviceScope): LinkType | undefined {
  if (linkName === undefined) return undefined;
  if (!ctx.linkTypes.has(linkName)) {
    const known = [...ctx.linkTypes.keys()];
    d.issues.push({
      at: d.at('link'),
      message: `unknown link "${linkName}"${known.length ? ` (links: ${known.join(', ')})` : ' (no links defined)'}`,
    });
  }
  return ctx.linkTypes.get(linkName);
}

/**
 * Modbus or DSMR P1: the link decides; without a known link, the profile and
 * the points' addressing do. A device that plainly belongs to the other kind
 * than its link gets one error on its link (undefined: no follow-ups).
 */
function deviceFamily(
  linkName: string | undefined,
  linkType: LinkType | undefined,
  profile: ProfileDef | undefined,
  points: ReadonlyArray<PointConfig | undefined>,
  d: DeviceScope,
): Family | undefined {
  const hasAddressing = points.some((p) => p && (p.area !== undefined || p.address !== undefined || p.register !== undefined));
  const hasObis = points.some((p) => p?.obis !== undefined);
  const looksP1 = profile?.link === 'dsmr-p1' || (hasObis && !hasAddressing);
  if (linkType === 'dsmr-p1') {
    const modbusProfile = profile?.link === 'modbus' && profile.name !== 'generic';
    if (!modbusProfile && !(hasAddressing && !hasObis)) return 'dsmr-p1';
    d.issues.push({
      at: d.at('link'),
      message: `link "${linkName}" is a dsmr-p1 link, but this is a Modbus device${modbusProfile ? ` (profile ${profile?.name})` : ''}; Modbus devices need a modbus-tcp, modbus-rtu or rtu-over-tcp link`,
    });
    return undefined;
  }
  if (linkType === undefined) return looksP1 ? 'dsmr-p1' : 'modbus';
  if (!looksP1) return 'modbus';
  d.issues.push({
    at: d.at('link'),
    message: `link "${linkName}" is a ${linkType} link; dsmr-p1 devices${profile?.link === 'dsmr-p1' ? ` (profile ${profile.name})` : ''} need a dsmr-p1 link`,
  });
  return undefined;
}

/** A Modbus device needs a unit id that answers reads. */
function checkModbusDevice(rd: Record<string, unknown>, d: DeviceScope): void {
  if (rd.unitId === undefined) d.issues.push({ at: d.at('unitId'), message: 'required for Modbus devices: 1..247' });
  else if (rd.unitId === 0) {
    d.issues.push({ at: d.at('unitId'), message: '0 is the broadcast address and answers no reads; use 1..247' });
  }
}

/** A DSMR P1 meter pushes its telegrams (no unit id, no poll period) and has its port to itself. */
function checkP1Device(
  rd: Record<string, unknown>,
  linkName: string | undefined,
  linkType: LinkType | undefined,
  ctx: DeviceContext,
  d: DeviceScope,
): void {
  const dsmrNote = 'not used by dsmr-p1 devices: the meter pushes its telegrams; remove it';
  if (rd.unitId !== undefined) d.issues.push({ at: d.at('unitId'), message: dsmrNote });
  if (rd.pollMs !== undefined) d.issues.push({ at: d.at('pollMs'), message: dsmrNote });
  if (linkName !== undefined && linkType === 'dsmr-p1') {
    const owner = ctx.p1Owner.get(linkName);
    if (owner === undefined) ctx.p1Owner.set(linkName, d.i);
    else d.issues.push({ at: d.at('link'), message: `link "${linkName}" already carries devices[${owner}]; a P1 port has one meter` });
  }
}

/** The device's points merged over its profile's by name (`j`: index in the device's list); duplicate names reported. */
function mergePoints(
  rawPoints: unknown[],
  points: ReadonlyArray<PointConfig | undefined>,
  profile: ProfileDef | undefined,
  d: DeviceScope,
): Map<string, { pt: PointConfig; j?: number }> {
  const firstIndex = new Map<string, number>();
  rawPoints.forEach((rp, j) => {
    const name = isRecord(rp) ? rp.name : undefined;
    if (typeof name !== 'string') return;
    const prev = firstIndex.get(name);
    if (prev === undefined) firstIndex.set(name, j);
    else d.issues.push({ at: d.at('points', j, 'name'), message: `duplicate point name "${name}" (also points[${prev}])` });
  });
  const merged = new Map<string, { pt: PointConfig; j?: number }>();
  for (const pp of profile?.points ?? []) merged.set(pp.name, { pt: { ...pp } });
  points.forEach((pt, j) => {
    if (!pt || firstIndex.get(pt.name) !== j) return;
    const base = merged.get(pt.name);
    merged.set(pt.name, { pt: base ? mergePoint(base.pt, pt) : pt, j });
  });
  return merged;
}

/** Resolve each merged point; a problem is reported at the device's point, or at `profile` for a profile point. */
function resolvePoints(merged: Map<string, { pt: PointConfig; j?: number }>, family: Family, d: DeviceScope): DevicePoint[] {
  const resolved: DevicePoint[] = [];
  for (const { pt, j } of merged.values()) {
    const report: Report =
      j !== undefined
        ? (f, m) => d.issues.push({ at: d.at('points', j, f), message: m })
        : (f, m) => d.issues.push({ at: d.at('profile'), message: `profile point "${pt.name}": ${f}: ${m}` });
    const rp = resolvePoint(pt, family, report);
    if (rp) resolved.push(rp);
  }
  return resolved;
}

function resolveDevice(rd: Record<string, unknown>, i: number, ctx: DeviceContext, issues: RawIssue[]): LoadedDevice | undefined {
  const d: DeviceScope = { i, at: (...p) => ['devices', i, ...p], issues };
  const before = issues.length;
  const head = part(deviceSchema, { ...rd, points: [] });
  const rawPoints = Array.isArray(rd.points) ? rd.points : [];
  const points = rawPoints.map((p) => part(pointSchema, p));
  const linkName = typeof rd.link === 'string' ? rd.link : undefined;
  const profile = deviceProfile(head?.profile ?? (rd.profile === undefined ? 'generic' : undefined), ctx, d);
  const linkType = deviceLinkType(linkName, ctx, d);
  const family = deviceFamily(linkName, linkType, profile, points, d);
  if (family === undefined) return undefined;
  if (family === 'modbus') checkModbusDevice(rd, d);
  else checkP1Device(rd, linkName, linkType, ctx, d);
  const merged = mergePoints(rawPoints, points, profile, d);
  const resolved = resolvePoints(merged, family, d);
  if (merged.size === 0 && rawPoints.length === 0 && profile) {
    issues.push({ at: d.at('points'), message: `device has no points: list them here or choose a profile that has them` });
  }
  if (!head || issues.length > before) return undefined;
  return {
    ...head,
    unitId: family === 'modbus' ? (head.unitId ?? 0) : 0,
    pollMs: family === 'modbus' ? (head.pollMs ?? 1000) : 0,
    account: head.account ?? head.id,
    linkType: linkType as LinkType,
    points: resolved,
  };
}

export interface ResolveResult {
  config?: LoadedConfig;
  issues: RawIssue[];
}

/** Validate and resolve a migrated config object. `baseDir` anchors relative paths. */
export function resolveConfig(raw: Record<string, unknown>, baseDir: string, configFile: string): ResolveResult {
  const issues: RawIssue[] = [];
  const full = configSchema.safeParse(raw, { reportInput: true });
  if (!full.success) issues.push(...fromZodIssues(full.error.issues, [], KNOWN_KEYS));

  const gateway = part(gatewaySchema, raw.gateway);
  const http = part(httpSchema, raw.http);
  const policy = part(policySchema, raw.policy);
  const mqtt = raw.mqtt === undefined ? undefined : part(mqttSchema, raw.mqtt);
  const settlement = raw.settlement === undefined ? undefined : part(settlementSchema, raw.settlement);
  const ledger = part(ledgerSchema, raw.ledger);

  const rawLinks = Array.isArray(raw.links) ? raw.links : [];
  const links = rawLinks.map((l) => part(linkSchema, l));
  checkDuplicates(rawLinks, 'id', ['links'], 'link id', issues);
  const linkTypes = new Map<string, LinkType | undefined>();
  const serialOwner = new Map<string, number>();
  rawLinks.forEach((rl, k) => {
    if (!isRecord(rl) || typeof rl.id !== 'string') return;
    const type = (LINK_TYPES as readonly unknown[]).includes(rl.type) ? (rl.type as LinkType) : undefined;
    if (!linkTypes.has(rl.id)) linkTypes.set(rl.id, type);
    if ((type === 'modbus-rtu' || type === 'dsmr-p1') && typeof rl.path === 'string') {
      const prev = serialOwner.get(rl.path);
      if (prev === undefined) serialOwner.set(rl.path, k);
      else issues.push({ at: ['links', k, 'path'], message: `serial port ${rl.path} is already used by links[${prev}]` });
    }
  });

  const rawDevices = Array.isArray(raw.devices) ? raw.devices : [];
  checkDuplicates(rawDevices, 'id', ['devices'], 'device id', issues);
  const profileDirs = gateway?.profilesDir ? [path.resolve(baseDir, gateway.profilesDir)] : [];
  const ctx: DeviceContext = { linkTypes, profileDirs, p1Owner: new Map() };
  const devices = rawDevices.map((rd, i) => (isRecord(rd) ? resolveDevice(rd, i, ctx, issues) : undefined));

  if (mqtt?.passwordFile !== undefined && mqtt.username === undefined) {
    issues.push({ at: ['mqtt', 'passwordFile'], message: 'a password needs mqtt.username as well' });
  }
  if (issues.length > 0 || !gateway || !http || !ledger || !policy || (raw.mqtt !== undefined && !mqtt)) return { issues };
  const gatewayId = gateway.id ?? os.hostname();
  const config: LoadedConfig = {
    version: 1,
    gateway: {
      id: gatewayId,
      dataDir: path.resolve(baseDir, gateway.dataDir),
      currency: gateway.currency,
      timezone: canonicalTimeZone(gateway.timezone ?? systemTimeZone()),
      ...(gateway.profilesDir ? { profilesDir: profileDirs[0] } : {}),
    },
    http: { ...parseListen(http.listen), editor: http.editor },
    ledger: {
      commitMs: ledger.commitMs === 'auto' ? autoCommitMs(countCounters(devices)) : ledger.commitMs,
      checkpointMs: ledger.checkpointMs,
      history:
        typeof ledger.history === 'object'
          ? { everyMs: durationMs(ledger.history.every), maxBytes: sizeBytes(ledger.history.maxBytes) }
          : null,
    },
    policy: { hostNodes: policy.hostNodes },
    ...(mqtt
      ? {
          mqtt: {
            ...mqtt,
            clientId: mqtt.clientId ?? `m2m-${gatewayId}`,
            ...(mqtt.passwordFile !== undefined ? { passwordFile: path.resolve(baseDir, mqtt.passwordFile) } : {}),
          },
        }
      : {}),
    ...(settlement
      ? {
          settlement: {
            threshold: normDecimal(settlement.threshold),
            intervalS: settlement.intervalS,
            ...(Object.keys(settlement.payees).length === 0
              ? {}
              : {
                  payees: Object.fromEntries(
                    Object.entries(settlement.payees).map(([id, p]) => [
                      id,
                      {
                        pollMs: p.pollMs,
                        ...(p.deposit !== undefined ? { deposit: normDecimal(p.deposit) } : {}),
                        ...(p.receivables !== undefined ? { receivables: p.receivables.replace(/\/+$/, '') } : {}),
                        ...(p.tokenFile !== undefined ? { tokenFile: path.resolve(baseDir, p.tokenFile) } : {}),
                      },
                    ]),
                  ),
                }),
          },
        }
      : {}),
    links: links as LinkConfig[],
    devices: devices as LoadedDevice[],
    configFile,
  };
  return { config, issues };
}

/**
 * `ledger.commitMs: auto` (docs/ledger.md, "Cadence"): 1 ms per counter
 * point, between 5 s and 30 s. A commit rewrites the state of every counter
 * that moved, so this keeps the bytes written per day about the same for a
 * site of any size (a few GB a day at most), while a small site's totals
 * stay fresh.
 */
export function autoCommitMs(counterPoints: number): number {
  return Math.min(AUTO_COMMIT_MAX_MS, Math.max(AUTO_COMMIT_MIN_MS, counterPoints));
}
export const AUTO_COMMIT_MIN_MS = 5000;
export const AUTO_COMMIT_MAX_MS = 30_000;

function countCounters(devices: ReadonlyArray<LoadedDevice | undefined>): number {
  let n = 0;
  for (const d of devices) for (const p of d?.points ?? []) if (p.kind === 'counter') n++;
  return n;
}
