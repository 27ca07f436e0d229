/**
 * The data marketplace (docs/architecture.md §7), in-process against a simulated
 * purifier on a loopback Modbus TCP port: m2m-offer nodes sell `hardness` to
 * lab-1 and lab-2 and `cartridge` to lab-2 only. Buyers subscribe to the
 * WebSocket stream with their own tokens (buyers.json), see only what they
 * bought, and every reading delivered is billed as quantity 1 of
 * `data:<point>` on the channel buyer → device account, exactly, also across
 * a restart. Buyer tokens are refused on every REST route (403).
 */
import fs from 'node:fs';
import type { Gateway } from '../../gateway/daemon/gateway';
import { buyersPath, ensureBuyerToken } from '../../gateway/api/buyer-tokens';
import { RegisterBank } from '../../gateway/cli/demo/register-bank';
import { ApiClient } from '../helper/gateway-api';
import { startTestGateway, until, type TestGateway } from '../helper/in-process-gateway';
import { StreamClient } from '../helper/stream-client';

const flows = [
  { id: 't', type: 'tab', label: 'market' },
  {
    id: 'o1',
    type: 'm2m-offer',
    z: 't',
    name: 'hardness',
    devices: 'purifier-*',
    point: 'hardness',
    price: '0.01',
    buyers: ['lab-1', 'lab-2'],
    wires: [],
  },
  {
    id: 'o2',
    type: 'm2m-offer',
    z: 't',
    name: 'cartridge',
    devices: 'purifier-1',
    point: 'cartridge',
    price: '0.5',
    buyers: ['lab-2'],
    wires: [],
  },
];

