import type { PriceSegment } from '../../gateway/core/types';
import { compileTou, parseBand, parseClock, parseDays, wallToUtc, type TouBand } from '../../gateway/policy/tou';

const OSLO = 'Europe/Oslo';
const Z = (iso: string) => Date.parse(iso);
const wall = (iso: string) => Date.parse(`${iso}Z`); // a local wall time written as UTC ms

function band(days: string, from: string, to: string, price = '1'): TouBand {
  const r = parseBand({ days, from, to, price }, 0);
  if (!r.band) throw new Error(r.problems.join('; '));
  return r.band;
}

const iso = (segs: PriceSegment[]) => segs.map((s) => [new Date(s.fromMs).toISOString(), new Date(s.toMs).toISOString()]);

function segments(bands: TouBand[], from: string, to: string, tz = OSLO): PriceSegment[] {
  const r = compileTou(bands, tz, Z(from), Z(to));
  expect(r.overlaps).toEqual([]);
  return r.segments;
}

describe('parsing bands', () => {
  it('parses day lists', () => {
    expect(parseDays('mon-fri')).toBe(0b0111110);
    expect(parseDays('sat,sun')).toBe(0b1000001);
    expect(parseDays('fri-mon')).toBe(0b1100011);
    expect(parseDays('Mon')).toBe(0b0000010);
    expect(parseDays('*')).toBe(0b1111111);
    expect(parseDays('tuesday, thu')).toBe(0b0010100);
    expect(parseDays('mon-xyz')).toMatch(/not a day list/);
    expect(parseDays('mon-tue-wed')).toMatch(/not a day list/);
  });

  it('parses clock times, 24:00 only as an end', () => {
    expect(parseClock('07:00', false)).toBe(420);
    expect(parseClock('7:05', false)).toBe(425);
    expect(parseClock('23:59', false)).toBe(1439);
    expect(parseClock('24:00', false)).toBeUndefined();
    expect(parseClock('24:00', true)).toBe(1440);
    expect(parseClock('24:01', true)).toBeUndefined();
    expect(parseClock('12:60', false)).toBeUndefined();
    expect(parseClock(700, false)).toBeUndefined();
  });

  it('reports every problem of a band', () => {
    const r = parseBand({ days: 'weekdays', from: '25:00', to: 'late', price: '0.0000000001', colour: 'red' }, 2);
    expect(r.band).toBeUndefined();
    expect(r.problems).toEqual([
      'tou[2].days: "weekdays" is not a day list: use names mon..sun, ranges like mon-fri, commas (sat,sun) or "*"',
      'tou[2].from: "25:00" is not a time HH:MM (00:00..23:59)',
      'tou[2].to: "late" is not a time HH:MM (00:00..24:00)',
      'tou[2].price: "0.0000000001" is not a non-negative decimal with at most 9 fraction digits',
      'tou[2].colour: unknown property',
    ]);
    expect(parseBand({ from: '07:00', to: '22:00', price: '0.015' }, 0).band).toMatchObject({
      dayMask: 0b1111111,
      fromMin: 420,
      toMin: 1320,
      priceNano: 15_000_000n,
    });
  });
});

describe('local wall time -> UTC in Europe/Oslo', () => {
  it('maps ordinary times with the CET and CEST offsets', () => {
    expect(wallToUtc(OSLO, wall('2026-01-15T07:00:00'))).toBe(Z('2026-01-15T06:00:00Z'));
    expect(wallToUtc(OSLO, wall('2026-07-15T07:00:00'))).toBe(Z('2026-07-15T05:00:00Z'));
  });

  it('maps a time in the spring-forward gap (2026-03-29 02:00 -> 03:00) to the end of the gap', () => {
    expect(wallToUtc(OSLO, wall('2026-03-29T01:59:00'))).toBe(Z('2026-03-29T00:59:00Z'));
    expect(wallToUtc(OSLO, wall('2026-03-29T02:00:00'))).toBe(Z('2026-03-29T01:00:00Z'));
    expect(wallToUtc(OSLO, wall('2026-03-29T02:30:00'))).toBe(Z('2026-03-29T01:00:00Z'));
    expect(wallToUtc(OSLO, wall('2026-03-29T03:00:00'))).toBe(Z('2026-03-29T01:00:00Z'));
    expect(wallToUtc(OSLO, wall('2026-03-29T03:30:00'))).toBe(Z('2026-03-29T01:30:00Z'));
  });

  it('maps a repeated time in the fall-back hour (2026-10-25 03:00 -> 02:00) to its first occurrence', () => {
    expect(wallToUtc(OSLO, wall('2026-10-25T01:59:00'))).toBe(Z('2026-10-24T23:59:00Z'));
    expect(wallToUtc(OSLO, wall('2026-10-25T02:00:00'))).toBe(Z('2026-10-25T00:00:00Z'));
    expect(wallToUtc(OSLO, wall('2026-10-25T02:30:00'))).toBe(Z('2026-10-25T00:30:00Z'));
    expect(wallToUtc(OSLO, wall('2026-10-25T02:59:00'))).toBe(Z('2026-10-25T00:59:00Z'));
    // 03:00 is never shown in CEST (the clock goes back at 03:00): first reached at 03:00 CET.
    expect(wallToUtc(OSLO, wall('2026-10-25T03:00:00'))).toBe(Z('2026-10-25T02:00:00Z'));
  });
});

