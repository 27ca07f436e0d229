import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { errorCodesOf } from '../../gateway/base/error-codes';
import { ConfigError, ProfileError, formatConfigIssues, type ConfigIssue } from '../../gateway/config/errors';
import { EXAMPLE_CONFIG } from '../../gateway/config/example';
import { configJsonSchema } from '../../gateway/config/json-schema';
import { loadConfig, parseConfig } from '../../gateway/config/load';
import { migrateConfig } from '../../gateway/config/migrate';
import { autoCommitMs } from '../../gateway/config/resolve';
import { parseModicon } from '../../gateway/config/modicon';
import { CURRENT_VERSION } from '../../gateway/config/schema';
import type { ResolvedPoint } from '../../gateway/devices/point';
import { listProfiles, loadProfile } from '../../gateway/config/profiles';

import { DESIGN_EXAMPLE } from '../helper/design-example';

const CONFIG_ERROR_CODES = errorCodesOf('config');

const BASE = '/srv/m2m';

function point(p: Partial<ResolvedPoint> & Pick<ResolvedPoint, 'name' | 'kind' | 'area' | 'address' | 'type'>): ResolvedPoint {
  return { length: 0, wordOrder: 'ABCD', scale: '1', offset: '0', unit: '', writable: false, maxRate: '', ...p };
}

/** The issues of a config that must fail. */
function issuesOf(text: string): ConfigIssue[] {
  try {
    parseConfig(text, BASE);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    expect((e as ConfigError).code).toBe('GW_ERR_CONFIG');
    return (e as ConfigError).issues;
  }
  throw new Error('config was accepted');
}

const paths = (issues: ConfigIssue[]) => issues.map((i) => i.path);
const at = (issues: ConfigIssue[], p: string) => issues.filter((i) => i.path === p).map((i) => i.message);

/** A minimal valid config with one TCP link; `devices` is YAML for the devices list. */
function withDevices(devices: string, extraLinks = ''): string {
  return `version: 1
gateway: { id: gw, timezone: UTC }
links:
  - { id: plant, type: modbus-tcp, host: 127.0.0.1 }
  - { id: p1, type: dsmr-p1, path: /dev/ttyUSB1 }
${extraLinks}
devices:
${devices}`;
}

function onePoint(p: string): string {
  return withDevices(`  - id: d1\n    link: plant\n    unitId: 1\n    points:\n      - ${p}\n`);
}

describe('loading the docs/config.md example', () => {
  const cfg = parseConfig(DESIGN_EXAMPLE, BASE);

  it('fills the gateway, http, ledger and mqtt sections', () => {
    expect(cfg.version).toBe(1);
    expect(cfg.gateway).toEqual({ id: 'gw-1', dataDir: path.resolve(BASE, 'm2m-data'), currency: 'NOK', timezone: 'Europe/Oslo' });
    expect(cfg.http).toEqual({ host: '127.0.0.1', port: 8080, editor: true });
    expect(cfg.ledger).toEqual({ commitMs: 5000, checkpointMs: 60000, history: null });
    expect(cfg.mqtt).toEqual({ url: 'mqtt://127.0.0.1:1883', topicPrefix: 'm2m', clientId: 'm2m-gw-1', maxQueued: 100000, qos: 1 });
    expect(cfg.configFile).toBe('');
  });

  it('fills link defaults per type', () => {
    expect(cfg.links).toEqual([
      { id: 'plant', type: 'modbus-tcp', host: '127.0.0.1', port: 502, timeoutMs: 1000 },
      { id: 'rs485', type: 'modbus-rtu', path: '/dev/ttyUSB0', baudRate: 9600, parity: 'none', dataBits: 8, stopBits: 1, timeoutMs: 1000 },
      { id: 'conv', type: 'rtu-over-tcp', host: '10.0.0.5', port: 4001, timeoutMs: 1000 },
      { id: 'p1', type: 'dsmr-p1', path: '/dev/ttyUSB1', baudRate: 115200, parity: 'none', dataBits: 8, stopBits: 1, timeoutMs: 1000 },
    ]);
  });

  it('resolves the device and its points exactly', () => {
    expect(cfg.devices).toHaveLength(1);
    const { points, ...device } = cfg.devices[0];
    expect(device).toEqual({
      id: 'purifier-1',
      link: 'plant',
      linkType: 'modbus-tcp',
      unitId: 1,
      pollMs: 1000,
      account: 'purifier-1',
      profile: 'generic',
      maxRegisters: 125,
      maxBits: 2000,
    });
    expect(points).toEqual([
      point({ name: 'water', kind: 'counter', area: 'holding', address: 0, type: 'uint32', unit: 'L' }),
      point({ name: 'hardness', kind: 'gauge', area: 'input', address: 10, type: 'int16', scale: '0.1', unit: 'dH' }),
      point({ name: 'cartridge', kind: 'gauge', area: 'holding', address: 20, type: 'uint16', unit: '%' }),
      point({ name: 'cycle', kind: 'setpoint', area: 'holding', address: 30, type: 'uint16', writable: true }),
      point({ name: 'valve', kind: 'switch', area: 'coil', address: 0, type: 'bool', writable: true }),
    ]);
  });
});

