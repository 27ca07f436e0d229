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
import { parseDecimal } from '../base/decimal';
import { pointWidth, valueWidth, type ScalarType } from '../devices/point';
import { loadProfile, type ProfileDef } from './profiles';
import { ProfileError } from './errors';
import { fromZodIssues, type PathPart, type RawIssue } from './issues';
import { parseModicon } from './modicon';
import {
  configSchema,
  deviceSchema,
  gatewaySchema,
  httpSchema,
  KNOWN_KEYS,
  LINK_TYPES,
  linkSchema,
  MAX_STRING_LENGTH,
  mqttSchema,
  NUMERIC_TYPES,
  pointSchema,
  settlementSchema,
  ledgerSchema,
  type DevicePoint,
  type LinkConfig,
  type LinkType,
  type LoadedConfig,
  type LoadedDevice,
  type PointConfig,
} from './schema';

type Family = 'modbus' | 'dsmr-p1';
type Report = (field: string, message: string) => void;

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function part<T>(schema: z.ZodType<T>, value: unknown): T | undefined {
  const r = schema.safeParse(value);
  return r.success ? r.data : undefined;
}

/** "+0.50" -> "0.50": a decimal as written, without a leading plus. */
const normDecimal = (v: string | number): string => String(v).trim().replace(/^\+/, '');

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

