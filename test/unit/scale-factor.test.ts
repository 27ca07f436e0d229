/**
 * SunSpec scale factors (`scaleFactorOffset`): decoding, counter handling,
 * register span, config validation, and how the sunspec-meter profile plans.
 */
import { ConfigError, type ConfigIssue } from '../../gateway/config/errors';
import { parseConfig } from '../../gateway/config/load';
import { counterWidth, decodePoint, microPerCount } from '../../gateway/devices/decode';
import { DecodeError } from '../../gateway/devices/errors';
import { pointWidth, pointWith, valueWidth, type ResolvedPoint } from '../../gateway/devices/point';
import { planReads } from '../../gateway/poll/planner';

const sfPoint = (over: Partial<ResolvedPoint>): ResolvedPoint =>
  pointWith('p', { address: 100, type: 'int16', scaleFactorOffset: 4, ...over });

const u16 = (n: number): number => (n < 0 ? n + 0x10000 : n);

/** Words of an int16 value at +0 and its scale factor at +sfAt (filler 0 between). */
function span16(value: number, sf: number, sfAt = 4): Uint16Array {
  const w = new Uint16Array(sfAt + 1);
  w[0] = u16(value);
  w[sfAt] = u16(sf);
  return w;
}

/** Words of a uint32 (high word first) at +0..1 and a scale factor at +sfAt. */
function span32(value: number, sf: number, sfAt: number): Uint16Array {
  const w = new Uint16Array(sfAt + 1);
  w[0] = Math.floor(value / 0x10000);
  w[1] = value % 0x10000;
  w[sfAt] = u16(sf);
  return w;
}

describe('decodePoint with a scale factor', () => {
  test.each([
    [2301, -1, '230.1'],
    [2300, -1, '230.0'],
    [2301, 0, '2301'],
    [2301, 2, '230100'],
    [-1500, 0, '-1500'],
    [-15, -2, '-0.15'],
    [7, -10, '0.0000000007'],
    [32767, 10, '327670000000000'],
  ])('int16 %d with sf %d -> %s', (raw, sf, value) => {
    const d = decodePoint(sfPoint({}), span16(raw, sf));
    expect(d.raw).toBe(BigInt(raw));
    expect(d.value).toBe(value);
    expect(d.counterRaw).toBeUndefined();
  });

  test('scale and offset apply on top of the power of ten', () => {
    expect(decodePoint(sfPoint({ scale: '0.5', offset: '1.25' }), span16(2301, -1)).value).toBe('116.30');
    expect(decodePoint(sfPoint({ scale: '2', offset: '-0.001' }), span16(10, 1)).value).toBe('199.999');
  });

  test('word order applies to the value, not to the scale factor', () => {
    const w = span32(123456, -1, 8);
    [w[0], w[1]] = [w[1], w[0]];
    expect(decodePoint(sfPoint({ type: 'uint32', wordOrder: 'CDAB', scaleFactorOffset: 8 }), w).value).toBe('12345.6');
  });

  test('a counter hands the core engineering micro-units (width 0), rounded half-even beyond 6 digits', () => {
    const meter = sfPoint({ kind: 'counter', type: 'uint32', scale: '0.001', scaleFactorOffset: 8, unit: 'kWh' });
    expect(counterWidth(meter)).toBe(0);
    expect(microPerCount(meter)).toBe(1n);
    const at = (raw: number, sf: number) => decodePoint(meter, span32(raw, sf, 8));
    expect(at(123456, 0)).toEqual({ raw: 123456n, value: '123.456', counterRaw: 123_456_000n });
    expect(at(123456, 1)).toEqual({ raw: 123456n, value: '1234.560', counterRaw: 1_234_560_000n });
    expect(at(123456, -2)).toEqual({ raw: 123456n, value: '1.23456', counterRaw: 1_234_560n });
    // 0.00123456 kWh = 1234.56 micro-kWh -> 1235
    expect(at(123456, -5)).toEqual({ raw: 123456n, value: '0.00123456', counterRaw: 1235n });
    // 0.0000025 kWh = 2.5 micro -> 2 (half to even); 0.0000035 -> 4
    expect(at(25, -4).counterRaw).toBe(2n);
    expect(at(35, -4).counterRaw).toBe(4n);
    // acc32 beyond 2^31 stays unsigned
    expect(at(0xfffffffe, 0).value).toBe('4294967.294');
  });

  test('points without a scale factor keep their counter width', () => {
    const { scaleFactorOffset: _drop, ...plain } = sfPoint({ kind: 'counter', type: 'uint32' });
    expect(counterWidth(plain)).toBe(32);
  });

  test.each([
    ['a scale factor of 0x8000 (not implemented)', span16(100, -0x8000), /scale factor not implemented/],
    ['a scale factor beyond 10', span16(100, 11), /scale factor 11 outside -10\.\.10/],
    ['a scale factor below -10', span16(100, -11), /scale factor -11 outside/],
    ['an int16 value of 0x8000', span16(-0x8000, 0), /not implemented \(SunSpec int16 0x8000\)/],
    ['too few words (scale factor not read)', new Uint16Array([1, 2, 3, 4]), /needs 5 registers, got 4/],
  ])('%s fails the point', (_what, words, message) => {
    expect(() => decodePoint(sfPoint({}), words)).toThrow(DecodeError);
    expect(() => decodePoint(sfPoint({}), words)).toThrow(message);
  });

  test('uint16 0xFFFF and int32 0x80000000 are not-implemented values too', () => {
    expect(() => decodePoint(sfPoint({ type: 'uint16' }), span16(-1, 0))).toThrow(/SunSpec uint16 0xFFFF/);
    expect(() => decodePoint(sfPoint({ type: 'int32', scaleFactorOffset: 2 }), new Uint16Array([0x8000, 0, 0]))).toThrow(
      /SunSpec int32 0x80000000/,
    );
  });
});