describe('defaults', () => {
  it('fills gateway id, dataDir, currency, timezone, listen, pollMs, account, profile', () => {
    const cfg = parseConfig(
      `version: 1
links: [{ id: plant, type: modbus-tcp, host: 127.0.0.1 }]
devices:
  - { id: pump, link: plant, unitId: 3, points: [{ name: flow, kind: counter, register: "30001" }] }
`,
      BASE,
    );
    expect(cfg.gateway.id).toBe(os.hostname());
    expect(cfg.gateway.dataDir).toBe(path.join(BASE, 'm2m-data'));
    expect(cfg.gateway.currency).toBe('NOK');
    expect(cfg.gateway.timezone).toBe(Intl.DateTimeFormat().resolvedOptions().timeZone);
    expect(cfg.http).toEqual({ host: '127.0.0.1', port: 8080, editor: true });
    expect(cfg.mqtt).toBeUndefined();
    expect(cfg.devices[0]).toMatchObject({ account: 'pump', pollMs: 1000, profile: 'generic' });
    expect(cfg.devices[0].points).toEqual([point({ name: 'flow', kind: 'counter', area: 'input', address: 0, type: 'uint16' })]);
  });

  it('keeps unquoted YAML decimals exact and accepts integers', () => {
    const cfg = parseConfig(onePoint('{ name: t, kind: gauge, area: input, address: 1, scale: 0.10, offset: -40 }'), BASE);
    expect(cfg.devices[0].points[0]).toMatchObject({ scale: '0.10', offset: '-40' });
  });

  it('parses string(N) and IPv6 listen addresses', () => {
    const cfg = parseConfig(
      onePoint('{ name: serial, kind: gauge, area: holding, address: 100, type: string(20) }').replace(
        'gateway: { id: gw, timezone: UTC }',
        'gateway: { id: gw, timezone: UTC }\nhttp: { listen: "[::1]:0" }',
      ),
      BASE,
    );
    expect(cfg.devices[0].points[0]).toMatchObject({ type: 'string', length: 20 });
    expect(cfg.http).toEqual({ host: '::1', port: 0, editor: true });
  });
});

describe('the ledger section', () => {
  const minimal = (ledger: string) =>
    onePoint('{ name: flow, kind: counter, register: "30001" }').replace(
      'gateway: { id: gw, timezone: UTC }',
      `gateway: { id: gw, timezone: UTC }\nledger: ${ledger}`,
    );

  it('defaults: a commit every 5 s, a checkpoint a minute, no reading history', () => {
    expect(parseConfig(onePoint('{ name: flow, kind: counter, register: "30001" }'), BASE).ledger).toEqual({
      commitMs: 5000,
      checkpointMs: 60000,
      history: null,
    });
    expect(parseConfig(minimal('{ history: off }'), BASE).ledger.history).toBeNull();
    expect(parseConfig(minimal('{ history: false }'), BASE).ledger.history).toBeNull();
  });

  it('commitMs auto (the default): 1 ms per counter point, between 5 s and 30 s; a number is kept', () => {
    expect([0, 1, 4_999, 5_000, 15_000, 30_000, 45_000].map(autoCommitMs)).toEqual([5000, 5000, 5000, 5000, 15_000, 30_000, 30_000]);
    expect(parseConfig(minimal('{ commitMs: auto }'), BASE).ledger.commitMs).toBe(5000);
    expect(parseConfig(minimal('{ commitMs: 7000 }'), BASE).ledger.commitMs).toBe(7000);
    expect(paths(issuesOf(minimal('{ commitMs: sometimes }')))).toEqual(['ledger.commitMs']);
  });

  it('takes history as durations and sizes with units, or as ms and bytes', () => {
    expect(parseConfig(minimal('{ commitMs: 1000, history: { every: 1m, maxBytes: 200MB } }'), BASE).ledger).toEqual({
      commitMs: 1000,
      checkpointMs: 60000,
      history: { everyMs: 60_000, maxBytes: 200_000_000 },
    });
    expect(parseConfig(minimal('{ history: {} }'), BASE).ledger.history).toEqual({ everyMs: 60_000, maxBytes: 200_000_000 });
    expect(parseConfig(minimal('{ history: { every: 30s, maxBytes: 64MiB } }'), BASE).ledger.history).toEqual({
      everyMs: 30_000,
      maxBytes: 64 * 1024 * 1024,
    });
    expect(parseConfig(minimal('{ history: { every: 3600000, maxBytes: 5000000 } }'), BASE).ledger.history).toEqual({
      everyMs: 3_600_000,
      maxBytes: 5_000_000,
    });
  });

  it('reports bad values by path', () => {
    expect(paths(issuesOf(minimal('{ commitMs: 10 }')))).toEqual(['ledger.commitMs']);
    expect(paths(issuesOf(minimal('{ history: { every: 1 week } }')))).toEqual(['ledger.history.every']);
    expect(paths(issuesOf(minimal('{ history: { every: 100ms } }')))).toEqual(['ledger.history.every']);
    expect(paths(issuesOf(minimal('{ history: { maxBytes: 10KB } }')))).toEqual(['ledger.history.maxBytes']);
    expect(paths(issuesOf(minimal('{ history: on }')))).toEqual(['ledger.history']);
    expect(paths(issuesOf(minimal('{ comitMs: 5000 }')))).toEqual(['ledger.comitMs']);
  });

  it('still accepts the retired gateway.readingsRetentionDays (ignored: raw readings are not kept)', () => {
    const cfg = parseConfig(
      onePoint('{ name: flow, kind: counter, register: "30001" }').replace(
        'gateway: { id: gw, timezone: UTC }',
        'gateway: { id: gw, timezone: UTC, readingsRetentionDays: 30 }',
      ),
      BASE,
    );
    expect(cfg.gateway).not.toHaveProperty('readingsRetentionDays');
  });
});