describe('data marketplace', () => {
  let rig: TestGateway | undefined;
  let dir: string;
  let bank: RegisterBank;
  let port: number;
  let gw: Gateway | null = null;
  let admin: ApiClient;
  let lab1Token: string;

  const yaml = ({ port }: { port: number }) => `version: 1
gateway: { id: t, dataDir: ., timezone: UTC, currency: NOK }
links: [ { id: plant, type: modbus-tcp, host: 127.0.0.1, port: ${port}, timeoutMs: 500 } ]
devices:
  - id: purifier-1
    link: plant
    unitId: 1
    pollMs: 40
    account: owner-1
    points:
      - { name: water, kind: counter, area: holding, address: 0, type: uint32, unit: L }
      - { name: hardness, kind: gauge, area: input, address: 10, type: int16, scale: "0.1", unit: dH }
      - { name: cartridge, kind: gauge, area: holding, address: 20, type: uint16, unit: "%" }
`;
  const start = async () => {
    gw = await rig!.startGateway();
    admin = new ApiClient(gw.apiUrl, gw.adminToken);
  };
  const dataTotal = (point: string, buyer: string) =>
    gw!.ledger.ledgerTotals({ device: 'purifier-1', point }).find((t) => t.account === buyer && t.payee === 'owner-1');

  beforeAll(async () => {
    rig = await startTestGateway({
      prefix: 'm2m-market-',
      flows,
      registers: (b) => {
        b.setUint32(b.holding, 0, 100);
        b.input[10] = 123; // 12.3 dH
        b.holding[20] = 80;
      },
      yaml,
      beforeStart: (d) => {
        lab1Token = ensureBuyerToken(d, 'lab-1').token; // before start; lab-2 gets its token while running
      },
    });
    ({ gw, bank, dir, port } = rig);
    admin = new ApiClient(gw!.apiUrl, gw!.adminToken);
  });

  afterAll(async () => {
    await rig?.stop();
    await bank?.close(); // the device the restart test started (closing twice is fine)
  });

  it('creates buyer tokens once, private (0600), and the CLI answers the same token again', () => {
    const again = ensureBuyerToken(dir, 'lab-1');
    expect(again).toEqual({ token: lab1Token, created: false });
    expect(fs.statSync(buyersPath(dir)).mode & 0o777).toBe(0o600);
    expect(() => ensureBuyerToken(dir, 'bad account')).toThrow(/not a valid account id/);
  });

  it('refuses buyer tokens on every REST route and /metrics (403), unknown tokens with 401', async () => {
    const buyer = admin.withToken(lab1Token);
    for (const route of ['/api/devices', '/api/ledger', '/api/accounts', '/api/channels', '/api/vouchers', '/api/events', '/metrics']) {
      expect([route, (await buyer.request('GET', route)).status]).toEqual([route, 403]);
    }
    expect((await buyer.post('/api/devices/purifier-1/points/cartridge', { value: 1 })).status).toBe(403);
    expect((await admin.withToken('x'.repeat(43)).request('GET', '/api/devices')).status).toBe(401);
    expect((await buyer.request('GET', '/api/health')).status).toBe(200);
  });

  it('delivers only offered points to each buyer and meters every delivery exactly', async () => {
    const lab2Token = ensureBuyerToken(dir, 'lab-2').token; // picked up by the running daemon
    const nobody = ensureBuyerToken(dir, 'nobody').token; // a buyer no offer names
    const c1 = StreamClient.connect(gw!.apiUrl, lab1Token);
    const c2 = StreamClient.connect(gw!.apiUrl, lab2Token);
    const c3 = StreamClient.connect(gw!.apiUrl, nobody);
    await Promise.all([c1.opened, c2.opened, c3.opened]);
    expect(await c1.next('ready')).toMatchObject({ principal: 'buyer' });

    c1.send({ type: 'subscribe', topics: ['events'] });
    expect(await c1.next('error')).toMatchObject({ error: { code: 'GW_ERR_FORBIDDEN' } });
    for (const c of [c1, c2, c3]) c.send({ type: 'subscribe', topics: ['readings'] });
    await Promise.all([c1.next('subscribed'), c2.next('subscribed'), c3.next('subscribed')]);

    await until(() => c1.readings().length >= 5 && c2.readings().length >= 5, 'buyers receive readings');
    // Stop the data: the device stops answering, so no further readings are delivered.
    await bank.close();
    await until(() => gw!.views.get('purifier-1')?.state !== 'ok', 'device no longer ok');
    await Promise.all([c1.sync(), c2.sync(), c3.sync()]);

    const r1 = c1.readings();
    const r2 = c2.readings();
    for (const r of r1) expect(Object.keys(r.points)).toEqual(['hardness']);
    // The bank closes mid-poll: the last reading may hold only the block read before it went.
    for (const r of r2.slice(0, -1)) expect(Object.keys(r.points).sort()).toEqual(['cartridge', 'hardness']);
    expect(['cartridge', 'hardness']).toEqual(expect.arrayContaining(Object.keys(r2.at(-1)!.points)));
    expect(r1[0]).toMatchObject({ device: 'purifier-1', points: { hardness: { value: '12.3', unit: 'dH' } } });
    expect(c3.readings()).toEqual([]);

    // quantity 1 of data:<point> per delivery, at the offer price, buyer → device account
    const delivered = (rs: typeof r1, point: string) => BigInt(rs.filter((r) => point in r.points).length);
    const n1 = delivered(r1, 'hardness');
    const n2h = delivered(r2, 'hardness');
    const n2c = delivered(r2, 'cartridge');
    await until(
      () =>
        dataTotal('data:hardness', 'lab-1')?.quantityMicro === n1 * 1_000_000n &&
        dataTotal('data:hardness', 'lab-2')?.quantityMicro === n2h * 1_000_000n &&
        dataTotal('data:cartridge', 'lab-2')?.quantityMicro === n2c * 1_000_000n,
      'deliveries committed',
    );
    expect(dataTotal('data:hardness', 'lab-1')?.amountNano).toBe(n1 * 10_000_000n); // 0.01 NOK each
    expect(dataTotal('data:hardness', 'lab-2')?.amountNano).toBe(n2h * 10_000_000n);
    expect(dataTotal('data:cartridge', 'lab-2')?.amountNano).toBe(n2c * 500_000_000n); // 0.5 NOK each
    expect(dataTotal('data:cartridge', 'lab-1')).toBeUndefined();
    expect(gw!.ledger.ledgerTotals({}).some((t) => t.account === 'nobody')).toBe(false);

    const channels = await admin.get<Array<{ id: string; payer: string; payee: string; accrued: string }>>('/api/channels');
    expect(channels.find((c) => c.id === 'lab-1>owner-1')).toMatchObject({
      payer: 'lab-1',
      payee: 'owner-1',
      accrued: fmt(n1 * 10_000_000n),
    });
    expect(channels.find((c) => c.id === 'lab-2>owner-1')).toMatchObject({ accrued: fmt(n2h * 10_000_000n + n2c * 500_000_000n) });
    const rows = await admin.get<Array<Record<string, string>>>('/api/ledger?point=data:hardness');
    expect(rows.find((r) => r.account === 'lab-1' && r.payee === 'owner-1')).toEqual({
      device: 'purifier-1',
      point: 'data:hardness',
      account: 'lab-1',
      payee: 'owner-1',
      quantity: `${n1}.000000`,
      amount: fmt(n1 * 10_000_000n),
      currency: 'NOK',
    });
    const metrics = await admin.request('GET', '/metrics');
    expect(metrics.text).toContain(`m2m_market_deliveries_total{buyer="lab-1"} ${n1}\n`);
    expect(metrics.text).toContain(`m2m_market_deliveries_total{buyer="lab-2"} ${n2h + n2c}\n`);
    expect(metrics.text).toContain('m2m_market_unmetered_total 0\n');
    await Promise.all([c1.close(), c2.close(), c3.close()]);
  });

  it('continues the delivery count across a restart: the next delivery is billed, nothing twice', async () => {
    const before = dataTotal('data:hardness', 'lab-1')!;
    await gw!.stop();
    gw = null;
    bank = new RegisterBank();
    bank.input[10] = 99;
    await bank.listen('127.0.0.1', port, 1);
    await start();
    const c = StreamClient.connect(gw!.apiUrl, lab1Token);
    await c.opened;
    c.send({ type: 'subscribe', topics: ['readings'], devices: ['purifier-*'] });
    await c.next('subscribed');
    await until(() => c.readings().length >= 3, 'readings after restart');
    await bank.close();
    await until(() => gw!.views.get('purifier-1')?.state !== 'ok', 'device no longer ok');
    await c.sync();
    const n = BigInt(c.readings().length);
    await until(
      () => dataTotal('data:hardness', 'lab-1')?.quantityMicro === before.quantityMicro + n * 1_000_000n,
      'restart deliveries committed',
    );
    expect(dataTotal('data:hardness', 'lab-1')?.amountNano).toBe(before.amountNano + n * 10_000_000n);
    await c.close();
  });
});

function fmt(nano: bigint): string {
  return `${nano / 1_000_000_000n}.${(nano % 1_000_000_000n).toString().padStart(9, '0')}`;
}
