/** M2M_LOG_LEVEL is configuration: an unknown level is a ConfigError (exit 2), not a logger crash (exit 3). */
import { ConfigError } from '../../gateway/config/errors';
import { LOG_LEVELS, logLevelFromEnv } from '../../gateway/cli/log-level';

describe('logLevelFromEnv', () => {
  test('unset or empty: the fallback', () => {
    expect(logLevelFromEnv('info', {})).toBe('info');
    expect(logLevelFromEnv('warn', { M2M_LOG_LEVEL: '' })).toBe('warn');
  });

  test('every pino level is accepted', () => {
    for (const l of LOG_LEVELS) expect(logLevelFromEnv('info', { M2M_LOG_LEVEL: l })).toBe(l);
  });

  test('anything else is a ConfigError naming M2M_LOG_LEVEL and the levels', () => {
    for (const bad of ['verbose', 'INFO', 'warning', '30']) {
      let err: unknown;
      try {
        logLevelFromEnv('info', { M2M_LOG_LEVEL: bad });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ConfigError);
      const ce = err as ConfigError;
      expect(ce.file).toBe('environment');
      expect(ce.issues).toEqual([{ path: 'M2M_LOG_LEVEL', message: expect.stringContaining(`got "${bad}"`) }]);
      expect(ce.issues[0]!.message).toMatch(/expected one of fatal, error, warn, info, debug, trace, silent/);
    }
  });
});