describe('Modicon registers', () => {
  it.each([
    ['40001', 'holding', 0],
    ['49999', 'holding', 9998],
    ['30010', 'input', 9],
    ['00001', 'coil', 0],
    ['10005', 'discrete', 4],
    ['400001', 'holding', 0],
    ['465536', 'holding', 65535],
    ['300100', 'input', 99],
  ])('%s -> %s %d', (reg, area, address) => {
    expect(parseModicon(reg)).toEqual({ ok: true, area, address });
  });

  it.each(['20001', '40000', '400000', '465537', '4001', '4000001', 'x0001'])('rejects %s', (reg) => {
    expect(parseModicon(reg).ok).toBe(false);
  });

  it('converts register to area + address at load, and reports bad ones by path', () => {
    const cfg = parseConfig(onePoint('{ name: sp, kind: setpoint, register: "400101", writable: true }'), BASE);
    expect(cfg.devices[0].points[0]).toMatchObject({ area: 'holding', address: 100, type: 'uint16' });
    const coil = parseConfig(onePoint('{ name: v, kind: switch, register: "00017", writable: true }'), BASE);
    expect(coil.devices[0].points[0]).toMatchObject({ area: 'coil', address: 16, type: 'bool' });
    expect(at(issuesOf(onePoint('{ name: sp, kind: gauge, register: "40000" }')), 'devices[0].points[0].register')[0]).toMatch(/1-based/);
    expect(paths(issuesOf(onePoint('{ name: sp, kind: gauge, register: "40001", area: holding }')))).toEqual([
      'devices[0].points[0].register',
    ]);
  });
});

