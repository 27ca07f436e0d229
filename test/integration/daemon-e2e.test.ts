/**
 * End-to-end acceptance tests of the walking skeleton: the REAL built daemon
 * (`node build/gateway/cli/main.js start --config …`) against a real Modbus TCP
 * peer (pymodbus 3.0, test/sim/modbus_server.py), driven through its HTTP API
 * and CLI exactly as an operator would.
 *
 *  1. two counters (uint32 litres, uint16 m³ × 0.001) driven through their wraps
 *     step by step; /api/ledger equals an independent BigInt computation to the
 *     nano-unit;
 *  2. kill -9 mid-run (a third counter keeps changing, so it is polling and
 *     committing), counters change while it is down, restart: totals stay exact,
 *     `ledger verify` exits 0;
 *  3. API auth on every route, `token`, secrets.json 0600;
 *  4. bad input: config check / start exit 2 with every error by path, YAML
 *     line/column, an invalid tariff price (daemon keeps running, bills nothing,
 *     works after the fix), an unreachable device is offline, writes read back;
 *  5. `init` writes a config `config check` accepts and refuses to overwrite;
 *  6. `demo` smoke test.
 *
 * The build is a precondition (`npm test` builds first).
 */
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { parseDocument } from 'yaml';
import { startModbusPeer, type ModbusPeer } from '../sim/modbus-peer';
import { CounterOracle, fixed, format, scaled } from '../helper/billing-oracle';
import { GatewayProcess, killAllProcesses, requireBuild, runCli, waitFor } from '../helper/daemon-process';
import { ApiClient, byKey, waitForLedger, waitForPoint, type DeviceView, type LedgerRow } from '../helper/gateway-api';

jest.setTimeout(40_000);

// ---------------------------------------------------------------------------
// Fixtures

let root = '';
let peer: ModbusPeer | null = null;
const U32 = 1n << 32n;

const words32 = (v: bigint): [number, number] => [Number((v >> 16n) & 0xffffn), Number(v & 0xffffn)];

async function closedPort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const { port } = srv.address() as net.AddressInfo;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

function writeFile(file: string, text: string): string {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, text);
  return file;
}

function tariff(id: string, name: string, devices: string, point: string, payee: string, price: unknown) {
  return { id, type: 'm2m-tariff', z: 'e2e-tab', name, devices, point, payee, price, tou: [], x: 100, y: 100, wires: [] };
}

function flowsJson(nodes: object[]): string {
  return JSON.stringify([{ id: 'e2e-tab', type: 'tab', label: 'e2e', disabled: false, info: '' }, ...nodes], null, 2);
}

beforeAll(async () => {
  requireBuild();
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'm2m-e2e-'));
});

