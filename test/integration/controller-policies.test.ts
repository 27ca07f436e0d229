/**
 * The controller's policy actions, in-process against a simulated device on a
 * loopback Modbus TCP port: a credit limit with action cutoff switches the
 * device's valve off (confirmed by read-back) once the account passes its
 * limit, and an m2m-alarm raises an event when the cartridge runs low.
 */
import type { Gateway } from '../../gateway/daemon/gateway';
import type { RegisterBank } from '../../gateway/cli/demo/register-bank';
import { startTestGateway, until, type TestGateway } from '../helper/in-process-gateway';

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
    action: 'cutoff',
    device: 'purifier-1',
    point: 'valve',
    wires: [],
  },
  {
    id: 'n3',
    type: 'm2m-alarm',
    z: 't',
    name: 'cartridge low',
    devices: 'purifier-*',
    point: 'cartridge',
    below: '10',
    hysteresis: '2',
    wires: [],
  },
];

describe('controller policy actions', () => {
  let rig: TestGateway | undefined;
  let bank: RegisterBank;
  let gw: Gateway | null = null;

  beforeAll(async () => {
    rig = await startTestGateway({
      prefix: 'm2m-ctl-',
      flows,
      registers: (b) => {
        b.setUint32(b.holding, 0, 100);
        b.holding[20] = 80;
        b.coils[0] = 1;
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
      - { name: valve, kind: switch, area: coil, address: 0, writable: true }
`,
    });
    ({ gw, bank } = rig);
  });

  afterAll(() => rig?.stop());

  const kinds = () => gw!.ledger.events({}).map((e) => e.kind);
  const water = () => gw!.ledger.ledgerTotals({ device: 'purifier-1', point: 'water' }).find((t) => t.payee === 'waterworks');

  it('cuts the valve off when the account passes its credit limit, confirmed by read-back', async () => {
    await until(() => gw!.views.get('purifier-1')?.points.water.value === '100', 'baseline read', 10_000);
    bank.setUint32(bank.holding, 0, 103); // 3 NOK: under the limit of 5
    await until(() => water()?.amountNano === 3_000_000_000n, '3 NOK accrued', 10_000);
    expect(bank.coils[0]).toBe(1);
    expect(kinds()).not.toContain('credit-over');
    bank.setUint32(bank.holding, 0, 110); // 10 NOK: over
    await until(() => kinds().includes('cutoff'), 'cutoff event', 10_000);
    expect(bank.coils[0]).toBe(0);
    const over = gw!.ledger.events({ kinds: ['credit-over'] });
    expect(over).toHaveLength(1);
    expect(over[0]).toMatchObject({ account: 'purifier-1', detail: { unsettled: '10.000000000' } });
    const [cut] = gw!.ledger.events({ kinds: ['cutoff'] });
    expect(cut).toMatchObject({ device: 'purifier-1', point: 'valve', account: 'purifier-1', detail: { on: false, confirmed: 'false' } });
    // further consumption bills on, but the limit event is not repeated
    bank.setUint32(bank.holding, 0, 111);
    await until(() => water()?.amountNano === 11_000_000_000n, '11 NOK accrued', 10_000);
    expect(gw!.ledger.events({ kinds: ['credit-over'] })).toHaveLength(1);
  });

  it('raises the cartridge alarm once, and clears it past the hysteresis', async () => {
    bank.holding[20] = 9;
    await until(() => kinds().includes('alarm'), 'alarm event', 10_000);
    bank.holding[20] = 11; // inside the hysteresis band: still raised
    await until(() => gw!.views.get('purifier-1')?.points.cartridge.value === '11', 'cartridge 11 read', 10_000);
    bank.holding[20] = 12;
    await until(() => kinds().includes('alarm-clear'), 'alarm-clear event', 10_000);
    expect(kinds().filter((k) => k === 'alarm')).toHaveLength(1);
  });
});
