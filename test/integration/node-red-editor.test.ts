/**
 * The embedded Node-RED editor, in-process against a simulated purifier on a
 * loopback Modbus TCP port: /admin needs the editor password; a deploy through
 * the admin HTTP API is compiled into the core (new policy version in the
 * ledger, billing at the new price); an invalid deploy is rejected for the
 * core (old price keeps billing) and the offending node turns red with a
 * message naming it, seen on the editor's comms WebSocket.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Gateway } from '../../gateway/daemon/gateway';
import type { RegisterBank } from '../../gateway/cli/demo/register-bank';
import { startTestGateway, until, type TestGateway } from '../helper/in-process-gateway';
import { WebSocket } from 'ws';
import { editorToken, NodeRedAdmin, type StatusFeed } from '../helper/node-red-admin';

/** Open a WebSocket and report what the server answered: 'open' or the HTTP status of a refusal. */
function upgradeOutcome(url: string): Promise<string> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url);
    ws.once('open', () => {
      ws.close();
      resolve('open');
    });
    ws.once('unexpected-response', (_req, res) => {
      resolve(String(res.statusCode));
      ws.terminate();
    });
    ws.once('error', (e) => resolve(`error ${e.message}`));
  });
}

const TAB = { id: 't1', type: 'tab', label: 'policies', disabled: false, info: '' };
const tariff = (price: string) => ({
  id: 'n1',
  type: 'm2m-tariff',
  z: 't1',
  name: 'water',
  devices: 'purifier-*',
  point: 'water',
  payee: 'waterworks',
  price,
  tou: [],
  x: 160,
  y: 80,
  wires: [],
});
const ALARM = {
  id: 'n2',
  type: 'm2m-alarm',
  z: 't1',
  name: 'cartridge low',
  devices: 'purifier-*',
  point: 'cartridge',
  below: '10',
  above: '',
  hysteresis: '2',
  x: 160,
  y: 140,
  wires: [[]],
};

const debugNode = (id: string) => ({
  id,
  type: 'debug',
  z: 't1',
  name: id,
  active: true,
  tosidebar: true,
  console: false,
  tostatus: false,
  complete: 'true',
  targetType: 'full',
  statusVal: '',
  statusType: 'auto',
  x: 600,
  y: 300,
  wires: [],
});
const injectNode = (id: string, payload: string, to: string) => ({
  id,
  type: 'inject',
  z: 't1',
  name: id,
  props: [{ p: 'payload' }],
  repeat: '',
  crontab: '',
  once: false,
  onceDelay: 0.1,
  topic: '',
  payload,
  payloadType: 'str',
  x: 100,
  y: 300,
  wires: [[to]],
});
const IO_FLOW = [
  injectNode('i1', '42', 'w1'),
  { id: 'w1', type: 'm2m-write', z: 't1', name: 'cycle', device: 'purifier-1', point: 'cycle', x: 300, y: 300, wires: [['d1'], ['d2']] },
  injectNode('i2', '5', 'w2'),
  { id: 'w2', type: 'm2m-write', z: 't1', name: 'water', device: 'purifier-1', point: 'water', x: 300, y: 360, wires: [['d1'], ['d2']] },
  { id: 'in1', type: 'm2m-in', z: 't1', name: 'readings', topics: ['readings'], devices: 'purifier-*', x: 100, y: 420, wires: [['d3']] },
  debugNode('d1'),
  debugNode('d2'),
  debugNode('d3'),
];

