/**
 * Restore safety from the gateway's own published vouchers (docs/settlement.md):
 * with an MQTT uplink (a real mosquitto) and no payee collector, the gateway
 * publishes each voucher retained on `…/vouchers/<channel>`. Restored from an
 * older copy of its ledger, it reads those back before any channel settles,
 * records a `settle-resync` event, and continues after the last published
 * seq: every seq seen on the broker belongs to one voucher only.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { connect, type MqttClient } from 'mqtt';
import type { Voucher } from '../../gateway/api/backend';
import type { RegisterBank } from '../../gateway/cli/demo/register-bank';
import { MosquittoBroker } from '../helper/mosquitto-broker';
import { startTestGateway, until, type TestGateway } from '../helper/in-process-gateway';

jest.setTimeout(40_000);

const flows = [
  { id: 't', type: 'tab', label: 'p' },
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
];

describe('a restored gateway continues after its own published vouchers', () => {
  let broker: MosquittoBroker;
  let rig: TestGateway | undefined;
  let bank: RegisterBank;
  let watcher: MqttClient | null = null;
  const seen: Voucher[] = [];
  let water = 100;
  let brokerDir = '';

  beforeAll(async () => {
    brokerDir = fs.mkdtempSync(path.join(os.tmpdir(), 'm2m-restore-mqtt-broker-'));
    broker = await MosquittoBroker.start(brokerDir);
    watcher = connect(broker.url, { reconnectPeriod: 200 });
    watcher.on('message', (_t, p) => seen.push((JSON.parse(p.toString()) as { voucher: Voucher }).voucher));
    await new Promise<void>((resolve) => watcher!.on('connect', () => watcher!.subscribe('m2m/t/vouchers/+', { qos: 1 }, () => resolve())));
    rig = await startTestGateway({
      prefix: 'm2m-restore-mqtt-',
      flows,
      registers: (b) => b.setUint32(b.holding, 0, water),
      options: { mqttReconnect: { baseMs: 100, capMs: 500 } },
      yaml: ({ port }) => `version: 1
gateway: { id: t, dataDir: ., timezone: UTC, currency: NOK }
mqtt: { url: "${broker.url}", topicPrefix: m2m }
settlement: { threshold: "1" }
links: [ { id: plant, type: modbus-tcp, host: 127.0.0.1, port: ${port}, timeoutMs: 500 } ]
devices:
  - id: purifier-1
    link: plant
    unitId: 1
    pollMs: 40
    points:
      - { name: water, kind: counter, area: holding, address: 0, type: uint32, unit: L }
`,
    });
    bank = rig.bank;
  });

  afterAll(async () => {
    watcher?.end(true);
    await rig?.stop();
    await MosquittoBroker.stopAll();
    if (brokerDir) fs.rmSync(brokerDir, { recursive: true, force: true });
  });

  /** Consume 2 L (2 NOK) at a time until the broker has seen voucher `seq`. */
  async function consumeUntil(seq: number): Promise<void> {
    await until(
      async () => {
        if (seen.some((v) => v.seq >= seq)) return true;
        water += 2;
        bank.setUint32(bank.holding, 0, water);
        await new Promise((r) => setTimeout(r, 150));
        return false;
      },
      `voucher ${seq} on the broker`,
      20_000,
    );
  }

  test('after a restore no published seq is issued again', async () => {
    const dir = rig!.dir;
    await consumeUntil(3);
    await rig!.gw!.stop();
    fs.copyFileSync(path.join(dir, 'ledger.db'), path.join(dir, 'backup.db'));

    await rig!.startGateway();
    const before = seen.length;
    await consumeUntil(Math.max(...seen.map((v) => v.seq)) + 3);
    const published = Math.max(...seen.map((v) => v.seq));
    expect(seen.length).toBeGreaterThan(before);
    await rig!.gw!.stop();

    for (const f of ['ledger.db', 'ledger.db-wal', 'ledger.db-shm']) fs.rmSync(path.join(dir, f), { force: true });
    fs.copyFileSync(path.join(dir, 'backup.db'), path.join(dir, 'ledger.db'));
    const gw = await rig!.startGateway();
    const ledgerSeq = gw.ledger.channels().find((c) => c.channel === 'purifier-1>waterworks')!.lastSeq;
    expect(ledgerSeq).toBeLessThan(published);
    await until(() => gw.ledger.events({ kinds: ['settle-resync'] }).length > 0, 'a settle-resync event');
    expect(gw.ledger.events({ kinds: ['settle-resync'] })[0]!.detail).toMatchObject({
      channel: 'purifier-1>waterworks',
      publishedSeq: published,
      ledgerSeq,
      source: 'mqtt',
    });

    await consumeUntil(published + 2);
    const bySeq = new Map<number, Set<string>>();
    for (const v of seen) bySeq.set(v.seq, (bySeq.get(v.seq) ?? new Set()).add(v.sig));
    expect([...bySeq.entries()].filter(([, sigs]) => sigs.size > 1)).toEqual([]);
    const issuedAfter = gw.ledger.vouchers('purifier-1>waterworks').filter((v) => v.seq > ledgerSeq);
    expect(issuedAfter.length).toBeGreaterThan(0);
    expect(issuedAfter.every((v) => v.seq > published)).toBe(true);
  });
});