afterAll(async () => {
  await killAllProcesses();
  await peer?.stop().catch(() => undefined);
  if (root) fs.rmSync(root, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------
// 1–4: the metering daemon against a pymodbus peer

describe('daemon metering a pymodbus peer', () => {
  const CURRENCY = 'NOK';
  const dir = () => path.join(root, 'plant');
  const config = () => path.join(dir(), 'm2m-gateway.yaml');
  const dataDir = () => path.join(dir(), 'data');
  let daemon: GatewayProcess | null = null;
  let api: ApiClient;
  let token = '';
  let firstStartOutput = '';

  // Step values set by the test: [water uint32 L, volume uint16 × 0.001 m³].
  const water = new CounterOracle('purifier-1', 'water', 'purifier-1', 'waterworks', 32, '1', '0.012345678');
  const volume = new CounterOracle('purifier-1', 'volume', 'purifier-1', 'sewer', 16, '0.001', '7.654321987');
  // A counter the peer itself keeps advancing (+3 every 50 ms) while it runs: the daemon is always committing.
  const energy = new CounterOracle('meter-2', 'energy', 'purifier-1', 'grid', 32, '0.25', '1.000000001');
  const expectedRows = () => [water.row(CURRENCY), volume.row(CURRENCY), energy.row(CURRENCY)];

  /** Set both purifier counters in one peer transaction (holding 0..5). */
  async function setCounters(w: bigint, v: number): Promise<void> {
    await peer!.set('holding', 0, [...words32(w), 0, 0, 0, v], 1);
  }

  /** Set, wait until the daemon has read both values, feed the oracle. */
  async function step(w: bigint, v: number): Promise<void> {
    await setCounters(w, v);
    await waitForPoint(api, 'purifier-1', 'water', scaled(w, '1'));
    await waitForPoint(api, 'purifier-1', 'volume', scaled(BigInt(v), '0.001'));
    water.read(w);
    volume.read(BigInt(v));
  }

  /** The energy counter (unit 2, holding 0..1) as the peer holds it now. */
  async function energyRaw(): Promise<bigint> {
    const [hi, lo] = await peer!.get('holding', 0, 2, 2);
    return (BigInt(hi!) << 16n) | BigInt(lo!);
  }

  const runs: GatewayProcess[] = [];

  async function startDaemon(): Promise<GatewayProcess> {
    const d = await GatewayProcess.start(['start', '--config', config()]);
    runs.push(d);
    daemon = d;
    api = new ApiClient(d.url, token || undefined);
    return d;
  }

  beforeAll(async () => {
    peer = await startModbusPeer({
      units: {
        1: { holding: { 0: [...words32(4_294_960_000n), 0, 0, 0, 65_530], 30: [7] }, coil: { 0: [false] } },
        2: { holding: { 0: words32(1_000n) } },
        3: { holding: { 0: words32(100n) } },
      },
      evolutions: [{ unit: 2, area: 'holding', address: 0, type: 'uint32', step: 3, everyMs: 50 }],
    });
    await peer.pause(); // the energy counter starts once the baseline is known
    const ghostPort = await closedPort();
    writeFile(
      config(),
      `# written by test/integration/daemon-e2e.test.ts
version: 1
gateway:
  id: e2e-gw
  dataDir: ./data            # relative to this file
  currency: ${CURRENCY}
  timezone: Europe/Oslo
http:
  listen: 127.0.0.1:0
ledger:
  commitMs: 200              # commit often: the kill -9 test kills at different moments of the commit cycle
links:
  - { id: plant, type: modbus-tcp, host: 127.0.0.1, port: ${peer.port}, timeoutMs: 1000 }
  - { id: nowhere, type: modbus-tcp, host: 127.0.0.1, port: ${ghostPort}, timeoutMs: 300 }
devices:
  - id: purifier-1
    link: plant
    unitId: 1
    pollMs: 100
    points:
      - { name: water, kind: counter, area: holding, address: 0, type: uint32, wordOrder: ABCD, scale: "1", unit: L }
      - { name: volume, kind: counter, area: holding, address: 5, type: uint16, scale: "0.001", unit: m3 }
      - { name: cycle, kind: setpoint, area: holding, address: 30, type: uint16, writable: true }
      - { name: valve, kind: switch, area: coil, address: 0, writable: true }
  - id: meter-2
    link: plant
    unitId: 2
    pollMs: 50
    account: purifier-1
    points:
      - { name: energy, kind: counter, area: holding, address: 0, type: uint32, scale: "0.25", unit: kWh }
  - id: ghost-1
    link: nowhere
    unitId: 1
    pollMs: 200
    points:
      - { name: water, kind: counter, area: holding, address: 0, type: uint32, unit: L }
`,
    );
    writeFile(
      path.join(dataDir(), 'flows.json'),
      flowsJson([
        tariff('t-water', 'water price', 'purifier-*', 'water', 'waterworks', water.price),
        tariff('t-volume', 'sewer price', 'purifier-*', 'volume', 'sewer', volume.price),
        tariff('t-energy', 'grid energy', 'meter-*', 'energy', 'grid', energy.price),
      ]),
    );
    const d = await startDaemon();
    firstStartOutput = d.stdout + d.stderr;
  });

  afterAll(async () => {
    await daemon?.stop('SIGKILL').catch(() => undefined);
  });

  test('`token` prints the admin token that works; secrets.json is 0600; the first start (stdout a pipe) printed where to find it, not the secret', async () => {
    const r = await runCli(['token', '--config', config()]);
    expect(r.code).toBe(0);
    token = r.stdout.trim();
    expect(token).toMatch(/^[A-Za-z0-9_-]{32,}$/);
    // Shown once on a terminal only (docs/cli.md#start; test/integration/abuse.test.ts starts on a pty): never into a log.
    expect(firstStartOutput).toMatch(
      /Generated credentials into .*secrets\.json \(mode 0600\); not shown because stdout is not a terminal/,
    );
    expect(firstStartOutput).not.toContain(token);
    expect(fs.statSync(path.join(dataDir(), 'secrets.json')).mode & 0o777).toBe(0o600);
    api = api.withToken(token);
    const devices = await api.get<DeviceView[]>('/api/devices');
    expect(devices.map((d) => d.id).sort()).toEqual(['ghost-1', 'meter-2', 'purifier-1']);
  });

  test('two counters through their wraps: /api/ledger equals the BigInt oracle to the nano-unit', async () => {
    // Baseline: the peer's initial values (bills nothing).
    const e0 = await energyRaw();
    await waitForPoint(api, 'meter-2', 'energy', scaled(e0, '0.25'));
    energy.read(e0);
    await step(4_294_960_000n, 65_530);
    await waitForLedger(api, []); // a baseline bills nothing, and creates no totals

    await step(4_294_960_123n, 65_531);
    await waitForLedger(
      api,
      expectedRows().filter((r) => r.point !== 'energy'),
    );
    await step(4_294_962_000n, 65_535);
    await step(4_294_967_290n, 3); // volume wraps: 65535 -> 3 is +4
    await step(5n, 20_000); // water wraps: 4294967290 -> 5 is +11
    await step(12_345n, 50_000);
    const rows = await waitForLedger(
      api,
      expectedRows().filter((r) => r.point !== 'energy'),
    );
    expect(water.qtyMicro).toBe((12_345n + U32 - 4_294_960_000n) * 1_000_000n);
    expect(volume.qtyMicro).toBe(BigInt(50_000 + 65_536 - 65_530) * 1_000n);
    expect(rows).toEqual(
      expectedRows()
        .filter((r) => r.point !== 'energy')
        .sort(byKey),
    );
    // The same money on the channels and the payer's account.
    const channels = await api.get<Array<{ id: string; payer: string; payee: string; accrued: string }>>('/api/channels');
    expect(channels.map((c) => [c.id, c.payer, c.payee, c.accrued]).sort()).toEqual(
      [
        ['purifier-1>sewer', 'purifier-1', 'sewer', format(volume.amountNano, 9)],
        ['purifier-1>waterworks', 'purifier-1', 'waterworks', format(water.amountNano, 9)],
      ].sort(),
    );
    const accounts = await api.get<Array<{ id: string; unsettled: string; currency: string }>>('/api/accounts');
    expect(accounts.find((a) => a.id === 'purifier-1')).toMatchObject({
      unsettled: format(water.amountNano + volume.amountNano, 9),
      currency: CURRENCY,
    });
  });

  test('kill -9 while polling and committing, counters change while down, restart: totals stay exact; ledger verify exits 0', async () => {
    const purifierRows = () => expectedRows().filter((r) => r.device === 'purifier-1');
    const energyCommits = async (n: number): Promise<void> => {
      let seen = 0;
      let last: string | undefined;
      await waitFor(
        async () => {
          const q = (await api.get<LedgerRow[]>('/api/ledger')).find((r) => r.point === 'energy' && r.payee === 'grid')?.quantity;
          if (q !== undefined && q !== last) {
            if (last !== undefined) seen += 1;
            last = q;
          }
          return seen >= n ? true : undefined;
        },
        `${n} more commits of the running energy counter`,
        10_000,
        20,
      );
    };
    await peer!.resume(); // the energy counter now advances on its own: every poll brings a delta to commit

    // Three kills at different moments after a commit. While it is down the purifier counters move
    // (round 1: volume wraps again, 50000 -> 700 is +16236; round 3: water stands still).
    const rounds: Array<{ delayMs: number; water: bigint; volume: number }> = [
      { delayMs: 0, water: 99_999n, volume: 700 },
      { delayMs: 90, water: 150_000n, volume: 9_000 },
      { delayMs: 170, water: 150_000n, volume: 30_000 },
    ];
    for (const round of rounds) {
      await energyCommits(2);
      await new Promise((r) => setTimeout(r, round.delayMs));
      expect(await daemon!.stop('SIGKILL', 5_000)).toEqual({ code: null, signal: 'SIGKILL' });

      await setCounters(round.water, round.volume);
      water.read(round.water);
      volume.read(BigInt(round.volume));
      const verifyDown = await runCli(['ledger', 'verify', '--config', config()]);
      expect({ code: verifyDown.code, out: verifyDown.stdout }).toEqual({ code: 0, out: expect.stringMatching(/^ledger OK/) });

      const d = await startDaemon();
      expect(d.stdout).not.toMatch(/Generated credentials/); // secrets are printed at the first start only
      // The consumption while down is billed on the first reading after the restart, once.
      await waitForPoint(api, 'purifier-1', 'water', scaled(round.water, '1'));
      await waitForPoint(api, 'purifier-1', 'volume', scaled(BigInt(round.volume), '0.001'));
      await waitForLedger(api, purifierRows(), 10_000, (r) => r.device === 'purifier-1');
    }
    await step(150_001n, 30_001);

    // Stop the energy counter, learn its final value, wait until the daemon has read it.
    await peer!.pause();
    const eEnd = await energyRaw();
    await waitForPoint(api, 'meter-2', 'energy', scaled(eEnd, '0.25'));
    energy.read(eEnd);
    expect(energy.qtyMicro).toBeGreaterThan(0n);

    const rows = await waitForLedger(api, expectedRows());
    expect(rows).toEqual(expectedRows().sort(byKey));
    const accounts = await api.get<Array<{ id: string; unsettled: string }>>('/api/accounts');
    expect(accounts.find((a) => a.id === 'purifier-1')?.unsettled).toBe(
      format(water.amountNano + volume.amountNano + energy.amountNano, 9),
    );
    const channels = await api.get<Array<{ id: string; accrued: string }>>('/api/channels');
    expect(Object.fromEntries(channels.map((c) => [c.id, c.accrued]))).toEqual({
      'purifier-1>grid': format(energy.amountNano, 9),
      'purifier-1>sewer': format(volume.amountNano, 9),
      'purifier-1>waterworks': format(water.amountNano, 9),
    });

    const verify = await runCli(['ledger', 'verify', '--config', config()]);
    expect({ code: verify.code, out: verify.stdout }).toEqual({ code: 0, out: expect.stringMatching(/^ledger OK/) });
  });

  test('every route but /api/health answers 401 without a token and with a wrong token', async () => {
    const routes: Array<['GET' | 'POST', string]> = [
      ['GET', '/api/devices'],
      ['GET', '/api/ledger'],
      ['GET', '/api/accounts'],
      ['GET', '/api/channels'],
      ['GET', '/api/vouchers'],
      ['GET', '/api/events'],
      ['GET', '/metrics'],
      ['POST', '/api/devices/x/points/y'],
    ];
    const anonymous = api.withToken(undefined);
    const wrong = api.withToken(`${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}`);
    for (const [method, route] of routes) {
      const body = method === 'POST' ? { value: '1' } : undefined;
      expect([method, route, (await anonymous.request(method, route, body)).status]).toEqual([method, route, 401]);
      expect([method, route, (await wrong.request(method, route, body)).status]).toEqual([method, route, 401]);
      const ok = await api.request(method, route, body);
      // With the token it answers (the POST names an unknown device: 404).
      expect([method, route, ok.status]).toEqual([method, route, method === 'POST' ? 404 : 200]);
    }
    const health = await anonymous.request<{ status: string; links: Array<{ id: string; state: string }> }>('GET', '/api/health');
    expect(health.status).toBe(200);
    expect(health.body.links.map((l) => l.id).sort()).toEqual(['nowhere', 'plant']);
  });

  test('an unreachable device is offline while the others keep being metered', async () => {
    const ghost = (await api.get<DeviceView[]>('/api/devices')).find((d) => d.id === 'ghost-1');
    expect(ghost).toMatchObject({ id: 'ghost-1', link: 'nowhere', state: 'offline', lastReadAt: null });
    await step(150_100n, 30_101);
    await waitForLedger(api, expectedRows());
    const devices = await api.get<DeviceView[]>('/api/devices');
    expect(devices.find((d) => d.id === 'purifier-1')?.state).toBe('ok');
    expect(devices.find((d) => d.id === 'ghost-1')?.state).toBe('offline');
    // The poller found the link down (not just the initial state): an event says so, and health shows the link.
    const events = await api.get<Array<{ kind: string; device?: string; data?: Record<string, unknown> }>>('/api/events?device=ghost-1');
    expect(events.some((e) => e.kind === 'device-state' && e.data?.state === 'offline')).toBe(true);
    const health = await api.get<{ links: Array<{ id: string; state: string }> }>('/api/health');
    expect(Object.fromEntries(health.links.map((l) => [l.id, l.state]))).toEqual({
      plant: 'up',
      nowhere: expect.not.stringMatching(/^up$/),
    });
  });

  test('POST a write to a holding setpoint and a coil answers the read-back value', async () => {
    const cycle = await api.post<{ value: unknown }>('/api/devices/purifier-1/points/cycle', { value: '42' });
    expect({ status: cycle.status, body: cycle.body }).toEqual({ status: 200, body: { value: '42' } });
    expect(await peer!.get('holding', 30, 1, 1)).toEqual([42]);
    const valve = await api.post<{ value: unknown }>('/api/devices/purifier-1/points/valve', { value: true });
    expect({ status: valve.status, body: valve.body }).toEqual({ status: 200, body: { value: true } });
    expect(await peer!.get('coil', 0, 1, 1)).toEqual([1]);
    await waitForPoint(api, 'purifier-1', 'cycle', '42');
    await waitForPoint(api, 'purifier-1', 'valve', true);
    // A counter is not writable: refused, the register untouched.
    const refused = await api.post('/api/devices/purifier-1/points/water', { value: '1' });
    expect(refused.status).toBe(409);
    expect(await peer!.get('holding', 0, 2, 1)).toEqual(words32(water.last!));
  });

  test('SIGTERM stops the daemon cleanly (exit 0) and the ledger still verifies', async () => {
    const exit = await daemon!.stop('SIGTERM', 10_000);
    expect(exit).toEqual({ code: 0, signal: null });
    expect(daemon!.logLines().some((l) => l.msg === 'gateway stopped')).toBe(true);
    // No run of this daemon (killed ones included) logged an error, and every log line is
    // JSON with unique keys (log shippers such as Elasticsearch reject duplicate fields).
    expect(runs.flatMap((r) => r.logLines().filter((l) => Number(l.level) >= 50))).toEqual([]);
    const logLines = runs.flatMap((r) => r.stderr.split('\n').filter((l) => l.startsWith('{')));
    expect(logLines.length).toBeGreaterThan(0);
    expect(logLines.filter((l) => parseDocument(l, { uniqueKeys: true }).errors.length > 0)).toEqual([]);
    const verify = await runCli(['ledger', 'verify', '--config', config()]);
    expect(verify.code).toBe(0);
  });

  test('an invalid tariff price: the daemon keeps running and bills nothing; after the fix and a restart it bills', async () => {
    const cfgDir = path.join(root, 'badflows');
    const cfg = writeFile(
      path.join(cfgDir, 'm2m-gateway.yaml'),
      `version: 1
gateway: { id: e2e-bad, dataDir: ./data, currency: ${CURRENCY}, timezone: Europe/Oslo }
http: { listen: "127.0.0.1:0" }
links:
  - { id: plant, type: modbus-tcp, host: 127.0.0.1, port: ${peer!.port} }
devices:
  - id: pump-3
    link: plant
    unitId: 3
    pollMs: 100
    points:
      - { name: water, kind: counter, area: holding, address: 0, type: uint32, unit: L }
`,
    );
    const flows = path.join(cfgDir, 'data', 'flows.json');
    writeFile(flows, flowsJson([tariff('bad-1', 'pump water', 'pump-*', 'water', 'waterworks', 'abc')]));
    let unpriced = 0n; // litres metered while no valid policy existed

    let d = await GatewayProcess.start(['start', '--config', cfg]);
    const tok = (await runCli(['token', '--config', cfg])).stdout.trim();
    let client = new ApiClient(d.url, tok);
    await waitForPoint(client, 'pump-3', 'water', '100');
    await peer!.set('holding', 0, words32(150n), 3);
    await waitForPoint(client, 'pump-3', 'water', '150');
    unpriced += 50n;
    // Still running, the error logged naming the node, nothing billed (quantity metered, no payee).
    await waitForLedger(client, [
      {
        device: 'pump-3',
        point: 'water',
        account: 'pump-3',
        payee: '',
        quantity: format(unpriced * 1_000_000n, 6),
        amount: format(0n, 9),
        currency: CURRENCY,
      },
    ]);
    expect(d.running).toBe(true);
    // The error is logged (pino level 50) with the node's label and what is wrong with it.
    const logText = (l: Record<string, unknown>) =>
      Object.values(l)
        .filter((v) => typeof v === 'string')
        .join('\n');
    const policyErrors = d
      .logLines()
      .filter((l) => l.level === 50 && logText(l).includes('m2m-tariff "pump water" (bad-1): price: "abc" is not a decimal'));
    expect(policyErrors).toHaveLength(1);
    expect((await client.get<unknown[]>('/api/channels')).length).toBe(0);
    expect(await d.stop('SIGTERM')).toEqual({ code: 0, signal: null });

    // Fix the price, restart: billing works from the first reading after the restart.
    const price = '0.123456789';
    writeFile(flows, flowsJson([tariff('bad-1', 'pump water', 'pump-*', 'water', 'waterworks', price)]));
    const priced = new CounterOracle('pump-3', 'water', 'pump-3', 'waterworks', 32, '1', price);
    priced.read(150n);
    d = await GatewayProcess.start(['start', '--config', cfg]);
    client = new ApiClient(d.url, tok);
    await peer!.set('holding', 0, words32(1_150n), 3);
    await waitForPoint(client, 'pump-3', 'water', '1150');
    priced.read(1_150n);
    await peer!.set('holding', 0, words32(1_333n), 3);
    await waitForPoint(client, 'pump-3', 'water', '1333');
    priced.read(1_333n);
    await waitForLedger(client, [
      {
        device: 'pump-3',
        point: 'water',
        account: 'pump-3',
        payee: '',
        quantity: format(unpriced * 1_000_000n, 6),
        amount: format(0n, 9),
        currency: CURRENCY,
      },
      priced.row(CURRENCY),
    ]);
    expect(d.logLines().filter((l) => l.level === 50)).toEqual([]);
    expect(await d.stop('SIGTERM')).toEqual({ code: 0, signal: null });
  });
});

// ---------------------------------------------------------------------------
// 4–5: configs on the command line

describe('config check, start and init on the command line', () => {
  test('config check lists every error by path and exits 2; start on the same file exits 2', async () => {
    const file = writeFile(
      path.join(root, 'invalid', 'm2m-gateway.yaml'),
      `version: 1
gateway:
  id: gw-bad
  currency: NOK
  timezone: Mars/Olympus_Mons
http:
  listen: 127.0.0.1:0
links:
  - { id: plant, type: modbus-tcp, host: 127.0.0.1, port: 70000 }
devices:
  - id: purifier-1
    link: plant
    unitId: 300
    points:
      - { name: water, kind: counter, area: holding, address: 0, type: uint17 }
`,
    );
    const r = await runCli(['config', 'check', '--config', file]);
    expect(r.code).toBe(2);
    // One line per problem: `path: message (line L, column C)`, in file order.
    const problems = r.stderr
      .split('\n')
      .map((l) => /^(\S+): .* \(line (\d+), column \d+\)$/.exec(l))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => [m[1], Number(m[2])]);
    expect(problems).toEqual([
      ['gateway.timezone', 5],
      ['links[0].port', 9],
      ['devices[0].unitId', 13],
      ['devices[0].points[0].type', 15],
    ]);
    const start = await runCli(['start', '--config', file]);
    expect(start.code).toBe(2);
    expect(start.stderr).toContain('devices[0].points[0].type');
  });

  test('invalid YAML exits 2 naming the line and column', async () => {
    const file = writeFile(
      path.join(root, 'badyaml', 'm2m-gateway.yaml'),
      'version: 1\ngateway:\n  id: [gw-1\nhttp:\n  listen: "127.0.0.1:0"\n',
    );
    const r = await runCli(['config', 'check', '--config', file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/YAML syntax error: .*\(line 4, column 1\)/); // the unclosed [ of line 3 is found at line 4
  });

  test('init writes a config that config check accepts, and refuses to overwrite without --force', async () => {
    const file = path.join(root, 'init', 'etc', 'm2m-gateway.yaml');
    const first = await runCli(['init', '--config', file]);
    expect(first.code).toBe(0);
    const written = fs.readFileSync(file, 'utf8');
    const check = await runCli(['config', 'check', '--config', file]);
    expect({ code: check.code, stderr: check.stderr }).toEqual({ code: 0, stderr: '' });
    expect(check.stdout).toMatch(/OK/);

    fs.writeFileSync(file, `# my edits\n${written}`);
    const again = await runCli(['init', '--config', file]);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/--force/);
    expect(fs.readFileSync(file, 'utf8')).toBe(`# my edits\n${written}`);

    const forced = await runCli(['init', '--config', file, '--force']);
    expect(forced.code).toBe(0);
    expect(fs.readFileSync(file, 'utf8')).toBe(written);
  });
});

// ---------------------------------------------------------------------------
// 6: the demo

describe('m2m-gateway demo', () => {
  test('prints the API URL and token, meters purifier-1 and meter-1, SIGINT exits 0', async () => {
    const dataDir = path.join(root, 'demo');
    const demo = await GatewayProcess.start(['demo', '--data-dir', dataDir, '--port', '0', '--summary-ms', '500'], {
      urlPattern: /API:\s+(http:\/\/127\.0\.0\.1:\d+)/,
    });
    expect(demo.url).not.toMatch(/:0$/);
    const token = /token:\s+(\S+)/.exec(demo.stdout)?.[1];
    expect(token).toBeDefined();
    const api = new ApiClient(demo.url, token);
    const devices = await api.get<DeviceView[]>('/api/devices');
    expect(devices.map((d) => d.id).sort()).toEqual(['meter-1', 'purifier-1']);

    // The ledger grows: metered litres/kWh and the money they cost.
    const totals = async () => {
      const rows = await api.get<LedgerRow[]>('/api/ledger');
      return { qty: rows.reduce((s, r) => s + fixed(r.quantity, 6), 0n), amount: rows.reduce((s, r) => s + fixed(r.amount, 9), 0n) };
    };
    const first = await waitFor(
      async () => {
        const t = await totals();
        return t.qty > 0n && t.amount > 0n ? t : undefined;
      },
      'the demo ledger to record billed consumption',
      15_000,
      200,
    );
    await waitFor(
      async () => {
        const t = await totals();
        return t.qty > first.qty && t.amount > first.amount ? t : undefined;
      },
      'the demo ledger to grow',
      15_000,
      200,
    );
    expect(demo.stdout).toMatch(/^\[\d\d:\d\d:\d\d\] water \d+\.\d{6} L, .* purifier-1:ok meter-1:ok$/m); // the summary line

    expect(await demo.stop('SIGINT', 10_000)).toEqual({ code: 0, signal: null });
    expect(demo.stdout).toMatch(/demo stopped/);
    expect(demo.logLines().filter((l) => Number(l.level) >= 50)).toEqual([]);
  });
});
