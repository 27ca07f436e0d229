/**
 * What `probe` and `scan` talk to: a Modbus link taken from the config
 * (`--config FILE --link ID`) or an ad-hoc Modbus TCP link (`--host H
 * [--port P]`, no config needed), plus the command-line parsing they share
 * (integers, areas, Modicon registers). Every bad option is a CliUsageError.
 */
import * as fs from 'node:fs';
import { loadConfig } from '../config/load';
import { parseModicon } from '../config/modicon';
import type { LinkConfig } from '../config/schema';
import type { GatewayError } from '../base/errors';
import { LinkDownError, ModbusExceptionError, ModbusTimeoutError } from '../links/errors';
import type { Area, ModbusLink } from '../links/link';
import { createModbusLink } from '../poll/link-factory';
import { silentLogger } from '../base/log';
import { configPath } from './config-option';
import { CliUsageError } from './errors';

export const AREA_NAMES: readonly Area[] = ['holding', 'input', 'coil', 'discrete'];
export const MODBUS_LINK_TYPES: ReadonlyArray<LinkConfig['type']> = ['modbus-tcp', 'modbus-rtu', 'rtu-over-tcp'];

/** Options naming the link (as commander hands them over: strings). */
export interface TargetOptions {
  config?: string;
  link?: string;
  host?: string;
  port?: string;
  timeoutMs?: string;
}

/** A decimal or 0x-hex integer option within min..max; `fallback` when not given. */
export function intOption(option: string, value: string | undefined, min: number, max: number, fallback?: number): number {
  if (value === undefined || value === '') {
    if (fallback !== undefined) return fallback;
    throw new CliUsageError(option, 'required');
  }
  const text = String(value).trim();
  const n = /^0x[0-9a-f]+$/i.test(text) ? parseInt(text.slice(2), 16) : /^\d+$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(n)) throw new CliUsageError(option, `expected an integer, got "${text}"`);
  if (n < min || n > max) throw new CliUsageError(option, `must be ${min}..${max}, got ${n}`);
  return n;
}

export function areaOption(option: string, value: string | undefined, fallback: Area): Area {
  if (value === undefined) return fallback;
  const a = value.trim().toLowerCase();
  if (!(AREA_NAMES as readonly string[]).includes(a)) {
    throw new CliUsageError(option, `expected one of ${AREA_NAMES.join(', ')}, got "${value}"`);
  }
  return a as Area;
}

/** A comma list of allowed words (`--types uint32,float32`); `all` when not given. */
export function listOption<T extends string>(option: string, value: string | undefined, all: readonly T[]): T[] {
  if (value === undefined) return [...all];
  const items = value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const byLower = new Map(all.map((x) => [x.toLowerCase(), x]));
  const out: T[] = [];
  for (const item of items) {
    const hit = byLower.get(item.toLowerCase());
    if (!hit) throw new CliUsageError(option, `unknown "${item}" (expected some of ${all.join(', ')})`);
    if (!out.includes(hit)) out.push(hit);
  }
  if (out.length === 0) throw new CliUsageError(option, `expected some of ${all.join(', ')}`);
  return out;
}

export interface AreaAddressOptions {
  area?: string;
  address?: string;
  register?: string;
}

/** `--register 40001` (Modicon) or `--area A --address N`; defaults holding 0. */
export function areaAddressOptions(opts: AreaAddressOptions): { area: Area; address: number } {
  if (opts.register !== undefined) {
    if (opts.area !== undefined || opts.address !== undefined) {
      throw new CliUsageError('--register', 'give either --register or --area/--address, not both');
    }
    const m = parseModicon(opts.register);
    if (!m.ok) throw new CliUsageError('--register', m.message);
    return { area: m.area, address: m.address };
  }
  return {
    area: areaOption('--area', opts.area, 'holding'),
    address: intOption('--address', opts.address, 0, 65535, 0),
  };
}