describe('compiling bands to UTC segments across the 2026 Oslo DST changes', () => {
  it('mon-fri 07:00-22:00 around the spring change (Sunday 2026-03-29)', () => {
    expect(iso(segments([band('mon-fri', '07:00', '22:00')], '2026-03-26T00:00:00Z', '2026-04-01T00:00:00Z'))).toEqual([
      ['2026-03-26T06:00:00.000Z', '2026-03-26T21:00:00.000Z'],
      ['2026-03-27T06:00:00.000Z', '2026-03-27T21:00:00.000Z'],
      ['2026-03-30T05:00:00.000Z', '2026-03-30T20:00:00.000Z'],
      ['2026-03-31T05:00:00.000Z', '2026-03-31T20:00:00.000Z'],
    ]);
  });

  it('mon-fri 07:00-22:00 around the autumn change (Sunday 2026-10-25)', () => {
    expect(iso(segments([band('mon-fri', '07:00', '22:00')], '2026-10-22T00:00:00Z', '2026-10-28T00:00:00Z'))).toEqual([
      ['2026-10-22T05:00:00.000Z', '2026-10-22T20:00:00.000Z'],
      ['2026-10-23T05:00:00.000Z', '2026-10-23T20:00:00.000Z'],
      ['2026-10-26T06:00:00.000Z', '2026-10-26T21:00:00.000Z'],
      ['2026-10-27T06:00:00.000Z', '2026-10-27T21:00:00.000Z'],
    ]);
  });

  it('a band over the changed hour is 2 h long in spring and 4 h in autumn', () => {
    const b = [band('sun', '01:00', '04:00')];
    expect(iso(segments(b, '2026-03-28T12:00:00Z', '2026-03-30T00:00:00Z'))).toEqual([
      ['2026-03-29T00:00:00.000Z', '2026-03-29T02:00:00.000Z'],
    ]);
    expect(iso(segments(b, '2026-10-24T12:00:00Z', '2026-10-26T00:00:00Z'))).toEqual([
      ['2026-10-24T23:00:00.000Z', '2026-10-25T03:00:00.000Z'],
    ]);
  });

  it('boundaries inside the gap and the repeated hour', () => {
    const b = [band('sun', '02:30', '05:00')];
    expect(iso(segments(b, '2026-03-28T12:00:00Z', '2026-03-30T00:00:00Z'))).toEqual([
      ['2026-03-29T01:00:00.000Z', '2026-03-29T03:00:00.000Z'],
    ]);
    expect(iso(segments(b, '2026-10-24T12:00:00Z', '2026-10-26T00:00:00Z'))).toEqual([
      ['2026-10-25T00:30:00.000Z', '2026-10-25T04:00:00.000Z'],
    ]);
    // A band lying entirely in the missing hour does not happen that day.
    expect(segments([band('sun', '02:00', '03:00')], '2026-03-28T12:00:00Z', '2026-03-30T00:00:00Z')).toEqual([]);
    // The repeated hour is inside the band once.
    expect(iso(segments([band('sun', '02:00', '03:00')], '2026-10-24T12:00:00Z', '2026-10-26T00:00:00Z'))).toEqual([
      ['2026-10-25T00:00:00.000Z', '2026-10-25T02:00:00.000Z'],
    ]);
  });

  it('night bands wrap past midnight over both changes; 24:00 ends the day', () => {
    const night = [band('sat', '22:00', '06:00')];
    expect(iso(segments(night, '2026-03-28T00:00:00Z', '2026-03-30T00:00:00Z'))).toEqual([
      ['2026-03-28T21:00:00.000Z', '2026-03-29T04:00:00.000Z'],
    ]);
    expect(iso(segments(night, '2026-10-24T00:00:00Z', '2026-10-26T00:00:00Z'))).toEqual([
      ['2026-10-24T20:00:00.000Z', '2026-10-25T05:00:00.000Z'],
    ]);
    expect(iso(segments([band('sat', '20:00', '24:00')], '2026-03-28T00:00:00Z', '2026-03-30T00:00:00Z'))).toEqual([
      ['2026-03-28T19:00:00.000Z', '2026-03-28T23:00:00.000Z'],
    ]);
    expect(iso(segments([band('sat', '20:00', '00:00')], '2026-03-28T00:00:00Z', '2026-03-30T00:00:00Z'))).toEqual([
      ['2026-03-28T19:00:00.000Z', '2026-03-28T23:00:00.000Z'],
    ]);
  });

  it('clips to the horizon, includes a band wrapping in from the day before, merges equal neighbours', () => {
    const r = segments([band('*', '22:00', '06:00', '0.5')], '2026-01-14T00:00:00Z', '2026-01-16T00:00:00Z');
    // 22:00-06:00 every day at the same price merges into alternating runs; first run comes from 13 Jan evening.
    expect(iso(r)).toEqual([
      ['2026-01-14T00:00:00.000Z', '2026-01-14T05:00:00.000Z'],
      ['2026-01-14T21:00:00.000Z', '2026-01-15T05:00:00.000Z'],
      ['2026-01-15T21:00:00.000Z', '2026-01-16T00:00:00.000Z'],
    ]);
    expect(r[0].priceNano).toBe(500_000_000n);
    const all = segments([band('mon-sun', '00:00', '00:00', '2')], '2026-01-14T00:00:00Z', '2026-01-16T00:00:00Z');
    expect(iso(all)).toEqual([['2026-01-14T00:00:00.000Z', '2026-01-16T00:00:00.000Z']]);
  });

  it('keeps segments sorted and non-overlapping with several bands and prices', () => {
    const bands = [band('mon-fri', '07:00', '17:00', '2'), band('mon-fri', '17:00', '22:00', '3'), band('sat,sun', '10:00', '14:00', '1')];
    const segs = segments(bands, '2026-03-01T00:00:00Z', '2026-04-15T00:00:00Z');
    for (let i = 1; i < segs.length; i++) expect(segs[i].fromMs).toBeGreaterThanOrEqual(segs[i - 1].toMs);
    const monday = segs.filter((s) => new Date(s.fromMs).toISOString().startsWith('2026-03-30'));
    expect(monday.map((s) => [new Date(s.fromMs).toISOString(), new Date(s.toMs).toISOString(), s.priceNano])).toEqual([
      ['2026-03-30T05:00:00.000Z', '2026-03-30T15:00:00.000Z', 2_000_000_000n],
      ['2026-03-30T15:00:00.000Z', '2026-03-30T20:00:00.000Z', 3_000_000_000n],
    ]);
  });

  it('reports overlapping bands', () => {
    const r = compileTou(
      [band('mon-fri', '07:00', '22:00'), band('mon', '20:00', '23:00')],
      OSLO,
      Z('2026-03-23T00:00:00Z'),
      Z('2026-04-01T00:00:00Z'),
    );
    expect(r.segments).toEqual([]);
    expect(r.overlaps).toHaveLength(1);
    expect(r.overlaps[0]).toMatchObject({ a: { label: 'mon-fri 07:00-22:00' }, b: { label: 'mon 20:00-23:00' }, date: '2026-03-23' });
  });

  it('works in other zones: New York (2026-03-08, 2026-11-01) and UTC', () => {
    const b = [band('sun', '01:00', '04:00')];
    expect(iso(segments(b, '2026-03-07T12:00:00Z', '2026-03-09T00:00:00Z', 'America/New_York'))).toEqual([
      ['2026-03-08T06:00:00.000Z', '2026-03-08T08:00:00.000Z'],
    ]);
    expect(iso(segments(b, '2026-10-31T12:00:00Z', '2026-11-02T00:00:00Z', 'America/New_York'))).toEqual([
      ['2026-11-01T05:00:00.000Z', '2026-11-01T09:00:00.000Z'],
    ]);
    expect(iso(segments(b, '2026-03-28T12:00:00Z', '2026-03-30T00:00:00Z', 'UTC'))).toEqual([
      ['2026-03-29T01:00:00.000Z', '2026-03-29T04:00:00.000Z'],
    ]);
  });
});