describe('profiles', () => {
  it('ships generic, eastron-sdm630 and dsmr-5', () => {
    expect(listProfiles()).toEqual(['dsmr-5', 'eastron-sdm120', 'eastron-sdm630', 'generic', 'generic-water-meter', 'sunspec-meter']);
    expect(loadProfile('generic').points).toEqual([]);
  });

  it('eastron-sdm630 has its documented input registers as float32 ABCD', () => {
    const byName = Object.fromEntries(loadProfile('eastron-sdm630').points.map((p) => [p.name, p]));
    const expected: Record<string, [number, string]> = {
      voltage_l1: [0, 'gauge'],
      voltage_l2: [2, 'gauge'],
      voltage_l3: [4, 'gauge'],
      current_l1: [6, 'gauge'],
      current_l2: [8, 'gauge'],
      current_l3: [10, 'gauge'],
      power_w: [52, 'gauge'],
      import_kwh: [72, 'counter'],
      export_kwh: [74, 'counter'],
    };
    expect(Object.keys(byName).sort()).toEqual(Object.keys(expected).sort());
    for (const [name, [address, kind]] of Object.entries(expected)) {
      expect(byName[name]).toMatchObject({ area: 'input', address, kind, type: 'float32', wordOrder: 'ABCD' });
    }
  });

  it('dsmr-5 points carry OBIS codes', () => {
    const pts = loadProfile('dsmr-5').points;
    expect(pts.map((p) => [p.name, p.kind, p.obis, p.unit])).toEqual([
      ['import_t1', 'counter', '1-0:1.8.1', 'kWh'],
      ['import_t2', 'counter', '1-0:1.8.2', 'kWh'],
      ['export_t1', 'counter', '1-0:2.8.1', 'kWh'],
      ['export_t2', 'counter', '1-0:2.8.2', 'kWh'],
      ['power_import', 'gauge', '1-0:1.7.0', 'kW'],
      ['power_export', 'gauge', '1-0:2.7.0', 'kW'],
      ['gas', 'counter', '0-1:24.2.1', 'm3'],
    ]);
    for (const p of pts) expect(p.area === undefined && p.address === undefined).toBe(true);
  });

  it('merges device points over profile points by name (add and override)', () => {
    const cfg = parseConfig(
      withDevices(`  - id: meter-1
    link: plant
    unitId: 2
    profile: eastron-sdm630
    points:
      - { name: import_kwh, maxRate: "50", unit: kWh }
      - { name: power_w, register: "30001" }
      - { name: frequency, kind: gauge, area: input, address: 70, type: float32, unit: Hz }
`),
      BASE,
    );
    const pts = cfg.devices[0].points;
    expect(pts).toHaveLength(10);
    const byName = Object.fromEntries(pts.map((p) => [p.name, p]));
    expect(byName.import_kwh).toEqual(
      point({ name: 'import_kwh', kind: 'counter', area: 'input', address: 72, type: 'float32', unit: 'kWh', maxRate: '50' }),
    );
    expect(byName.power_w).toMatchObject({ area: 'input', address: 0, type: 'float32', unit: 'W' });
    expect(byName.frequency).toMatchObject({ area: 'input', address: 70, type: 'float32', unit: 'Hz' });
    expect(byName.export_kwh).toMatchObject({ area: 'input', address: 74 });
  });

  it('resolves a dsmr-5 device: no unitId/pollMs, points with obis', () => {
    const cfg = parseConfig(withDevices(`  - { id: home, link: p1, profile: dsmr-5 }\n`), BASE);
    const d = cfg.devices[0];
    expect(d).toMatchObject({ id: 'home', linkType: 'dsmr-p1', unitId: 0, pollMs: 0, account: 'home' });
    expect(d.points.map((p) => p.name)).toEqual([
      'import_t1',
      'import_t2',
      'export_t1',
      'export_t2',
      'power_import',
      'power_export',
      'gas',
    ]);
    expect(d.points[6]).toEqual({
      ...point({ name: 'gas', kind: 'counter', area: 'input', address: 0, type: 'float64', unit: 'm3' }),
      obis: '0-1:24.2.1',
    });
  });

  it('reads extra profiles from gateway.profilesDir', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'm2m-prof-'));
    try {
      fs.mkdirSync(path.join(dir, 'profiles'));
      fs.writeFileSync(
        path.join(dir, 'profiles', 'acme-pump.json'),
        JSON.stringify({
          name: 'acme-pump',
          description: 'test',
          link: 'modbus',
          points: [{ name: 'runtime', kind: 'counter', register: '40011', type: 'uint32', unit: 'h' }],
        }),
      );
      const cfg = parseConfig(
        withDevices('  - { id: pump, link: plant, unitId: 4, profile: acme-pump }\n').replace(
          'gateway: { id: gw, timezone: UTC }',
          'gateway: { id: gw, timezone: UTC, profilesDir: profiles }',
        ),
        dir,
      );
      expect(cfg.gateway.profilesDir).toBe(path.join(dir, 'profiles'));
      expect(cfg.devices[0].points).toEqual([
        point({ name: 'runtime', kind: 'counter', area: 'holding', address: 10, type: 'uint32', unit: 'h' }),
      ]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('bad configs are reported by path', () => {
  it.each<[string, string, string, RegExp]>([
    [
      'bad type',
      onePoint('{ name: a, kind: gauge, area: holding, address: 0, type: float }'),
      'devices[0].points[0].type',
      /^expected one of bool, int16, uint16, .*string\(N\)$/,
    ],
    [
      'string too long',
      onePoint('{ name: a, kind: gauge, area: holding, address: 0, type: string(251) }'),
      'devices[0].points[0].type',
      /1\.\.250/,
    ],
    [
      'string empty',
      onePoint('{ name: a, kind: gauge, area: holding, address: 0, type: string(0) }'),
      'devices[0].points[0].type',
      /1\.\.250/,
    ],
    [
      'scale digits',
      onePoint('{ name: a, kind: gauge, area: holding, address: 0, scale: "0.1234567" }'),
      'devices[0].points[0].scale',
      /at most 6 fraction digits/,
    ],
    ['scale text', onePoint('{ name: a, kind: gauge, area: holding, address: 0, scale: "abc" }'), 'devices[0].points[0].scale', /decimal/],
    [
      'offset digits',
      onePoint('{ name: a, kind: gauge, area: holding, address: 0, offset: "1e3" }'),
      'devices[0].points[0].offset',
      /decimal/,
    ],
    [
      'counter bool',
      onePoint('{ name: a, kind: counter, area: holding, address: 0, type: bool }'),
      'devices[0].points[0].type',
      /counter points must be numeric/,
    ],
    [
      'counter string',
      onePoint('{ name: a, kind: counter, area: holding, address: 0, type: string(4) }'),
      'devices[0].points[0].type',
      /counter points must be numeric/,
    ],
    [
      'coil uint16',
      onePoint('{ name: a, kind: gauge, area: coil, address: 0, type: uint16 }'),
      'devices[0].points[0].type',
      /coil and discrete points are bool/,
    ],
    [
      'discrete counter',
      onePoint('{ name: a, kind: counter, area: discrete, address: 0 }'),
      'devices[0].points[0].kind',
      /counter points must be numeric/,
    ],
    [
      'writable input',
      onePoint('{ name: a, kind: setpoint, area: input, address: 0, writable: true }'),
      'devices[0].points[0].writable',
      /only holding and coil/,
    ],
    [
      'writable discrete',
      onePoint('{ name: a, kind: switch, area: discrete, address: 0, writable: true }'),
      'devices[0].points[0].writable',
      /only holding and coil/,
    ],
    ['address range', onePoint('{ name: a, kind: gauge, area: holding, address: 65536 }'), 'devices[0].points[0].address', /<= 65535/],
    ['address negative', onePoint('{ name: a, kind: gauge, area: holding, address: -1 }'), 'devices[0].points[0].address', />= 0/],
    [
      'address + width',
      onePoint('{ name: a, kind: gauge, area: holding, address: 65534, type: float64 }'),
      'devices[0].points[0].address',
      /needs 4 registers/,
    ],
    ['missing kind', onePoint('{ name: a, area: holding, address: 0 }'), 'devices[0].points[0].kind', /required/],
    ['missing area', onePoint('{ name: a, kind: gauge, address: 0 }'), 'devices[0].points[0].area', /required/],
    [
      'bad area',
      onePoint('{ name: a, kind: gauge, area: holdings, address: 0 }'),
      'devices[0].points[0].area',
      /^expected one of holding, input, coil, discrete/,
    ],
    [
      'bad kind',
      onePoint('{ name: a, kind: meter, area: holding, address: 0 }'),
      'devices[0].points[0].kind',
      /^expected one of counter, gauge, setpoint, switch/,
    ],
    [
      'bad word order',
      onePoint('{ name: a, kind: gauge, area: holding, address: 0, wordOrder: DCAB }'),
      'devices[0].points[0].wordOrder',
      /expected one of ABCD, CDAB, BADC, DCBA/,
    ],
    [
      'maxRate on gauge',
      onePoint('{ name: a, kind: gauge, area: holding, address: 0, maxRate: "5" }'),
      'devices[0].points[0].maxRate',
      /only counter/,
    ],
    [
      'zero scale',
      onePoint('{ name: a, kind: gauge, area: holding, address: 0, scale: "0" }'),
      'devices[0].points[0].scale',
      /must not be 0/,
    ],
    [
      'typo key',
      onePoint('{ name: a, kind: gauge, area: holding, adress: 0 }'),
      'devices[0].points[0].adress',
      /unknown key \(did you mean "address"\?\)/,
    ],
    [
      'obis on modbus',
      onePoint('{ name: a, kind: gauge, area: holding, address: 0, obis: "1-0:1.8.1" }'),
      'devices[0].points[0].obis',
      /only dsmr-p1/,
    ],
    [
      'unknown link',
      withDevices('  - { id: d1, link: plnt, unitId: 1, points: [{ name: a, kind: gauge, area: holding, address: 0 }] }\n'),
      'devices[0].link',
      /unknown link "plnt" \(links: plant, p1\)/,
    ],
    [
      'unitId range',
      withDevices('  - { id: d1, link: plant, unitId: 248, points: [{ name: a, kind: gauge, area: holding, address: 0 }] }\n'),
      'devices[0].unitId',
      /<= 247/,
    ],
    [
      'unitId broadcast',
      withDevices('  - { id: d1, link: plant, unitId: 0, points: [{ name: a, kind: gauge, area: holding, address: 0 }] }\n'),
      'devices[0].unitId',
      /broadcast/,
    ],
    [
      'unitId missing',
      withDevices('  - { id: d1, link: plant, points: [{ name: a, kind: gauge, area: holding, address: 0 }] }\n'),
      'devices[0].unitId',
      /required/,
    ],
    [
      'pollMs type',
      withDevices('  - { id: d1, link: plant, unitId: 1, pollMs: fast, points: [{ name: a, kind: gauge, area: holding, address: 0 }] }\n'),
      'devices[0].pollMs',
      /expected an integer, got "fast"/,
    ],
    [
      'unknown profile',
      withDevices('  - { id: d1, link: plant, unitId: 1, profile: acme-9000 }\n'),
      'devices[0].profile',
      /unknown profile "acme-9000" \(available: dsmr-5, eastron-sdm120, eastron-sdm630, generic, generic-water-meter, sunspec-meter\)/,
    ],
    ['no points', withDevices('  - { id: d1, link: plant, unitId: 1 }\n'), 'devices[0].points', /no points/],
    [
      'dsmr device with unitId',
      withDevices('  - { id: home, link: p1, unitId: 1, profile: dsmr-5 }\n'),
      'devices[0].unitId',
      /not used by dsmr-p1 devices/,
    ],
    [
      'dsmr device with pollMs',
      withDevices('  - { id: home, link: p1, profile: dsmr-5, pollMs: 1000 }\n'),
      'devices[0].pollMs',
      /not used by dsmr-p1 devices/,
    ],
    [
      'modbus points on dsmr link',
      withDevices('  - { id: m, link: p1, points: [{ name: a, kind: gauge, area: input, address: 0 }] }\n'),
      'devices[0].link',
      /dsmr-p1 link, but this is a Modbus device/,
    ],
    [
      'dsmr device on modbus link',
      withDevices('  - { id: home, link: plant, profile: dsmr-5 }\n'),
      'devices[0].link',
      /modbus-tcp link; dsmr-p1 devices \(profile dsmr-5\) need a dsmr-p1 link/,
    ],
    [
      'modbus device on dsmr link',
      withDevices('  - { id: m, link: p1, unitId: 2, profile: eastron-sdm630 }\n'),
      'devices[0].link',
      /Modbus devices need a modbus-tcp, modbus-rtu or rtu-over-tcp link/,
    ],
    [
      'dsmr point without obis',
      withDevices('  - { id: home, link: p1, points: [{ name: x, kind: gauge }] }\n'),
      'devices[0].points[0].obis',
      /required for dsmr-p1 points/,
    ],
    [
      'bad obis',
      withDevices('  - { id: home, link: p1, profile: dsmr-5, points: [{ name: v1, kind: gauge, obis: "1-0:32.7" }] }\n'),
      'devices[0].points[0].obis',
      /OBIS code/,
    ],
    [
      'two meters on one P1',
      withDevices('  - { id: a, link: p1, profile: dsmr-5 }\n  - { id: b, link: p1, profile: dsmr-5 }\n'),
      'devices[1].link',
      /one meter/,
    ],
    [
      'bad device id',
      withDevices('  - { id: "pump 1", link: plant, unitId: 1, points: [{ name: a, kind: gauge, area: holding, address: 0 }] }\n'),
      'devices[0].id',
      /letters, digits/,
    ],
    [
      'bad link type',
      withDevices(
        '  - { id: d1, link: plant, unitId: 1, points: [{ name: a, kind: gauge, area: holding, address: 0 }] }\n',
        '  - { id: x, type: modbus-udp, host: h }',
      ),
      'links[2].type',
      /expected one of modbus-tcp, modbus-rtu, rtu-over-tcp, dsmr-p1/,
    ],
    [
      'bad parity',
      withDevices(
        '  - { id: d1, link: plant, unitId: 1, points: [{ name: a, kind: gauge, area: holding, address: 0 }] }\n',
        '  - { id: x, type: modbus-rtu, path: /dev/ttyS0, parity: mark }',
      ),
      'links[2].parity',
      /expected one of none, even, odd/,
    ],
    [
      'bad data bits',
      withDevices(
        '  - { id: d1, link: plant, unitId: 1, points: [{ name: a, kind: gauge, area: holding, address: 0 }] }\n',
        '  - { id: x, type: modbus-rtu, path: /dev/ttyS0, dataBits: 6 }',
      ),
      'links[2].dataBits',
      /expected one of 7, 8/,
    ],
    [
      'missing host',
      withDevices(
        '  - { id: d1, link: plant, unitId: 1, points: [{ name: a, kind: gauge, area: holding, address: 0 }] }\n',
        '  - { id: x, type: rtu-over-tcp, port: 4001 }',
      ),
      'links[2].host',
      /^required$/,
    ],
    [
      'same serial port',
      withDevices(
        '  - { id: d1, link: plant, unitId: 1, points: [{ name: a, kind: gauge, area: holding, address: 0 }] }\n',
        '  - { id: x, type: modbus-rtu, path: /dev/ttyUSB1 }',
      ),
      'links[2].path',
      /already used by links\[1\]/,
    ],
  ])('%s', (_name, text, p, message) => {
    const issues = issuesOf(text);
    expect(paths(issues)).toEqual([p]);
    expect(issues[0].message).toMatch(message);
  });

  it('rejects a bad timezone, currency, listen and mqtt url', () => {
    const base = withDevices('  - { id: d1, link: plant, unitId: 1, points: [{ name: a, kind: gauge, area: holding, address: 0 }] }\n');
    const text = base.replace(
      'gateway: { id: gw, timezone: UTC }',
      'gateway: { id: gw, timezone: Mars/Olympus, currency: nok }\nhttp: { listen: "localhost" }\nmqtt: { url: "broker:1883" }',
    );
    const issues = issuesOf(text);
    expect(paths(issues)).toEqual(['gateway.timezone', 'gateway.currency', 'http.listen', 'mqtt.url']);
    expect(at(issues, 'gateway.timezone')[0]).toMatch(/IANA time zone/);
    expect(at(issues, 'gateway.currency')[0]).toMatch(/3-12 characters/);
    expect(issuesOf(base.replace('{ id: gw, timezone: UTC }', '{ id: gw, timezone: UTC, currency: "EUROTOKENS1234" }'))[0].path).toBe(
      'gateway.currency',
    );
  });

  it('rejects duplicate link ids, device ids and point names', () => {
    const issues = issuesOf(`version: 1
links:
  - { id: plant, type: modbus-tcp, host: 127.0.0.1 }
  - { id: plant, type: modbus-tcp, host: 127.0.0.2 }
devices:
  - { id: d1, link: plant, unitId: 1, points: [{ name: a, kind: gauge, area: holding, address: 0 }, { name: a, kind: gauge, area: holding, address: 1 }] }
  - { id: d1, link: plant, unitId: 2, points: [{ name: a, kind: gauge, area: holding, address: 0 }] }
`);
    expect(paths(issues)).toEqual(['links[1].id', 'devices[0].points[1].name', 'devices[1].id']);
    expect(at(issues, 'links[1].id')[0]).toBe('duplicate link id "plant" (also links[0])');
    expect(at(issues, 'devices[1].id')[0]).toBe('duplicate device id "d1" (also devices[0])');
    expect(at(issues, 'devices[0].points[1].name')[0]).toBe('duplicate point name "a" (also points[0])');
  });

  it('lists several errors at once, each with its path and line', () => {
    const text = `version: 1
gateway:
  timezone: Europe/Olso
links:
  - { id: plant, type: modbus-tcp, host: 127.0.0.1, port: 70000 }
devices:
  - id: purifier-1
    link: plant
    unitId: 1
    points:
      - { name: water, kind: counter, area: holding, address: 0, type: bool }
      - { name: hardness, kind: gauge, area: input, address: 10, type: int16, scale: "0.0000001" }
      - { name: cartridge, kind: gauge, area: holding, address: 20, type: uint17 }
      - { name: valve, kind: switch, area: coil, address: 0, writable: yes }
  - { id: meter-1, link: nowhere, unitId: 2, profile: eastron-sdm630 }
`;
    const issues = issuesOf(text);
    expect(paths(issues)).toEqual([
      'gateway.timezone',
      'links[0].port',
      'devices[0].points[0].type',
      'devices[0].points[1].scale',
      'devices[0].points[2].type',
      'devices[0].points[3].writable',
      'devices[1].link',
    ]);
    expect(issues.map((i) => i.line)).toEqual([3, 5, 11, 12, 13, 14, 15]);
    expect(at(issues, 'devices[0].points[3].writable')[0]).toBe('expected true or false, got "yes"');
    expect(issuesOf(onePoint('{ name: a, kind: gauge, area: holding, address: 1.5 }'))[0].message).toBe('expected an integer, got 1.5');
    const text2 = formatConfigIssues(issues).split('\n');
    expect(text2).toHaveLength(7);
    expect(text2[4]).toBe(
      'devices[0].points[2].type: expected one of bool, int16, uint16, int32, uint32, int64, uint64, float32, float64, string(N) (line 13, column 75)',
    );
    try {
      parseConfig(text, BASE, '/etc/m2m/m2m-gateway.yaml');
      throw new Error('accepted');
    } catch (e) {
      expect((e as Error).message).toContain('invalid configuration /etc/m2m/m2m-gateway.yaml (7 problems)');
      expect((e as Error).message).toContain('devices[1].link: unknown link "nowhere" (links: plant)');
    }
  });

  it('reports YAML syntax errors with line and column', () => {
    const issues = issuesOf('version: 1\nlinks: [\n  { id: a\ndevices: []\n');
    expect(issues.length).toBeGreaterThan(0);
    expect(issues[0].path).toBe('');
    expect(issues[0].line).toBeGreaterThanOrEqual(2);
    expect(issues[0].message).toMatch(/^YAML syntax error: /);
    expect(formatConfigIssues(issues).split('\n')[0]).toMatch(/^YAML syntax error: .* \(line \d+, column \d+\)$/);
    const dup = issuesOf('version: 1\nversion: 1\n');
    expect(dup[0]).toMatchObject({ line: 2, column: 1 });
  });

  it('rejects unknown top-level keys, missing and future versions', () => {
    expect(issuesOf('version: 1\ndevice: []\n')).toEqual([
      { path: 'device', message: 'unknown key (did you mean "devices"?)', line: 2, column: 9 },
    ]);
    expect(paths(issuesOf('gateway: {}\n'))).toEqual(['version']);
    expect(issuesOf('version: 2\n')[0].message).toMatch(/newer than this gateway understands/);
    expect(issuesOf('')[0].message).toMatch(/expected a mapping/);
  });
});

describe('errors', () => {
  it('declares unique codes and carries them', () => {
    expect(new Set(CONFIG_ERROR_CODES).size).toBe(CONFIG_ERROR_CODES.length);
    expect(new ConfigError([{ path: 'a', message: 'b' }]).code).toBe('GW_ERR_CONFIG');
    expect(new ProfileError('x').code).toBe('GW_ERR_PROFILE');
    expect(() => loadProfile('nope')).toThrow(ProfileError);
  });

  it('formats issues one per line', () => {
    expect(
      formatConfigIssues([
        { path: 'a.b', message: 'bad' },
        { path: '', message: 'whole file', line: 3 },
        { path: 'c', message: 'x', line: 4, column: 2 },
      ]),
    ).toBe('a.b: bad\nwhole file (line 3)\nc: x (line 4, column 2)');
  });
});

describe('migrations', () => {
  it('version 1 is current and applies nothing', () => {
    expect(CURRENT_VERSION).toBe(1);
    expect(migrateConfig({ version: 1, a: 1 })).toEqual({ config: { version: 1, a: 1 }, from: 1, applied: [] });
  });

  it('applies one migration per version bump, in order', () => {
    const steps = {
      1: (c: Record<string, unknown>) => ({ ...c, b: c.a }),
      2: (c: Record<string, unknown>) => ({ ...c, c: 'v3' }),
    };
    expect(migrateConfig({ version: 1, a: 1 }, steps, 3)).toEqual({
      config: { version: 3, a: 1, b: 1, c: 'v3' },
      from: 1,
      applied: [1, 2],
    });
    expect(() => migrateConfig({ version: 1 }, {}, 2)).toThrow(/no migration from version 1 to 2/);
  });
});

describe('files, example and JSON schema', () => {
  it('loadConfig resolves dataDir against the config file folder', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'm2m-cfg-'));
    try {
      const file = path.join(dir, 'm2m-gateway.yaml');
      fs.writeFileSync(file, DESIGN_EXAMPLE.replace('./m2m-data', 'data/../state'));
      const cfg = loadConfig(path.relative(process.cwd(), file));
      expect(cfg.gateway.dataDir).toBe(path.join(dir, 'state'));
      expect(cfg.configFile).toBe(file);
      expect(() => loadConfig(path.join(dir, 'missing.yaml'))).toThrow(/cannot read .*missing\.yaml: no such file/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the init example loads cleanly', () => {
    const cfg = parseConfig(EXAMPLE_CONFIG, BASE);
    expect(cfg.devices.map((d) => d.id)).toEqual(['purifier-1', 'meter-1']);
    const purifier = cfg.devices[0].points;
    expect(purifier.find((p) => p.name === 'cycle')).toMatchObject({ area: 'holding', address: 30, writable: true });
    expect(cfg.devices[1].points.find((p) => p.name === 'import_kwh')).toMatchObject({ maxRate: '100', address: 72 });
    expect(EXAMPLE_CONFIG).toMatch(/^# /);
  });

  it('publishes a JSON Schema for editors', () => {
    const schema = configJsonSchema() as {
      $schema: string;
      $id: string;
      required: string[];
      additionalProperties: boolean;
      properties: Record<string, { items?: { properties?: Record<string, unknown>; anyOf?: unknown[]; oneOf?: unknown[] } }>;
    };
    expect(schema.$schema).toMatch(/json-schema\.org/);
    expect(schema.$id).toMatch(/m2m-gateway/);
    expect(schema.required).toEqual(['version']);
    expect(schema.additionalProperties).toBe(false);
    expect(Object.keys(schema.properties)).toEqual([
      'version',
      'gateway',
      'http',
      'ledger',
      'policy',
      'mqtt',
      'settlement',
      'links',
      'devices',
    ]);
    const point = (schema.properties.devices.items!.properties!.points as { items: { properties: Record<string, unknown> } }).items;
    expect(Object.keys(point.properties)).toEqual(
      expect.arrayContaining(['name', 'kind', 'area', 'address', 'register', 'type', 'scale', 'obis']),
    );
    const links = schema.properties.links.items!;
    expect((links.oneOf ?? links.anyOf ?? []).length).toBe(4);
    expect(JSON.parse(JSON.stringify(schema))).toEqual(schema);
  });
});