/** One merged point -> ResolvedPoint (+obis), or undefined after reporting why not. */
export function resolvePoint(pt: PointConfig, family: Family, report: Report): DevicePoint | undefined {
  let ok = true;
  const bad: Report = (f, m) => {
    ok = false;
    report(f, m);
  };
  if (!pt.kind) bad('kind', 'required: one of counter, gauge, setpoint, switch');
  let area = pt.area;
  let address = pt.address;
  if (family === 'dsmr-p1') {
    for (const f of ['area', 'address', 'register'] as const) {
      if (pt[f] !== undefined) bad(f, 'dsmr-p1 points are read by OBIS code: give obis, not area/address/register');
    }
    if (!pt.obis) bad('obis', 'required for dsmr-p1 points: an OBIS code like "1-0:1.8.1"');
    area = 'input';
    address = 0;
  } else {
    if (pt.obis !== undefined) bad('obis', 'only dsmr-p1 devices have OBIS points');
    if (pt.register !== undefined) {
      if (pt.area !== undefined || pt.address !== undefined) bad('register', 'give either register or area + address, not both');
      const m = parseModicon(pt.register);
      if (m.ok) {
        area = m.area;
        address = m.address;
      } else bad('register', m.message);
    } else {
      if (area === undefined) bad('area', 'required: holding, input, coil or discrete (or a Modicon register like "40001")');
      if (address === undefined) bad('address', 'required: the 0-based protocol address');
    }
  }
  const bitArea = area === 'coil' || area === 'discrete';
  const typeText = pt.type ?? (family === 'dsmr-p1' ? 'float64' : bitArea ? 'bool' : 'uint16');
  let type = typeText as ScalarType;
  let length = 0;
  const sm = /^string\((\d+)\)$/.exec(typeText);
  if (sm) {
    type = 'string';
    length = Number(sm[1]);
    if (length < 1 || length > MAX_STRING_LENGTH) bad('type', `string length must be 1..${MAX_STRING_LENGTH} characters, got ${sm[1]}`);
  }
  if (bitArea && type !== 'bool') bad(pt.type !== undefined ? 'type' : 'area', `coil and discrete points are bool, not ${typeText}`);
  if (pt.kind === 'counter' && (type === 'bool' || type === 'string')) {
    bad(pt.type !== undefined ? 'type' : 'kind', `counter points must be numeric (${NUMERIC_TYPES.join(', ')}), not ${typeText}`);
  }
  const writable = pt.writable ?? false;
  if (writable && family === 'dsmr-p1') bad('writable', 'dsmr-p1 points are read-only');
  else if (writable && area !== undefined && area !== 'holding' && area !== 'coil') {
    bad('writable', `only holding and coil points can be written, this one is ${area}`);
  }
  const sfOffset = pt.scaleFactorOffset;
  if (sfOffset !== undefined) {
    if (family === 'dsmr-p1') bad('scaleFactorOffset', 'dsmr-p1 points have no scale factor register');
    else if (bitArea) bad('scaleFactorOffset', `only holding and input registers have scale factors, this one is ${area}`);
    else if (!(NUMERIC_TYPES as readonly string[]).includes(type) || type.startsWith('float')) {
      bad(pt.type !== undefined ? 'type' : 'scaleFactorOffset', `a scale factor applies to integer types, not ${typeText}`);
    } else if (sfOffset < valueWidth({ type, length, area: area ?? 'holding' })) {
      const w = valueWidth({ type, length, area: area ?? 'holding' });
      bad('scaleFactorOffset', `${sfOffset} lands inside the ${typeText} value itself (${w} registers); the scale factor register follows the value`);
    }
    if (writable) bad('writable', 'a point with a scale factor cannot be written');
  }
  if (family === 'modbus' && area !== undefined && address !== undefined) {
    const width = pointWidth({ type, length, area, scaleFactorOffset: sfOffset });
    if (address + width > 65536) {
      bad(
        pt.register !== undefined ? 'register' : 'address',
        `${typeText} at address ${address} needs ${width} ${bitArea ? 'bits' : 'registers'}, beyond the last address 65535`,
      );
    }
  }
  const scale = pt.scale === undefined ? '1' : normDecimal(pt.scale);
  const offset = pt.offset === undefined ? '0' : normDecimal(pt.offset);
  const maxRate = pt.maxRate === undefined || pt.maxRate === '' ? '' : normDecimal(pt.maxRate);
  const scaleValue = parseDecimal(scale, 6); // format already checked by the schema
  if (scaleValue === 0n) bad('scale', 'must not be 0');
  else if (pt.kind === 'counter' && scaleValue < 0n) bad('scale', 'counter scale must be positive');
  if (maxRate !== '') {
    if (pt.kind !== 'counter') bad('maxRate', 'only counter points have a maxRate');
    else if (parseDecimal(maxRate, 6) < 0n) bad('maxRate', 'must not be negative');
  }
  if (!ok || area === undefined || address === undefined || pt.kind === undefined) return undefined;
  const resolved: DevicePoint = {
    name: pt.name,
    kind: pt.kind,
    area,
    address,
    type,
    length,
    wordOrder: pt.wordOrder ?? 'ABCD',
    scale,
    offset,
    unit: pt.unit ?? '',
    writable,
    maxRate,
  };
  if (family === 'dsmr-p1') resolved.obis = pt.obis;
  if (sfOffset !== undefined) resolved.scaleFactorOffset = sfOffset;
  return resolved;
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

function resolveDevice(rd: Record<string, unknown>, i: number, ctx: DeviceContext, issues: RawIssue[]): LoadedDevice | undefined {
  const at = (...p: PathPart[]): PathPart[] => ['devices', i, ...p];
  const before = issues.length;
  const head = part(deviceSchema, { ...rd, points: [] });
  const rawPoints = Array.isArray(rd.points) ? rd.points : [];
  const points = rawPoints.map((p) => part(pointSchema, p));
  const linkName = typeof rd.link === 'string' ? rd.link : undefined;
  const profileName = head?.profile ?? (rd.profile === undefined ? 'generic' : undefined);

  let profile: ProfileDef | undefined;
  if (profileName !== undefined) {
    try {
      profile = loadProfile(profileName, { dirs: ctx.profileDirs });
    } catch (e) {
      if (!(e instanceof ProfileError)) throw e;
      issues.push({ at: at('profile'), message: e.message });
    }
  }

  const linkType = linkName === undefined ? undefined : ctx.linkTypes.get(linkName);
  if (linkName !== undefined && !ctx.linkTypes.has(linkName)) {
    const known = [...ctx.linkTypes.keys()];
    issues.push({ at: at('link'), message: `unknown link "${linkName}"${known.length ? ` (links: ${known.join(', ')})` : ' (no links defined)'}` });
  }
  // The link decides what kind of device this is; a device that plainly
  // belongs to the other kind gets one error on its link and no follow-ups.
  const hasAddressing = points.some((p) => p && (p.area !== undefined || p.address !== undefined || p.register !== undefined));
  const hasObis = points.some((p) => p?.obis !== undefined);
  const modbusProfile = profile?.link === 'modbus' && profile.name !== 'generic';
  let family: Family;
  if (linkType === 'dsmr-p1') {
    family = 'dsmr-p1';
    if (modbusProfile || (hasAddressing && !hasObis)) {
      issues.push({
        at: at('link'),
        message: `link "${linkName}" is a dsmr-p1 link, but this is a Modbus device${modbusProfile ? ` (profile ${profile?.name})` : ''}; Modbus devices need a modbus-tcp, modbus-rtu or rtu-over-tcp link`,
      });
      return undefined;
    }
  } else if (linkType !== undefined) {
    family = 'modbus';
    if (profile?.link === 'dsmr-p1' || (hasObis && !hasAddressing)) {
      issues.push({
        at: at('link'),
        message: `link "${linkName}" is a ${linkType} link; dsmr-p1 devices${profile?.link === 'dsmr-p1' ? ` (profile ${profile.name})` : ''} need a dsmr-p1 link`,
      });
      return undefined;
    }
  } else {
    family = profile?.link === 'dsmr-p1' || (hasObis && !hasAddressing) ? 'dsmr-p1' : 'modbus';
  }

  if (family === 'modbus') {
    if (rd.unitId === undefined) issues.push({ at: at('unitId'), message: 'required for Modbus devices: 1..247' });
    else if (rd.unitId === 0) {
      issues.push({ at: at('unitId'), message: '0 is the broadcast address and answers no reads; use 1..247' });
    }
  } else {
    const dsmrNote = 'not used by dsmr-p1 devices: the meter pushes its telegrams; remove it';
    if (rd.unitId !== undefined) issues.push({ at: at('unitId'), message: dsmrNote });
    if (rd.pollMs !== undefined) issues.push({ at: at('pollMs'), message: dsmrNote });
    if (linkName !== undefined && linkType === 'dsmr-p1') {
      const owner = ctx.p1Owner.get(linkName);
      if (owner === undefined) ctx.p1Owner.set(linkName, i);
      else issues.push({ at: at('link'), message: `link "${linkName}" already carries devices[${owner}]; a P1 port has one meter` });
    }
  }

  // Device points: duplicates, then merge over the profile's points by name.
  const firstIndex = new Map<string, number>();
  rawPoints.forEach((rp, j) => {
    const name = isRecord(rp) ? rp.name : undefined;
    if (typeof name !== 'string') return;
    const prev = firstIndex.get(name);
    if (prev === undefined) firstIndex.set(name, j);
    else issues.push({ at: at('points', j, 'name'), message: `duplicate point name "${name}" (also points[${prev}])` });
  });
  const merged = new Map<string, { pt: PointConfig; j?: number }>();
  for (const pp of profile?.points ?? []) merged.set(pp.name, { pt: { ...pp } });
  points.forEach((pt, j) => {
    if (!pt || firstIndex.get(pt.name) !== j) return;
    const base = merged.get(pt.name);
    merged.set(pt.name, { pt: base ? mergePoint(base.pt, pt) : pt, j });
  });
  const resolved: DevicePoint[] = [];
  for (const { pt, j } of merged.values()) {
    const report: Report =
      j !== undefined
        ? (f, m) => issues.push({ at: at('points', j, f), message: m })
        : (f, m) => issues.push({ at: at('profile'), message: `profile point "${pt.name}": ${f}: ${m}` });
    const rp = resolvePoint(pt, family, report);
    if (rp) resolved.push(rp);
  }
  if (merged.size === 0 && rawPoints.length === 0 && profile) {
    issues.push({ at: at('points'), message: `device has no points: list them here or choose a profile that has them` });
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
  const mqtt = raw.mqtt === undefined ? undefined : part(mqttSchema, raw.mqtt);
  const settlement = raw.settlement === undefined ? undefined : part(settlementSchema, raw.settlement);

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
  if (issues.length > 0 || !gateway || !http || (raw.mqtt !== undefined && !mqtt)) return { issues };
  const gatewayId = gateway.id ?? os.hostname();
  const config: LoadedConfig = {
    version: 1,
    gateway: {
      id: gatewayId,
      dataDir: path.resolve(baseDir, gateway.dataDir),
      currency: gateway.currency,
      timezone: canonicalTimeZone(gateway.timezone ?? systemTimeZone()),
      readingsRetentionDays: gateway.readingsRetentionDays,
      ...(gateway.profilesDir ? { profilesDir: profileDirs[0] } : {}),
    },
    http: { ...parseListen(http.listen), editor: http.editor },
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
    ledger: { checkpointMs: part(ledgerSchema, raw.ledger ?? {})?.checkpointMs ?? 60_000 },
    links: links as LinkConfig[],
    devices: devices as LoadedDevice[],
    configFile,
  };
  return { config, issues };
}
