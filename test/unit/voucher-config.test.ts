/**
 * The optional `settlement` config section: absent = no vouchers; present,
 * its keys default (threshold "1", intervalS 3600); bad values are listed by path.
 */
import { ConfigError } from '../../gateway/config/errors';
import { parseConfig } from '../../gateway/config/load';

const load = (extra: string) => parseConfig(`version: 1\ngateway: { id: gw, timezone: UTC }\n${extra}`, '/tmp');

function issues(extra: string): string[] {
  try {
    load(extra);
  } catch (e) {
    if (e instanceof ConfigError) return e.issues.map((i) => `${i.path}: ${i.message}`);
    throw e;
  }
  throw new Error('expected a config error');
}

describe('settlement config', () => {
  test('absent: no settlement; present: defaults filled', () => {
    expect(load('').settlement).toBeUndefined();
    expect(load('settlement: {}\n').settlement).toEqual({ threshold: '1', intervalS: 3600 });
    expect(load('settlement: { threshold: "0.25", intervalS: 60 }\n').settlement).toEqual({ threshold: '0.25', intervalS: 60 });
    expect(load('settlement: { threshold: 5 }\n').settlement).toEqual({ threshold: '5', intervalS: 3600 });
    expect(load('settlement: { threshold: "+0.000000001" }\n').settlement?.threshold).toBe('0.000000001');
  });

  test('a threshold that is not above 0 or has more than 9 fraction digits, a bad interval, an unknown key', () => {
    expect(issues('settlement: { threshold: "0" }\n')).toEqual([expect.stringMatching(/^settlement\.threshold: must be above 0/)]);
    expect(issues('settlement: { threshold: "-1" }\n')).toEqual([expect.stringMatching(/^settlement\.threshold: must be above 0/)]);
    expect(issues('settlement: { threshold: "0.0000000001" }\n')).toEqual([
      expect.stringMatching(/^settlement\.threshold: .*at most 9 fraction digits/),
    ]);
    expect(issues('settlement: { intervalS: 0 }\n')).toEqual([expect.stringMatching(/^settlement\.intervalS: /)]);
    expect(issues('settlement: { treshold: "1" }\n')).toEqual(['settlement.treshold: unknown key (did you mean "threshold"?)']);
  });
});