describe('embedded Node-RED editor', () => {
  let rig: TestGateway | undefined;
  let dir: string;
  let bank: RegisterBank;
  let gw: Gateway | null = null;
  let admin: NodeRedAdmin;
  let status: StatusFeed | null = null;

  beforeAll(async () => {
    rig = await startTestGateway({
      prefix: 'm2m-editor-',
      flows: [TAB, tariff('1'), ALARM],
      registers: (b) => {
        b.setUint32(b.holding, 0, 100);
        b.holding[20] = 80;
      },
      yaml: ({ port }) => `version: 1
gateway: { id: t, dataDir: ., timezone: UTC }
links: [ { id: plant, type: modbus-tcp, host: 127.0.0.1, port: ${port}, timeoutMs: 500 } ]
devices:
  - id: purifier-1
    link: plant
    unitId: 1
    pollMs: 50
    points:
      - { name: water, kind: counter, area: holding, address: 0, type: uint32, unit: L }
      - { name: cartridge, kind: gauge, area: holding, address: 20, type: uint16, unit: "%" }
      - { name: cycle, kind: setpoint, area: holding, address: 30, type: uint16, writable: true }
`,
    });
    expect(rig.cfg.http.editor).toBe(true);
    ({ gw, bank, dir } = rig);
  });

  afterAll(async () => {
    status?.close();
    await rig?.stop();
  });

  const water = () => gw!.ledger.ledgerTotals({ device: 'purifier-1', point: 'water' }).find((t) => t.payee === 'waterworks');

  it('asks for the editor password', async () => {
    expect(gw!.editorUrl).toBe(`${gw!.apiUrl}/admin/`);
    expect((await fetch(`${gw!.apiUrl}/admin/flows`)).status).toBe(401);
    const page = await fetch(`${gw!.apiUrl}/admin/`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('m2m-gateway policies');
    const redirect = await fetch(`${gw!.apiUrl}/admin`, { redirect: 'manual' });
    expect(redirect.status).toBe(301);
    expect(redirect.headers.get('location')).toBe('/admin/');
    const wrong = await editorToken(gw!.apiUrl, 'not-the-password');
    expect([401, 403]).toContain(wrong.status);
    // The API's admin token is not the editor password.
    expect((await fetch(`${gw!.apiUrl}/admin/flows`, { headers: { Authorization: `Bearer ${gw!.adminToken}` } })).status).toBe(401);
    admin = await NodeRedAdmin.login(gw!.apiUrl, gw!.editorPassword);
    const { flows } = await admin.flows();
    expect(flows.find((n) => n.id === 'n1')).toMatchObject({ type: 'm2m-tariff', price: '1' });
    // The m2m-* node package is loaded from flows/.
    const nodes = (await (
      await fetch(`${gw!.apiUrl}/admin/nodes`, { headers: { Authorization: `Bearer ${admin.token}`, Accept: 'application/json' } })
    ).json()) as Array<{ module: string; types: string[] }>;
    const ours = nodes.filter((n) => n.module === 'node-red-contrib-m2m-gateway').flatMap((n) => n.types);
    expect(ours.sort()).toEqual([
      'm2m-alarm',
      'm2m-control',
      'm2m-credit-limit',
      'm2m-gateway',
      'm2m-in',
      'm2m-offer',
      'm2m-service-order',
      'm2m-tariff',
      'm2m-write',
    ]);
    // WebSockets on the shared port: the API stream still works, unknown paths are refused.
    const wsBase = gw!.apiUrl.replace(/^http/, 'ws');
    expect(await upgradeOutcome(`${wsBase}/api/stream?token=${gw!.adminToken}`)).toBe('open');
    expect(await upgradeOutcome(`${wsBase}/admin/nothing-here`)).toBe('404');
    expect(await upgradeOutcome(`${wsBase}/elsewhere`)).toBe('404');
    status = await admin.statusFeed();
    const v = gw!.policies.version;
    expect(v).toBeGreaterThan(0);
    await status.waitFor('n1', (s) => s.fill === 'green' && s.text === `v${v} active`);
  });

  it('compiles a deploy into the core: a new policy version, billed at the new price', async () => {
    await until(() => gw!.views.get('purifier-1')?.points.water?.value === '100', 'baseline read');
    bank.setUint32(bank.holding, 0, 103); // 3 L at 1 NOK
    await until(() => water()?.amountNano === 3_000_000_000n, '3 NOK accrued');
    const before = gw!.ledger.latestPolicy()!;

    const res = await admin.deploy([TAB, tariff('2'), ALARM]);
    expect(res.status).toBe(200);
    await until(() => (gw!.ledger.latestPolicy()?.version ?? 0) > before.version, 'new policy version recorded');
    const after = gw!.ledger.latestPolicy()!;
    expect(after.version).toBe(before.version + 1);
    expect(after.hash).not.toBe(before.hash);
    expect(JSON.parse(after.flowsJson).find((n: { id: string }) => n.id === 'n1').price).toBe('2');
    expect(gw!.policies.version).toBe(after.version);
    // flows.json is what was deployed (the one source of truth)
    const onDisk = JSON.parse(fs.readFileSync(path.join(dir, 'flows.json'), 'utf8')) as Array<{ id: string; price?: string }>;
    expect(onDisk.find((n) => n.id === 'n1')?.price).toBe('2');
    await status!.waitFor('n1', (s) => s.fill === 'green' && s.text === `v${after.version} active`);
    await status!.waitFor('n2', (s) => s.fill === 'green' && s.text === `v${after.version} active`);

    bank.setUint32(bank.holding, 0, 108); // 5 L at 2 NOK
    await until(() => water()?.amountNano === 13_000_000_000n, '3 + 10 NOK accrued');
  });

  it('rejects an invalid deploy for the core: the old price keeps billing, the node turns red naming itself', async () => {
    const active = gw!.ledger.latestPolicy()!;
    const res = await admin.deploy([TAB, tariff('abc'), ALARM]);
    expect(res.status).toBe(200); // Node-RED saved it; the gateway refused it for the core
    const red = await status!.waitFor('n1', (s) => s.fill === 'red');
    expect(red.text).toContain('m2m-tariff "water" (n1)');
    expect(red.text).toContain('price: "abc" is not a decimal');
    const other = await status!.waitFor('n2', (s) => s.fill === 'red');
    expect(other.text).toContain(`v${active.version} stays active`);

    expect(gw!.ledger.latestPolicy()!.version).toBe(active.version);
    expect(gw!.policies.version).toBe(active.version);
    expect(gw!.policies.lastError?.message).toContain('m2m-tariff "water" (n1)');
    // The file keeps what was deployed, for the operator to fix.
    expect(fs.readFileSync(path.join(dir, 'flows.json'), 'utf8')).toContain('"abc"');

    bank.setUint32(bank.holding, 0, 109); // 1 L, still at 2 NOK
    await until(() => water()?.amountNano === 15_000_000_000n, '13 + 2 NOK accrued');
    await until(() => gw!.ledger.events({ kinds: ['policy-rejected'] }).length === 1, 'policy-rejected event');
    expect(gw!.ledger.events({ kinds: ['policy-rejected'] })[0].detail).toMatchObject({ active: active.version });

    // Fixing it and deploying again activates the fix.
    expect((await admin.deploy([TAB, tariff('3'), ALARM])).status).toBe(200);
    await until(() => gw!.ledger.latestPolicy()!.version === active.version + 1, 'fixed policy recorded');
    await status!.waitFor('n1', (s) => s.fill === 'green' && s.text === `v${active.version + 1} active`);
  });

  it('runs m2m-in and m2m-write in a flow: readings come in, writes are confirmed or fail to output 2', async () => {
    const version = gw!.policies.version;
    expect((await admin.deploy([TAB, tariff('3'), ALARM, ...IO_FLOW])).status).toBe(200);
    await until(() => gw!.policies.version === version + 1, 'flow with m2m-in/m2m-write compiled');
    await status!.waitFor('w1', (s) => s.fill === 'green' && s.text === `v${version + 1} active`);

    const reading = await status!.waitForDebug('d3', (m) => m.topic === 'readings');
    expect(reading).toMatchObject({
      device: 'purifier-1',
      payload: { device: 'purifier-1', points: { water: { value: '109', unit: 'L' } } },
    });

    expect(await admin.inject('i1')).toBe(200);
    const ok = await status!.waitForDebug('d1', (m) => m.point === 'cycle');
    expect(ok).toMatchObject({ payload: '42', requested: '42', device: 'purifier-1', point: 'cycle' });
    expect(bank.holding[30]).toBe(42);
    await status!.waitFor('w1', (s) => s.fill === 'green' && s.text === 'cycle = 42');

    expect(await admin.inject('i2')).toBe(200);
    const failed = await status!.waitForDebug('d2', (m) => m.payload === '5');
    expect(failed.error).toMatchObject({ code: 'GW_ERR_POINT_NOT_WRITABLE' });
    expect([bank.holding[0], bank.holding[1]]).toEqual([0, 109]); // the counter was not written
    await status!.waitFor('w2', (s) => s.fill === 'red' && (s.text ?? '').includes('not writable'));
  });
});
