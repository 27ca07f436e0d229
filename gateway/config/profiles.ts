/**
 * The device profile library. A profile is a JSON data file
 * (gateway/config/profiles/<name>.json, format in docs/profiles.md) naming
 * the points a device model has. Modbus profiles give area + address (or a
 * Modicon `register`); dsmr-p1 profiles give an `obis` code instead.
 * Extra profiles can be dropped into a directory (`gateway.profilesDir`);
 * they are looked up before the built-in ones.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';
import { ProfileError } from './errors';
import { formatPath } from './issues';
import { PROFILE_NAME_PATTERN, pointSchema, type PointConfig } from './schema';
import dsmr5 from './profiles/dsmr-5.json';
import eastronSdm120 from './profiles/eastron-sdm120.json';
import eastronSdm630 from './profiles/eastron-sdm630.json';
import genericWaterMeter from './profiles/generic-water-meter.json';
import generic from './profiles/generic.json';
import sunspecMeter from './profiles/sunspec-meter.json';

/** Which kind of link a profile's devices sit on. */
export type ProfileLink = 'modbus' | 'dsmr-p1';

export const profileSchema = z.strictObject({
  $schema: z.string().optional(),
  name: z.string().regex(PROFILE_NAME_PATTERN),
  description: z.string(),
  link: z.enum(['modbus', 'dsmr-p1']),
  manufacturer: z.string().optional(),
  model: z.string().optional(),
  points: z.array(pointSchema),
});

export interface ProfileDef {
  name: string;
  description: string;
  link: ProfileLink;
  points: PointConfig[];
}

const BUILTIN: Record<string, unknown> = {
  generic,
  'eastron-sdm120': eastronSdm120,
  'eastron-sdm630': eastronSdm630,
  'dsmr-5': dsmr5,
  'generic-water-meter': genericWaterMeter,
  'sunspec-meter': sunspecMeter,
};

const cache = new Map<string, ProfileDef>();

/** Check a profile's data; every problem is listed in the thrown ProfileError. */
export function parseProfile(data: unknown, source: string, expectedName?: string): ProfileDef {
  const r = profileSchema.safeParse(data);
  if (!r.success) {
    const lines = r.error.issues.map((i) => `  ${formatPath(i.path as Array<string | number>) || '(root)'}: ${i.message}`);
    throw new ProfileError(`profile ${source} is invalid:\n${lines.join('\n')}`);
  }
  const p = r.data;
  const problems: string[] = [];
  if (expectedName !== undefined && p.name !== expectedName) {
    problems.push(`name "${p.name}" does not match the file name "${expectedName}"`);
  }
  const seen = new Set<string>();
  p.points.forEach((pt, i) => {
    const at = `points[${i}] (${pt.name})`;
    if (seen.has(pt.name)) problems.push(`${at}: duplicate point name`);
    seen.add(pt.name);
    if (!pt.kind) problems.push(`${at}: kind is required in a profile`);
    if (p.link === 'dsmr-p1') {
      if (!pt.obis) problems.push(`${at}: dsmr-p1 profile points need an obis code`);
      if (pt.area !== undefined || pt.address !== undefined || pt.register !== undefined) {
        problems.push(`${at}: dsmr-p1 profile points have no area/address/register`);
      }
    } else {
      if (pt.obis !== undefined) problems.push(`${at}: obis is only for dsmr-p1 profiles`);
      const hasAddr = pt.area !== undefined && pt.address !== undefined;
      if (!hasAddr && pt.register === undefined) problems.push(`${at}: needs area + address or a register`);
    }
  });
  if (problems.length > 0) throw new ProfileError(`profile ${source} is invalid:\n  ${problems.join('\n  ')}`);
  return { name: p.name, description: p.description, link: p.link, points: p.points };
}

export interface ProfileLookup {
  /** Directories searched for `<name>.json` before the built-in library. */
  dirs?: readonly string[];
}

/** Load a profile by name (`generic`, `eastron-sdm630`, `sunspec-meter` … or one in `dirs`). */
export function loadProfile(name: string, opts: ProfileLookup = {}): ProfileDef {
  if (!PROFILE_NAME_PATTERN.test(name)) throw new ProfileError(`"${name}" is not a valid profile name`);
  for (const dir of opts.dirs ?? []) {
    const file = path.join(dir, `${name}.json`);
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw new ProfileError(`cannot read profile ${file}: ${(e as Error).message}`);
    }
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch (e) {
      throw new ProfileError(`profile ${file} is not valid JSON: ${(e as Error).message}`);
    }
    return parseProfile(data, file, name);
  }
  const cached = cache.get(name);
  if (cached) return cached;
  if (!(name in BUILTIN)) {
    throw new ProfileError(`unknown profile "${name}" (available: ${listProfiles(opts).join(', ')})`);
  }
  const def = parseProfile(BUILTIN[name], `${name}.json`, name);
  def.points.forEach((pt) => Object.freeze(pt));
  Object.freeze(def.points);
  cache.set(name, Object.freeze(def));
  return def;
}

/** Names of every profile available: built-in ones plus those in `dirs`. */
export function listProfiles(opts: ProfileLookup = {}): string[] {
  const names = new Set(Object.keys(BUILTIN));
  for (const dir of opts.dirs ?? []) {
    let files: string[];
    try {
      files = fs.readdirSync(dir);
    } catch {
      continue;
    }
    for (const f of files) if (f.endsWith('.json')) names.add(f.slice(0, -5));
  }
  return [...names].sort();
}
