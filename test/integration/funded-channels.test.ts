/**
 * Funded channels (docs/settlement.md), in process against a simulated
 * purifier: a channel's vouchers never exceed its deposit; the gateway's own
 * vouchers do not lower what the account owes, so they cannot lift a credit
 * cut-off; only what the payee's collector (in process, pulling with a payee
 * token) reports as received does.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { ChannelView } from '../../gateway/api/backend';
import { ensureBuyerToken } from '../../gateway/api/buyer-tokens';
import { silentLogger } from '../../gateway/base/log';
import { startCollector, type CollectorHandle } from '../../gateway/cli/collect';
import { freePort } from '../../gateway/cli/demo/free-port';
import type { RegisterBank } from '../../gateway/cli/demo/register-bank';
import type { Gateway } from '../../gateway/daemon/gateway';
import { ApiClient } from '../helper/gateway-api';
import { startTestGateway, until, type TestGateway } from '../helper/in-process-gateway';

jest.setTimeout(30_000);

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
    price: '1',
    tou: [],
    wires: [],
  },
  {
    id: 'n2',
    type: 'm2m-credit-limit',
    z: 't',
    name: 'credit',
    account: 'purifier-1',
    limit: '5',
    rearm: '2',
    action: 'cutoff',
    device: 'purifier-1',
    point: 'valve',
    wires: [],
  },
];

describe('funded channels and credit that only the payee can lift', () => {
  let rig: TestGateway | undefined;
  let bank: RegisterBank;
  let gw: Gateway;
  let collector: CollectorHandle | null = null;
  let collectPort = 0;

  beforeAll(async () => {
    collectPort = await freePort();
    rig = await startTestGateway({
      prefix: 'm2m-funded-',
      flows,
      registers: (b) => {
        b.setUint32(b.holding, 0, 100);
        b.coils[0] = 1;
      },
      beforeStart: (d) => {
        fs.mkdirSync(path.join(d, 'ww'), { mode: 0o700 });
        fs.writeFileSync(path.join(d, 'ww', 'token'), 'x'.repeat(43), { mode: 0o600 }); // the collector's token, made before it starts
      },
      yaml: ({ port }) => `version: 1
gateway: { id: t, dataDir: ., timezone: UTC, currency: NOK }
settlement:
  threshold: "1"
  intervalS: 1
  payees:
    waterworks: { deposit: "8", receivables: "http://127.0.0.1:${collectPort}", tokenFile: ./ww/token, pollMs: 200 }
links: [ { id: plant, type: modbus-tcp, host: 127.0.0.1, port: ${port}, timeoutMs: 500 } ]
devices:
  - id: purifier-1
    link: plant
    unitId: 1
    pollMs: 50
    points:
      - { name: water, kind: counter, area: holding, address: 0, type: uint32, unit: L }
      - { name: valve, kind: switch, area: coil, address: 0, writable: true }
`,
    });
    ({ bank } = rig);
    gw = rig.gw!;
  });

  afterAll(async () => {
    await collector?.stop();
    await rig?.stop();
  });

  const api = () => new ApiClient(gw.apiUrl, gw.adminToken);
  const channel = async () => (await api().get<ChannelView[]>('/api/channels')).find((c) => c.id === 'purifier-1>waterworks');
  const kinds = (k: string) => gw.ledger.events({ kinds: [k] });

  test('vouchers alone never lift the cut-off; they stop at the deposit; what the payee received does lift it', async () => {
    // No collector answers yet: the channel waits (restore safety), the health says so.
    expect((await api().get<{ settlement: unknown }>('/api/health')).settlement).toEqual({
      state: 'resyncing',
      resyncing: ['waterworks'],
      restored: [],
    });
    const dir = rig!.dir;
    const payeeToken = ensureBuyerToken(dir, 'waterworks', new Date(), 'payee').token;
    fs.writeFileSync(path.join(dir, 'ww', 'gw.token'), payeeToken, { mode: 0o600 });
    await until(() => gw.views.get('purifier-1')?.points.water?.value === '100', 'baseline read');
    bank.setUint32(bank.holding, 0, 110); // 10 NOK owed: over the limit of 5
    await until(() => kinds('cutoff').length === 1, 'cut-off');
    expect(bank.coils[0]).toBe(0);

    // Without the payee the channel does not settle at all; with it (below), vouchers stop at the deposit.
    collector = await startCollector(
      {
        payees: ['waterworks'],
        dataDir: path.join(dir, 'ww'),
        listen: `127.0.0.1:${collectPort}`,
        gateways: [{ url: gw.apiUrl, tokenFile: path.join(dir, 'ww', 'gw.token'), pollMs: 200 }],
        payers: {},
        configFile: '',
      },
      silentLogger(),
    );
    await until(async () => (await channel())?.vouchered === '8.000000000', 'a voucher at the deposit');
    await until(async () => (await channel())?.received === '8.000000000', 'the payee to report it received');
    expect(await channel()).toMatchObject({ accrued: '10.000000000', vouchered: '8.000000000', deposit: '8.000000000', lastSeq: 1 });
    expect(kinds('deposit-exhausted')).toHaveLength(1);
    // Received 8 of 10: owes 2 = the re-arm level, so the valve is switched on again.
    await until(() => kinds('credit-under').length === 1 && bank.coils[0] === 1, 'credit-under and the valve on again');

    // More consumption: vouchers stay at the deposit, nothing more is received, the cut-off holds.
    bank.setUint32(bank.holding, 0, 120);
    await until(() => kinds('cutoff').length === 3, 'cut off again');
    await new Promise((r) => setTimeout(r, 2500)); // two settlement intervals
    expect(await channel()).toMatchObject({ accrued: '20.000000000', vouchered: '8.000000000', received: '8.000000000', lastSeq: 1 });
    expect(kinds('credit-under')).toHaveLength(1);
    expect(bank.coils[0]).toBe(0);
  });
});
