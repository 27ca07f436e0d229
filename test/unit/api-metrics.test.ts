import { staticTokenResolver } from '../../gateway/api/auth';
import {
  escapeHelp,
  escapeLabelValue,
  formatSampleValue,
  METRICS_CONTENT_TYPE,
  MetricsRegistry,
  renderRegistries,
} from '../../gateway/base/metrics';
import { startApiServer } from '../../gateway/api/server';
import { silentLogger } from '../../gateway/base/log';
import { ADMIN_TOKEN, FakeBackend, request } from './api-fixtures';

/**
 * A strict line checker for the text exposition format 0.0.4: every line is
 * HELP, TYPE or a sample; a family's HELP and TYPE come before its samples.
 */
function parseExposition(text: string): Map<string, { help: string; type: string; samples: string[] }> {
  const families = new Map<string, { help: string; type: string; samples: string[] }>();
  const help = /^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) ((?:[^\\\n]|\\[\\n])*)$/;
  const type = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/;
  const label = '[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\\\\n]|\\\\[\\\\"n])*"';
  const sample = new RegExp(
    `^([a-zA-Z_:][a-zA-Z0-9_:]*)(\\{${label}(?:,${label})*\\})? (-?[0-9]+(?:\\.[0-9]+)?(?:e[+-]?[0-9]+)?|\\+Inf|-Inf|NaN)$`,
  );
  expect(text.endsWith('\n')).toBe(true);
  for (const line of text.slice(0, -1).split('\n')) {
    let m: RegExpExecArray | null;
    if ((m = help.exec(line))) {
      expect(families.has(m[1] as string)).toBe(false);
      families.set(m[1] as string, { help: m[2] as string, type: '', samples: [] });
    } else if ((m = type.exec(line))) {
      const f = families.get(m[1] as string);
      expect(f).toBeDefined();
      (f as { type: string }).type = m[2] as string;
    } else if ((m = sample.exec(line))) {
      const f = families.get(m[1] as string);
      expect({ line, known: f !== undefined && f.type !== '' }).toEqual({ line, known: true });
      f?.samples.push(line);
    } else {
      throw new Error(`not exposition format: ${JSON.stringify(line)}`);
    }
  }
  return families;
}

describe('MetricsRegistry', () => {
  it('renders counters and gauges with HELP/TYPE and escaped labels', () => {
    const r = new MetricsRegistry();
    const c = r.counter({ name: 'm2m_reads_total', help: 'Reads.\nWith a \\ backslash.', labelNames: ['device', 'link'] });
    c.inc({ device: 'purifier-1', link: 'plant' });
    c.inc({ device: 'purifier-1', link: 'plant' }, 2);
    c.inc({ link: 'rs485', device: 'we"ird\\dev\nice' });
    const g = r.gauge({ name: 'm2m_queue_depth', help: 'Depth.' });
    g.set(undefined, 3);
    g.dec();
    const big = r.counter({ name: 'm2m_billed_nano_total', help: 'Billed.' });
    big.inc({}, 9_007_199_254_740_993n);
    big.inc({}, 1);
    const text = r.render();
    expect(text).toBe(
      [
        '# HELP m2m_reads_total Reads.\\nWith a \\\\ backslash.',
        '# TYPE m2m_reads_total counter',
        'm2m_reads_total{device="purifier-1",link="plant"} 3',
        'm2m_reads_total{device="we\\"ird\\\\dev\\nice",link="rs485"} 1',
        '# HELP m2m_queue_depth Depth.',
        '# TYPE m2m_queue_depth gauge',
        'm2m_queue_depth 2',
        '# HELP m2m_billed_nano_total Billed.',
        '# TYPE m2m_billed_nano_total counter',
        'm2m_billed_nano_total 9007199254740994',
        '',
      ].join('\n'),
    );
    const fam = parseExposition(text);
    expect([...fam.keys()]).toEqual(['m2m_reads_total', 'm2m_queue_depth', 'm2m_billed_nano_total']);
    expect(fam.get('m2m_reads_total')?.samples.length).toBe(2);
  });

  it('runs gauge collectors at render time', () => {
    const r = new MetricsRegistry();
    let n = 0;
    r.gauge({ name: 'g', help: 'h', collect: (g) => g.set({}, ++n) });
    expect(r.render()).toContain('\ng 1\n');
    expect(r.render()).toContain('\ng 2\n');
  });

  it('formats special values and escapes', () => {
    expect(formatSampleValue(Infinity)).toBe('+Inf');
    expect(formatSampleValue(-Infinity)).toBe('-Inf');
    expect(formatSampleValue(NaN)).toBe('NaN');
    expect(formatSampleValue(0.5)).toBe('0.5');
    expect(escapeLabelValue('a\\b"c\nd')).toBe('a\\\\b\\"c\\nd');
    expect(escapeHelp('a\\b\nc"')).toBe('a\\\\b\\nc"');
  });

  it('refuses bad names, label mismatches, negative increments and duplicates', () => {
    const r = new MetricsRegistry();
    expect(() => r.counter({ name: '1bad', help: '' })).toThrow(/invalid metric name/);
    expect(() => r.counter({ name: 'ok', help: '', labelNames: ['__x'] })).toThrow(/invalid label/);
    const c = r.counter({ name: 'c_total', help: '', labelNames: ['a'] });
    expect(() => c.inc({ b: 'x' })).toThrow(/do not match/);
    expect(() => c.inc({})).toThrow(/do not match/);
    expect(() => c.inc({ a: 'x' }, -1)).toThrow(/cannot go down/);
    expect(() => r.counter({ name: 'c_total', help: '' })).toThrow(/twice/);
    const other = new MetricsRegistry();
    other.gauge({ name: 'c_total', help: '' });
    expect(() => renderRegistries([r, other])).toThrow(/two registries/);
  });
});

describe('GET /metrics', () => {
  it('serves the backend and API metrics in text format 0.0.4, token required', async () => {
    const backend = new FakeBackend();
    const api = await startApiServer({
      host: '127.0.0.1',
      port: 0,
      backend,
      tokens: staticTokenResolver([{ token: ADMIN_TOKEN, principal: { kind: 'admin' } }]),
      logger: silentLogger(),
      version: 't',
    });
    try {
      expect((await request(api.url, 'GET', '/metrics')).status).toBe(401);
      await request(api.url, 'GET', '/api/health');
      const res = await request(api.url, 'GET', '/metrics', { token: ADMIN_TOKEN });
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toBe(METRICS_CONTENT_TYPE);
      expect(METRICS_CONTENT_TYPE.startsWith('text/plain; version=0.0.4')).toBe(true);
      const fam = parseExposition(res.text);
      expect(fam.get('m2m_readings_total')).toEqual({
        help: 'Readings taken.\\nPer device.',
        type: 'counter',
        samples: ['m2m_readings_total{device="purifier-1"} 42', 'm2m_readings_total{device="odd \\"name\\"\\\\x"} 1'],
      });
      expect(fam.get('m2m_links_up')?.samples).toEqual(['m2m_links_up 1']);
      expect(fam.get('m2m_api_http_requests_total')?.type).toBe('counter');
      expect(fam.get('m2m_api_http_requests_total')?.samples).toContain(
        'm2m_api_http_requests_total{method="GET",route="/api/health",status="200"} 1',
      );
      expect(fam.get('m2m_api_ws_clients')?.type).toBe('gauge');
      expect(fam.has('m2m_api_ws_dropped_total')).toBe(true);
    } finally {
      await api.close();
    }
  });
});