describe('register span', () => {
  test('pointWidth covers value through scale factor; valueWidth is the value alone', () => {
    expect(pointWidth(sfPoint({}))).toBe(5);
    expect(valueWidth(sfPoint({}))).toBe(1);
    expect(pointWidth(sfPoint({ type: 'uint32', scaleFactorOffset: 16 }))).toBe(17);
    const { scaleFactorOffset: _drop, ...plain } = sfPoint({ type: 'uint32' });
    expect(pointWidth(plain)).toBe(2);
  });

  test('the sunspec-meter profile plans two requests, each reading values with their scale factors', () => {
    const cfg = parseConfig(
      `version: 1
gateway: { id: gw, timezone: UTC }
links: [{ id: plant, type: modbus-tcp, host: 127.0.0.1 }]
devices: [{ id: m, link: plant, unitId: 1, profile: sunspec-meter }]
`,
      '/srv',
    );
    const reqs = planReads(cfg.devices[0].points);
    expect(reqs.map((r) => [r.area, r.address, r.count])).toEqual([
      ['holding', 40073, 20], // currents .. W_SF (40092)
      ['holding', 40108, 17], // TotWhExp .. TotWh_SF (40124)
    ]);
  });
});

describe('config: scaleFactorOffset', () => {
  const withPoint = (pt: string, link = 'plant') => `version: 1
gateway: { id: gw, timezone: UTC }
links:
  - { id: plant, type: modbus-tcp, host: 127.0.0.1 }
  - { id: p1, type: dsmr-p1, path: /dev/ttyUSB1 }
devices:
  - id: d
    link: ${link}
    ${link === 'plant' ? 'unitId: 1' : ''}
    points:
      - ${pt}
`;
  function issuesOf(text: string): ConfigIssue[] {
    try {
      parseConfig(text, '/srv');
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      return (e as ConfigError).issues;
    }
    throw new Error('config was accepted');
  }

  test('a point with a scale factor resolves with it; others have none', () => {
    const cfg = parseConfig(
      withPoint(
        '{ name: w, kind: gauge, register: "440089", type: int16, scaleFactorOffset: 4, unit: W }\n      - { name: x, kind: gauge, area: holding, address: 1 }',
      ),
      '/srv',
    );
    const [w, x] = cfg.devices[0].points;
    expect(w).toMatchObject({ area: 'holding', address: 40088, type: 'int16', scaleFactorOffset: 4 });
    expect('scaleFactorOffset' in x).toBe(false);
  });

  test('a device may override a profile point and keep its scale factor', () => {
    const cfg = parseConfig(
      `version: 1
gateway: { id: gw, timezone: UTC }
links: [{ id: plant, type: modbus-tcp, host: 127.0.0.1 }]
devices:
  - id: m
    link: plant
    unitId: 1
    profile: sunspec-meter
    points: [{ name: power_w, address: 40087 }]
`,
      '/srv',
    );
    expect(cfg.devices[0].points.find((p) => p.name === 'power_w')).toMatchObject({ address: 40087, scaleFactorOffset: 4 });
  });

  test.each([
    [
      'float type',
      '{ name: a, kind: gauge, area: holding, address: 0, type: float32, scaleFactorOffset: 2 }',
      'devices[0].points[0].type',
      /integer types, not float32/,
    ],
    [
      'coil',
      '{ name: a, kind: switch, area: coil, address: 0, scaleFactorOffset: 2 }',
      'devices[0].points[0].scaleFactorOffset',
      /only holding and input registers/,
    ],
    [
      'inside the value',
      '{ name: a, kind: gauge, area: holding, address: 0, type: uint32, scaleFactorOffset: 1 }',
      'devices[0].points[0].scaleFactorOffset',
      /inside the uint32 value/,
    ],
    [
      'writable',
      '{ name: a, kind: setpoint, area: holding, address: 0, type: int16, writable: true, scaleFactorOffset: 2 }',
      'devices[0].points[0].writable',
      /cannot be written/,
    ],
    [
      'beyond one request',
      '{ name: a, kind: gauge, area: holding, address: 0, type: int16, scaleFactorOffset: 125 }',
      'devices[0].points[0].scaleFactorOffset',
      /124/,
    ],
    [
      'past the last address',
      '{ name: a, kind: gauge, area: holding, address: 65530, type: int16, scaleFactorOffset: 6 }',
      'devices[0].points[0].address',
      /needs 7 registers/,
    ],
  ])('rejects a scale factor on a %s point', (_what, pt, at, message) => {
    const issues = issuesOf(withPoint(pt));
    expect(issues.find((i) => i.path === at)?.message).toMatch(message);
  });

  test('dsmr-p1 points have none', () => {
    const issues = issuesOf(withPoint('{ name: a, kind: gauge, obis: "1-0:1.7.0", scaleFactorOffset: 2 }', 'p1'));
    expect(issues.find((i) => i.path === 'devices[0].points[0].scaleFactorOffset')?.message).toMatch(/dsmr-p1 points have no scale factor/);
  });
});
