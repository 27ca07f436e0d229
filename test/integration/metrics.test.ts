/**
 * GET /metrics of the daemon, in-process against a simulated device on a
 * loopback Modbus TCP port (gateway/cli/demo/register-bank.ts), next to a device
 * that never answers (wrong unit id: timeouts, quarantine), one on a closed
 * port (offline, connect failures) and a P1 link whose port does not exist.
 * After the data is frozen (the simulator stops), the counters are checked
 * exactly against what the ledger committed.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import WebSocket from 'ws';
import { ensureMetricsToken } from '../../gateway/api/metrics-token';
import Database from 'better-sqlite3';
import type { Gateway } from '../../gateway/daemon/gateway';
import { freePort } from '../../gateway/cli/demo/free-port';
import type { RegisterBank } from '../../gateway/cli/demo/register-bank';
import { ApiClient } from '../helper/gateway-api';
import { startTestGateway, untilWithin, type TestGateway } from '../helper/in-process-gateway';

const until = untilWithin(15_000);

const flows = [
  { id: 't', type: 'tab', label: 'policies' },
  {
    id: 'n1',
    type: 'm2m-tariff',
    z: 't',
    name: 'water',
    devices: 'purifier-*',
    point: 'water',
    payee: 'waterworks',
    price: '0.5',
    tou: [],
    wires: [],
  },
];

/** `name{labels}` → value of every sample of a text exposition. */
function parseMetrics(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    out.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return out;
}

