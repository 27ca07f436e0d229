/**
 * node-red-contrib-m2m-gateway in a stock Node-RED: the package is packed
 * (npm pack flows/), installed into a fresh Node-RED user directory the way the
 * palette manager does it (npm install <tarball>), and a stock Node-RED
 * (the node-red package's own red.js, its own process) runs flows that name an
 * m2m-gateway config node pointing at a running gateway (the built CLI, editor
 * off) that meters a pymodbus peer:
 *
 *  - the deployed tariff becomes the gateway's policy and bills at its price;
 *  - m2m-in delivers the gateway's readings into the flow (written to a file by
 *    Node-RED's core `file` node);
 *  - m2m-write writes a setpoint, confirmed by the gateway's read-back, and the
 *    peer holds the value;
 *  - a redeploy with a bad price is rejected by the gateway, the node shows
 *    the gateway's problem, and the previous tariff keeps billing.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { ApiClient } from '../helper/gateway-api';
import { GatewayProcess, killAllProcesses, REPO_ROOT, requireBuild } from '../helper/daemon-process';
import { startModbusPeer, type ModbusPeer } from '../sim/modbus-peer';

jest.setTimeout(120_000);

const NODE_RED_MAIN = path.join(REPO_ROOT, 'node_modules', 'node-red', 'red.js');

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

async function until<T>(probe: () => Promise<T | undefined | false> | T | undefined | false, what: string, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined && v !== false) return v as T;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

let root = '';
let peer: ModbusPeer | null = null;
let gateway: GatewayProcess | null = null;
let red: ChildProcess | null = null;
let redLog = '';

afterAll(async () => {
  if (red && red.exitCode === null) {
    const gone = new Promise((r) => red!.once('exit', r));
    red.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([gone, new Promise((r) => (timer = setTimeout(r, 5000)))]);
    clearTimeout(timer);
    if (red.exitCode === null) red.kill('SIGKILL');
  }
  await killAllProcesses();
  await peer?.stop().catch(() => undefined);
  if (root) fs.rmSync(root, { recursive: true, force: true });
});

it('deploys policies from a stock Node-RED, streams readings into it and writes through it', async () => {
  requireBuild();
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'm2m-palette-'));

  // 1. the palette package, packed and installed like the palette manager does
  const packDir = path.join(root, 'pack');
  fs.mkdirSync(packDir);
  const packed = JSON.parse(
    execFileSync('npm', ['pack', '--json', '--pack-destination', packDir, path.join(REPO_ROOT, 'flows')], { encoding: 'utf8' }),
  ) as Array<{
    filename: string;
    files: Array<{ path: string }>;
  }>;
  const files = packed[0]!.files.map((f) => f.path).sort();
  expect(files).toContain('nodes/m2m-gateway.js');
  expect(files).toContain('lib/remote-bridge.js');
  expect(files.some((f) => f.startsWith('test') || f.endsWith('.ts'))).toBe(false);
  const userDir = path.join(root, 'red');
  fs.mkdirSync(userDir);
  fs.writeFileSync(path.join(userDir, 'package.json'), JSON.stringify({ name: 'node-red-project', private: true }));
  execFileSync('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', path.join(packDir, path.basename(packed[0]!.filename))], {
    cwd: userDir,
    stdio: 'pipe',
  });
  expect(fs.existsSync(path.join(userDir, 'node_modules', 'node-red-contrib-m2m-gateway', 'nodes', 'm2m-tariff.js'))).toBe(true);

  // 2. a pymodbus peer and the gateway (editor off: this Node-RED owns the policies)
  peer = await startModbusPeer({ units: { 1: { holding: { 0: [0, 1000], 30: [0] } } } });
  const gwDir = path.join(root, 'gw');
  fs.mkdirSync(gwDir);
  const config = path.join(gwDir, 'm2m-gateway.yaml');
  fs.writeFileSync(
    config,
    `version: 1
gateway: { id: palette-gw, dataDir: ./data, currency: NOK, timezone: UTC }
http: { listen: "127.0.0.1:0", editor: false }
links:
  - { id: plant, type: modbus-tcp, host: 127.0.0.1, port: ${peer.port}, timeoutMs: 500 }
devices:
  - id: purifier-1
    link: plant
    unitId: 1
    pollMs: 100
    points:
      - { name: water, kind: counter, area: holding, address: 0, type: uint32, unit: L }
      - { name: cycle, kind: setpoint, area: holding, address: 30, type: uint16, writable: true }
`,
  );
  gateway = await GatewayProcess.start(['start', '--config', config]);
  const token = fs.readFileSync(path.join(gwDir, 'data', 'secrets.json'), 'utf8');
  const adminToken = (JSON.parse(token) as { adminToken: string }).adminToken;
  const api = new ApiClient(gateway.url, adminToken);
  await until(
    async () => (await api.get<Array<{ points: Record<string, { value: unknown }> }>>('/api/devices'))[0]?.points.water?.value === '1000',
    'the baseline reading',
  );

  // 3. a stock Node-RED with flows naming the gateway
  const redPort = await freePort();
  const readingsFile = path.join(root, 'readings.jsonl');
  const flows = [
    { id: 'tab0001', type: 'tab', label: 'site' },
    { id: 'gw000001', type: 'm2m-gateway', name: 'plant', url: gateway.url },
    {
      id: 'tariff01',
      type: 'm2m-tariff',
      z: 'tab0001',
      gateway: 'gw000001',
      name: 'water',
      devices: 'purifier-*',
      point: 'water',
      payee: 'waterworks',
      price: '0.5',
      tou: [],
      wires: [],
    },
    {
      id: 'in000001',
      type: 'm2m-in',
      z: 'tab0001',
      gateway: 'gw000001',
      topics: ['readings'],
      devices: 'purifier-*',
      wires: [['json0001']],
    },
    { id: 'json0001', type: 'json', z: 'tab0001', property: 'payload', action: 'str', wires: [['file0001']] },
    {
      id: 'file0001',
      type: 'file',
      z: 'tab0001',
      filename: readingsFile,
      filenameType: 'str',
      appendNewline: true,
      createDir: true,
      overwriteFile: 'false',
      encoding: 'utf8',
      wires: [],
    },
    {
      id: 'kick0001',
      type: 'inject',
      z: 'tab0001',
      once: true,
      onceDelay: 1,
      payload: '3',
      payloadType: 'num',
      topic: '',
      repeat: '',
      wires: [['write001']],
    },
    { id: 'write001', type: 'm2m-write', z: 'tab0001', gateway: 'gw000001', device: 'purifier-1', point: 'cycle', wires: [[], []] },
  ];
  fs.writeFileSync(path.join(userDir, 'flows.json'), JSON.stringify(flows));
  fs.writeFileSync(path.join(userDir, 'flows_cred.json'), JSON.stringify({ gw000001: { token: adminToken } }));
  fs.writeFileSync(
    path.join(userDir, 'settings.js'),
    `module.exports = { uiHost: '127.0.0.1', uiPort: ${redPort}, flowFile: 'flows.json', credentialSecret: false, logging: { console: { level: 'warn' } }, editorTheme: { tours: false } };\n`,
  );
  red = spawn(process.execPath, [NODE_RED_MAIN, '--userDir', userDir, '--settings', path.join(userDir, 'settings.js')], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  red.stdout!.on('data', (b: Buffer) => (redLog = (redLog + b.toString()).slice(-20_000)));
  red.stderr!.on('data', (b: Buffer) => (redLog = (redLog + b.toString()).slice(-20_000)));

  // the tariff became the gateway's policy, and it bills at its price
  await until(async () => {
    const text = fs.existsSync(path.join(gwDir, 'data', 'flows.json'))
      ? fs.readFileSync(path.join(gwDir, 'data', 'flows.json'), 'utf8')
      : '';
    return text.includes('"tariff01"');
  }, `the gateway to receive the tariff\n${redLog}`);
  await peer.set('holding', 0, [0, 1010]);
  await until(async () => {
    const rows = await api.get<Array<{ point: string; quantity: string; amount: string }>>('/api/ledger');
    const row = rows.find((r) => r.point === 'water');
    return row && row.quantity === '10.000000' && row.amount === '5.000000000';
  }, 'water billed at 0.5 NOK/L');

  // m2m-in: readings arrive in the flow
  const reading = await until(() => {
    if (!fs.existsSync(readingsFile)) return undefined;
    const lines = fs.readFileSync(readingsFile, 'utf8').trim().split('\n').filter(Boolean);
    return lines
      .map((l) => JSON.parse(l) as { device: string; points: Record<string, { value: unknown }> })
      .find((m) => m.points.water?.value === '1010');
  }, `a reading in the flow\n${redLog}`);
  expect(reading.device).toBe('purifier-1');

  // m2m-write: the inject wrote cycle = 3, read back by the gateway; the peer holds it
  await until(async () => (await peer!.get('holding', 30, 1))[0] === 3, 'the setpoint written through Node-RED');

  // 4. a redeploy with a bad price: the gateway rejects it, the previous tariff keeps billing
  const bad = flows.map((n) => (n.id === 'tariff01' ? { ...n, price: 'abc' } : n));
  const deploy = await fetch(`http://127.0.0.1:${redPort}/flows`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'Node-RED-Deployment-Type': 'full' },
    body: JSON.stringify(bad),
  });
  expect(deploy.status).toBe(204);
  const rejected = await until(async () => {
    const events = await api.get<Array<{ kind: string; data?: { error?: string } }>>('/api/events?kind=policy-rejected');
    return events[0];
  }, 'the rejection recorded by the gateway');
  expect(rejected.data?.error).toMatch(/price/);
  await peer.set('holding', 0, [0, 1020]);
  await until(async () => {
    const rows = await api.get<Array<{ point: string; amount: string }>>('/api/ledger');
    return rows.find((r) => r.point === 'water')?.amount === '10.000000000';
  }, 'the previous tariff still billing');
});