/** The link config to use, with `timeoutMs` overridden when given. */
export function resolveLinkConfig(opts: TargetOptions, timeoutMs?: number): { linkConfig: LinkConfig; source: string } {
  if (opts.host !== undefined) {
    if (opts.link !== undefined) throw new CliUsageError('--host', 'give either --link (from the config) or --host/--port, not both');
    const host = opts.host.trim();
    if (!host) throw new CliUsageError('--host', 'must not be empty');
    const port = intOption('--port', opts.port, 1, 65535, 502);
    const linkConfig: LinkConfig = { id: 'adhoc', type: 'modbus-tcp', host, port, timeoutMs: timeoutMs ?? 1000 };
    return { linkConfig, source: `modbus-tcp ${host}:${port}` };
  }
  if (opts.port !== undefined) throw new CliUsageError('--port', 'only with --host (a config link has its own port)');
  const file = configPath(opts);
  if (opts.link === undefined && !fs.existsSync(file)) {
    throw new CliUsageError(
      '',
      `nothing to talk to: give --host H [--port P] for a Modbus TCP device, or --config FILE [--link ID] (there is no ${file})`,
    );
  }
  const cfg = loadConfig(file); // ConfigError -> exit 2 with every issue
  const modbus = cfg.links.filter((l) => (MODBUS_LINK_TYPES as readonly string[]).includes(l.type));
  let lc: LinkConfig | undefined;
  if (opts.link === undefined) {
    if (modbus.length !== 1) {
      const names = modbus.map((l) => l.id).join(', ');
      throw new CliUsageError(
        '--link',
        modbus.length === 0
          ? `${cfg.configFile} has no Modbus link; give --host/--port for an ad-hoc Modbus TCP link`
          : `required: ${cfg.configFile} has several Modbus links (${names})`,
      );
    }
    lc = modbus[0];
  } else {
    lc = cfg.links.find((l) => l.id === opts.link);
    if (!lc) {
      const names = cfg.links.map((l) => l.id).join(', ') || 'none';
      throw new CliUsageError('--link', `no link "${opts.link}" in ${cfg.configFile} (links: ${names})`);
    }
    if (!(MODBUS_LINK_TYPES as readonly string[]).includes(lc.type)) {
      throw new CliUsageError('--link', `link "${lc.id}" is a ${lc.type} link; this command needs a Modbus link`);
    }
  }
  const linkConfig = timeoutMs === undefined ? lc : ({ ...lc, timeoutMs } as LinkConfig);
  return { linkConfig, source: `link ${lc.id} (${lc.type})` };
}

/** Build and open the link. The caller closes it. */
export async function openModbusLink(lc: LinkConfig): Promise<ModbusLink> {
  const link = createModbusLink(lc, silentLogger());
  if (!link) throw new CliUsageError('--link', `link "${lc.id}" is a ${lc.type} link; this command needs a Modbus link`);
  try {
    await link.open();
  } catch (e) {
    await link.close().catch(() => undefined);
    throw e;
  }
  return link;
}

const FUNCTION_CODE: Record<Area, number> = { coil: 1, discrete: 2, holding: 3, input: 4 };

/** A next step for the usual failures of a read (for `hint:` lines). */
export function modbusErrorHint(e: GatewayError, ctx: { area: Area; unitId: number }): string | undefined {
  if (e instanceof ModbusExceptionError) {
    switch (e.exceptionCode) {
      case 1:
        return `the device does not serve ${ctx.area} reads (function ${FUNCTION_CODE[ctx.area]}); try another --area`;
      case 2:
        return "the range is not (all) in the device's map; try another --address or a smaller --count (a read across a hole is refused whole)";
      case 3:
        return 'the device refused this request size; try a smaller --count';
      case 10:
      case 11:
        return `the gateway reached no device with unit id ${ctx.unitId}; \`m2m-gateway scan\` lists the unit ids that answer`;
      default:
        return undefined;
    }
  }
  if (e instanceof ModbusTimeoutError) {
    return `nothing answered as unit ${ctx.unitId}: check the unit id (\`m2m-gateway scan\` finds them); on serial lines also baud rate, parity and wiring`;
  }
  if (e instanceof LinkDownError)
    return 'the link could not be reached: check host and port (or the serial port) and that nothing else holds it';
  return undefined;
}
