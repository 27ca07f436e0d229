import { parseQuery, parseTime } from '../../gateway/api/params';
import { parseWriteBody, ROUTES, routeMatcher } from '../../gateway/api/routes';

describe('parseTime', () => {
  const ok: Array<[string, number]> = [
    ['0', 0],
    ['1795651200000', 1795651200000],
    ['2026-11-25', Date.UTC(2026, 10, 25)],
    ['2028-02-29', Date.UTC(2028, 1, 29)],
    ['2026-11-25T12:00Z', Date.UTC(2026, 10, 25, 12)],
    ['2026-11-25T12:00:00Z', Date.UTC(2026, 10, 25, 12)],
    ['2026-11-25T12:00:00.123456Z', Date.UTC(2026, 10, 25, 12, 0, 0, 123)],
    ['2026-11-25T13:30:00+01:30', Date.UTC(2026, 10, 25, 12)],
    ['2026-11-25T07:00:00-05:00', Date.UTC(2026, 10, 25, 12)],
    ['2026-11-25T13:00:00 01:00', Date.UTC(2026, 10, 25, 12)], // '+' decoded to space
    ['2026-11-25T13:00:00+0100', Date.UTC(2026, 10, 25, 12)],
  ];
  for (const [raw, ms] of ok) {
    it(`${raw} -> ${ms}`, () => expect(parseTime('from', raw)).toBe(ms));
  }
  const bad = [
    '',
    'now',
    '2026-02-29',
    '2026-04-31',
    '2026-00-10',
    '2026-11-25T12:00:00',
    '2026-11-25T24:00:00Z',
    '2026-11-25T12:60:00Z',
    '2026-11-25T12:00:00+25:00',
    '-1',
    '1.5',
    '1e12',
    '12345678901234567',
    '2026-1-5',
  ];
  for (const raw of bad) {
    it(`refuses ${JSON.stringify(raw)} naming the field`, () => {
      expect(() => parseTime('to', raw)).toThrow(expect.objectContaining({ code: 'GW_ERR_BAD_REQUEST', field: 'to' }));
    });
  }
});

describe('parseQuery', () => {
  it('returns typed values and refuses unknown or repeated parameters', () => {
    const spec = { device: 'name', since: 'time', limit: 'limit' } as const;
    expect(parseQuery(new URLSearchParams('device=a&since=5&limit=10'), spec)).toEqual({ device: 'a', since: 5, limit: 10 });
    expect(() => parseQuery(new URLSearchParams('limit=1&limit=2'), spec)).toThrow(/more than once/);
    expect(() => parseQuery(new URLSearchParams('foo=1'), spec)).toThrow(/allowed: device, since, limit/);
    expect(() => parseQuery(new URLSearchParams('device=a%00b'), spec)).toThrow(/control/);
    expect(() => parseQuery(new URLSearchParams(`device=${'x'.repeat(129)}`), spec)).toThrow(/longer/);
  });
});

describe('parseWriteBody', () => {
  it('keeps booleans and strings, turns exact numbers into decimal strings', () => {
    expect(parseWriteBody({ value: true })).toBe(true);
    expect(parseWriteBody({ value: '21.5' })).toBe('21.5');
    expect(parseWriteBody({ value: 21.5 })).toBe('21.5');
    expect(parseWriteBody({ value: -3 })).toBe('-3');
    expect(() => parseWriteBody({ value: 1e21 })).toThrow(/decimal string/);
    expect(() => parseWriteBody({ value: 1e-7 })).toThrow(/decimal string/);
    expect(() => parseWriteBody({ value: {} })).toThrow(/expected a boolean/);
  });
});

describe('routeMatcher', () => {
  const match = routeMatcher(ROUTES);
  it('matches params, serves HEAD from GET, tolerates one trailing slash', () => {
    const m = match('POST', '/api/devices/purifier-1/points/cycle');
    expect(m).toEqual({
      kind: 'route',
      route: expect.objectContaining({ path: '/api/devices/:id/points/:point' }),
      params: { id: 'purifier-1', point: 'cycle' },
    });
    expect(match('HEAD', '/api/health').kind).toBe('route');
    expect(match('GET', '/api/devices/').kind).toBe('route');
    expect(match('PUT', '/api/devices')).toEqual({ kind: 'method', allow: ['GET', 'HEAD'] });
    expect(match('GET', '/api/devices/a/points/b/c')).toEqual({ kind: 'none' });
    expect(match('GET', '//api/health')).toEqual({ kind: 'none' });
  });
  it('route table entries are unique', () => {
    const keys = ROUTES.map((r) => `${r.method} ${r.path}`);
    expect(new Set(keys).size).toBe(keys.length);
  });
});