describe('GET /metrics', () => {
  let rig: TestGateway | undefined;
  let dir: string;
  let bank: RegisterBank;
  let gw: Gateway | null = null;
  let admin: ApiClient;
  let startedS: number;

  const scrape = async () => {
    const r = await admin.request('GET', '/metrics');
    expect(r.status).toBe(200);
    return { text: r.text, m: parseMetrics(r.text) };
  };
  const value = (m: Map<string, number>, key: string): number => {
    const v = m.get(key);
    if (v === undefined) throw new Error(`no sample ${key}`);
    return v;
  };

  beforeAll(async () => {
    const closed = await freePort(); // nothing listens here
    rig = await startTestGateway({
      prefix: 'm2m-metrics-',
      flows,
      registers: (b) => {
        b.setUint32(b.holding, 0, 1000);
        b.input[10] = 55;
      },
      yaml: ({ port, dir }) => `version: 1
gateway: { id: t, dataDir: ., timezone: UTC }
links:
  - { id: plant, type: modbus-tcp, host: 127.0.0.1, port: ${port}, timeoutMs: 150 }
  - { id: dead, type: modbus-tcp, host: 127.0.0.1, port: ${closed}, timeoutMs: 150 }
  - { id: p1, type: dsmr-p1, path: ${path.join(dir, 'no-such-tty')} }
devices:
  - id: purifier-1
    link: plant
    unitId: 1
    pollMs: 30
    points:
      - { name: water, kind: counter, area: holding, address: 0, type: uint32, unit: L }
      - { name: hardness, kind: gauge, area: input, address: 10, type: int16, scale: "0.1", unit: dH }
  - id: mute
    link: plant
    unitId: 7
    pollMs: 30
    points:
      - { name: level, kind: gauge, area: holding, address: 0, type: uint16 }
  - id: ghost
    link: dead
    unitId: 1
    pollMs: 30
    points:
      - { name: level, kind: gauge, area: holding, address: 0, type: uint16 }
`,
      beforeStart: () => {
        startedS = Math.floor(Date.now() / 1000);
      },
    });
    ({ gw, bank, dir } = rig);
    admin = new ApiClient(gw!.apiUrl, gw!.adminToken);
  });

  afterAll(() => rig?.stop());

  it('a metrics token reads /metrics and nothing else', async () => {
    const { token, created } = ensureMetricsToken(dir);
    expect(created).toBe(true);
    expect(ensureMetricsToken(dir)).toEqual({ token, created: false });
    const scraper = new ApiClient(gw!.apiUrl, token);
    const r = await scraper.request('GET', '/metrics');
    expect(r.status).toBe(200);
    expect(r.text).toContain('# TYPE m2m_device_state gauge\n');
    for (const route of ['/api/devices', '/api/ledger', '/api/accounts', '/api/events', '/api/vouchers']) {
      const res = await scraper.request('GET', route);
      expect([route, res.status]).toEqual([route, 403]);
    }
    const write = await scraper.request('POST', '/api/devices/purifier-1/points/water', { value: 1 });
    expect(write.status).toBe(403);
    // nor does it open the stream
    const ws = new WebSocket(`${gw!.apiUrl.replace('http', 'ws')}/api/stream`, { headers: { Authorization: `Bearer ${token}` } });
    const closed = await new Promise<{ code: number; messages: string[] }>((resolve) => {
      const messages: string[] = [];
      ws.on('message', (m) => messages.push(String(m)));
      ws.on('close', (code) => resolve({ code, messages }));
      ws.on('error', () => undefined);
    });
    expect(closed.messages.some((m) => m.includes('a metrics token reads /metrics only'))).toBe(true);
    expect(closed.messages.some((m) => m.includes('"type":"ready"'))).toBe(false);
  });

  it('promtool check metrics finds nothing wrong in a live scrape', async () => {
    const { text } = await scrape();
    const run = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    expect(run.error).toBeUndefined();
    expect({ status: run.status, out: `${run.stdout}${run.stderr}`.trim() }).toEqual({ status: 0, out: '' });
  });

  it('shows device, link, core, ledger, policy and process series while polling', async () => {
    await until(() => gw!.views.get('purifier-1')?.points.water.value === '1000', 'baseline read');
    bank.setUint32(bank.holding, 0, 1004);
    await until(
      () => gw!.ledger.ledgerTotals({ device: 'purifier-1', point: 'water' }).some((t) => t.payee === 'waterworks'),
      'water billed',
    );
    await until(() => gw!.views.get('mute')?.state === 'quarantined', 'mute quarantined');
    await until(
      async () => (await scrape()).m.get('m2m_link_connect_failures_total{link="dead",type="modbus-tcp"}')! >= 1,
      'connect failure counted',
    );

    const { text, m } = await scrape();
    // devices
    expect(value(m, 'm2m_device_polls_total{device="purifier-1"}')).toBeGreaterThanOrEqual(2);
    expect(value(m, 'm2m_device_poll_failures_total{device="purifier-1"}')).toBe(0);
    expect(value(m, 'm2m_device_state{device="purifier-1",state="ok"}')).toBe(1);
    expect(value(m, 'm2m_device_state{device="purifier-1",state="offline"}')).toBe(0);
    const last = value(m, 'm2m_device_last_read_timestamp_seconds{device="purifier-1"}');
    expect(last).toBeGreaterThanOrEqual(startedS);
    expect(last).toBeLessThanOrEqual(Date.now() / 1000);
    expect(value(m, 'm2m_device_poll_failures_total{device="mute"}')).toBeGreaterThanOrEqual(3);
    expect(value(m, 'm2m_device_state{device="mute",state="quarantined"}')).toBe(1);
    expect(value(m, 'm2m_device_state_changes_total{device="mute",state="quarantined"}')).toBe(1);
    expect(value(m, 'm2m_device_state{device="ghost",state="offline"}')).toBe(1);
    expect(value(m, 'm2m_device_state{device="ghost",state="ok"}')).toBe(0);
    expect(value(m, 'm2m_device_polls_total{device="ghost"}')).toBe(0);
    // links
    expect(value(m, 'm2m_link_state{link="plant",type="modbus-tcp",state="up"}')).toBe(1);
    expect(value(m, 'm2m_link_state{link="dead",type="modbus-tcp",state="up"}')).toBe(0);
    expect(value(m, 'm2m_link_connects_total{link="plant",type="modbus-tcp"}')).toBe(1);
    expect(value(m, 'm2m_link_connects_total{link="dead",type="modbus-tcp"}')).toBe(0);
    expect(value(m, 'm2m_link_timeouts_total{link="plant",type="modbus-tcp"}')).toBeGreaterThanOrEqual(3);
    const requests = value(m, 'm2m_link_requests_total{link="plant",type="modbus-tcp"}');
    const ok = value(m, 'm2m_link_responses_ok_total{link="plant",type="modbus-tcp"}');
    expect(ok).toBeGreaterThanOrEqual(2);
    expect(requests).toBeGreaterThanOrEqual(ok + 3);
    // garbage counters exist for every link (0 on a clean TCP line and on a P1 port that never opened)
    for (const link of ['link="plant",type="modbus-tcp"', 'link="dead",type="modbus-tcp"', 'link="p1",type="dsmr-p1"']) {
      for (const f of [
        'm2m_link_crc_errors_total',
        'm2m_link_truncated_frames_total',
        'm2m_link_noise_bytes_total',
        'm2m_link_disconnects_total',
      ]) {
        expect([f, link, m.get(`${f}{${link}}`)]).toEqual([f, link, 0]);
      }
    }
    expect(value(m, 'm2m_link_p1_telegrams_total{link="p1",type="dsmr-p1"}')).toBe(0);
    expect(value(m, 'm2m_link_connect_failures_total{link="p1",type="dsmr-p1"}')).toBeGreaterThanOrEqual(1);
    expect(m.has('m2m_link_requests_total{link="p1",type="dsmr-p1"}')).toBe(false);
    // core, ledger, policy, process
    expect(value(m, 'm2m_core_events_total{kind="baseline"}')).toBe(1);
    expect(value(m, 'm2m_core_accruals_total')).toBeGreaterThanOrEqual(1);
    expect(value(m, 'm2m_core_deltas_total')).toBeGreaterThanOrEqual(1);
    expect(value(m, 'm2m_ledger_batches_total')).toBeGreaterThanOrEqual(2);
    expect(value(m, 'm2m_ledger_commit_seconds_total')).toBeGreaterThan(0);
    expect(value(m, 'm2m_ledger_readings_pruned_total')).toBe(0);
    expect(value(m, 'm2m_policy_version')).toBe(1);
    expect(value(m, 'm2m_policy_load_ok')).toBe(1);
    // process and Node.js health under the standard names (prom-client's default metrics)
    expect(value(m, 'process_resident_memory_bytes')).toBeGreaterThan(1_000_000);
    expect(value(m, 'nodejs_eventloop_lag_max_seconds')).toBeGreaterThanOrEqual(0);
    expect(value(m, 'nodejs_eventloop_lag_p99_seconds')).toBeGreaterThanOrEqual(0);
    expect(value(m, 'process_cpu_seconds_total')).toBeGreaterThan(0);
    // latency histograms: every poll cycle and every commit observed once
    expect(text).toContain('# TYPE m2m_poll_duration_seconds histogram\n');
    expect(value(m, 'm2m_poll_duration_seconds_count{link="plant"}')).toBeGreaterThanOrEqual(1);
    expect(value(m, 'm2m_poll_duration_seconds_bucket{le="+Inf",link="plant"}')).toBe(
      value(m, 'm2m_poll_duration_seconds_count{link="plant"}'),
    );
    expect(text).toContain('# TYPE m2m_ledger_commit_seconds histogram\n');
    expect(value(m, 'm2m_ledger_commit_seconds_count')).toBeGreaterThanOrEqual(1);
    expect(m.has('m2m_build_info{version="' + (await admin.get<{ version: string }>('/api/health')).version + '"}')).toBe(true);
    expect(text).toContain('# TYPE m2m_link_timeouts_total counter\n');
    expect(text).toContain('# TYPE m2m_device_state gauge\n');
    // the API's own metrics render in the same exposition
    expect(text).toContain('# TYPE m2m_api_http_requests_total counter\n');
  });

  it('counts exactly what the ledger committed once the data stops', async () => {
    await bank.close();
    await until(() => ['purifier-1', 'mute'].every((d) => gw!.views.get(d)?.state === 'offline'), 'plant devices offline');
    // the state changes above commit with the next batch; wait until the ledger has them
    const offlineCommitted = (d: string) =>
      gw!.ledger.events({ kinds: ['device-state'] }).some((e) => e.device === d && e.detail.state === 'offline');
    await until(() => offlineCommitted('purifier-1') && offlineCommitted('mute'), 'offline events committed');
    const db = new Database(path.join(dir, 'ledger.db'), { readonly: true, fileMustExist: true });
    try {
      const sums = db
        .prepare(
          'SELECT count(*) AS n, sum(n_readings) AS r, sum(n_deltas) AS d, sum(n_accruals) AS a FROM batches WHERE seq > (SELECT min(batch_seq) FROM policies)',
        )
        .get() as Record<string, number>;
      const kinds = db
        .prepare('SELECT kind, count(*) AS n FROM events WHERE batch_seq > (SELECT min(batch_seq) FROM policies) GROUP BY kind')
        .all() as Array<{ kind: string; n: number }>;
      const head = db.prepare('SELECT max(seq) AS s FROM batches').get() as { s: number };
      const { m } = await scrape();
      expect(value(m, 'm2m_ledger_batches_total')).toBe(sums.n);
      expect(value(m, 'm2m_core_readings_total')).toBe(sums.r);
      expect(value(m, 'm2m_core_deltas_total')).toBe(sums.d);
      expect(value(m, 'm2m_core_accruals_total')).toBe(sums.a);
      for (const k of kinds) expect([k.kind, m.get(`m2m_core_events_total{kind="${k.kind}"}`)]).toEqual([k.kind, k.n]);
      expect(value(m, 'm2m_ledger_last_batch_seq')).toBe(head.s);
      expect(value(m, 'm2m_device_polls_total{device="purifier-1"}')).toBeGreaterThanOrEqual(2);
      expect(value(m, 'm2m_device_state{device="purifier-1",state="offline"}')).toBe(1);
      expect(value(m, 'm2m_link_disconnects_total{link="plant",type="modbus-tcp"}')).toBe(1);
    } finally {
      db.close();
    }
  });
});
