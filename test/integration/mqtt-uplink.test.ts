/**
 * The MQTT uplink of an in-process Gateway (simulated Modbus device on a
 * loopback port, BigInt reference core) against a real mosquitto broker
 * started by the test, observed by an `mqtt` subscriber:
 *
 *  1. retained "online" status and newest signed checkpoint (a late
 *     subscriber gets both at once); readings, events and vouchers arrive on
 *     their topics with strictly increasing seq and decimal strings;
 *  2. broker stopped: the gateway keeps metering and the outbox grows; broker
 *     restarted on the same port: the backlog arrives in order, no seq gap,
 *     duplicates only from QoS-1 redelivery;
 *  3. gateway stopped while the broker is down: the queue stays on disk and
 *     is delivered by the next gateway on the same data dir, seq continuing.
 *
 * The restarted broker first admits only the test's subscriber (password
 * file), so the subscriber is in place before the gateway may reconnect; a
 * SIGHUP with the gateway's user added lets the gateway in.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseConfig } from '../../gateway/config/load';
import { Gateway } from '../../gateway/daemon/gateway';
import { ReferenceCore } from '../../gateway/core/reference';
import { silentLogger } from '../../gateway/base/log';
import { freePort } from '../../gateway/cli/demo/free-port';
import { RegisterBank } from '../../gateway/cli/demo/register-bank';
import { SqliteOutbox } from '../../gateway/uplink/sqlite-outbox';
import { untilWithin } from '../helper/in-process-gateway';
import { MosquittoBroker, addBrokerUser } from '../helper/mosquitto-broker';
import { MqttRecorder, type Received } from '../helper/mqtt-recorder';

jest.setTimeout(60_000);

const DECIMAL = /^-?\d+(?:\.\d+)?$/;
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
  { id: 'n2', type: 'm2m-credit-limit', z: 't', name: 'credit', account: 'purifier-1', limit: '2', action: 'alarm', wires: [] },
];

/** Seqs in first-arrival order (QoS-1 duplicates removed) and how many duplicates there were. */
function dedupe(ms: Array<{ seq: number }>): { order: number[]; dups: number } {
  const seen = new Set<number>();
  const order: number[] = [];
  let dups = 0;
  for (const m of ms) {
    if (seen.has(m.seq)) dups++;
    else {
      seen.add(m.seq);
      order.push(m.seq);
    }
  }
  return { order, dups };
}

const strictlyIncreasing = (xs: number[]) => xs.every((x, i) => i === 0 || x > (xs[i - 1] as number));
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe('MQTT uplink of the gateway', () => {
  let dir: string;
  let bank: RegisterBank;
  let broker: MosquittoBroker;
  let gw: Gateway | null = null;
  let cfgText: string;
  const recorders: MqttRecorder[] = [];
  /** Every data seq received by any subscriber so far (for the no-gap check over the whole run). */
  const allSeqs = new Set<number>();
  /** The subscriber of the current phase: kept until the broker stops, so no message falls between two of them. */
  let current: MqttRecorder | null = null;
  /** Stop the broker and take what the current subscriber got into allSeqs. */
  const stopBroker = async () => {
    await broker.stop();
    for (const m of current?.data() ?? []) allSeqs.add(m.seq);
  };
  const pwFile = () => path.join(dir, 'broker.passwd');

  const subscribe = async (opts: { username?: string; password?: string } = {}) => {
    const r = await MqttRecorder.connect(broker.url, 'm2m/t/#', opts);
    recorders.push(r);
    return r;
  };
  const startGateway = async () => {
    gw = await Gateway.start(parseConfig(cfgText, dir), silentLogger(), {
      core: new ReferenceCore(),
      http: { host: '127.0.0.1', port: 0 },
      flushMs: 20,
      commitMs: 20,
      mqttReconnect: { baseMs: 50, capMs: 200 },
    });
    return gw;
  };
  /** Restart the broker admitting only `sub`; subscribe; then let the gateway's user in too. */
  const restartBrokerSubscriberFirst = async () => {
    fs.rmSync(pwFile(), { force: true });
    await addBrokerUser(pwFile(), 'sub', 'subpw');
    await broker.start({ allowAnonymous: false, passwordFile: pwFile() });
    const rec = await subscribe({ username: 'sub', password: 'subpw' });
    await addBrokerUser(pwFile(), 'gw', 'gwpw');
    broker.reload({ allowAnonymous: false, passwordFile: pwFile() });
    return rec;
  };

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'm2m-mqtt-'));
    fs.writeFileSync(path.join(dir, 'flows.json'), JSON.stringify(flows));
    fs.writeFileSync(path.join(dir, 'mqtt.pw'), 'gwpw\n', { mode: 0o600 });
    broker = await MosquittoBroker.start(path.join(dir, 'broker'));
    bank = new RegisterBank();
    bank.setUint32(bank.holding, 0, 100);
    bank.input[10] = 123; // hardness 12.3 dH
    const port = await freePort();
    await bank.listen('127.0.0.1', port, 1);
    cfgText = `version: 1
gateway: { id: t, dataDir: ., timezone: UTC }
mqtt: { url: "${broker.url}", topicPrefix: m2m, username: gw, passwordFile: mqtt.pw, maxQueued: 5000 }
links: [ { id: plant, type: modbus-tcp, host: 127.0.0.1, port: ${port}, timeoutMs: 500 } ]
devices:
  - id: purifier-1
    link: plant
    unitId: 1
    pollMs: 50
    points:
      - { name: water, kind: counter, area: holding, address: 0, type: uint32, unit: L }
      - { name: hardness, kind: gauge, area: input, address: 10, type: int16, scale: "0.1", unit: dH }
`;
  });

  afterAll(async () => {
    await gw?.stop().catch(() => undefined);
    for (const r of recorders) await r.close().catch(() => undefined);
    await MosquittoBroker.stopAll();
    await bank?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('publishes a retained online status, then readings, events and vouchers in seq order with decimal strings', async () => {
    const rec = await subscribe();
    await startGateway();
    await rec.waitFor((ms) => ms.filter((m) => m.topic === 'm2m/t/readings/purifier-1').length >= 5, 'five readings');

    // A checkpoint of the head the readings moved (signed now), seen by the early subscriber.
    const newest = gw!.checkpoints.tick() ?? gw!.checkpoints.list()[0]!;
    await rec.waitFor(
      (ms) => ms.some((m) => m.topic === 'm2m/t/checkpoints' && (m.payload.checkpoint as { seq: number }).seq === newest.seq),
      'the checkpoint',
    );

    // A late subscriber gets the retained status and the newest checkpoint at once.
    const late = await subscribe();
    await late.waitFor((ms) => ms.some((m) => m.topic === 'm2m/t/status'), 'the retained status');
    await late.waitFor((ms) => ms.some((m) => m.topic === 'm2m/t/checkpoints'), 'the retained checkpoint');
    const cps = late.messages.filter((m) => m.topic === 'm2m/t/checkpoints');
    expect(cps).toEqual([
      { topic: 'm2m/t/checkpoints', retain: true, payload: expect.objectContaining({ type: 'checkpoint', gateway: 't' }) },
    ]);
    expect(cps[0]!.payload.checkpoint).toEqual(newest);
    const status = late.messages.find((m) => m.topic === 'm2m/t/status') as Received;
    expect(status.retain).toBe(true);
    expect(status.payload).toMatchObject({
      status: 'online',
      gateway: 't',
      version: expect.any(String),
      startedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
    });
    await late.close();

    const reading = rec.messages.find((m) => m.topic === 'm2m/t/readings/purifier-1') as Received;
    expect(reading.payload).toMatchObject({ type: 'reading', gateway: 't', device: 'purifier-1', at: expect.any(String) });
    expect(reading.payload.points).toEqual({ water: { value: '100', unit: 'L' }, hardness: { value: '12.3', unit: 'dH' } });

    // 10 L at 0.5 = 5 NOK passes the credit limit of 2: an event with a decimal string.
    bank.setUint32(bank.holding, 0, 110);
    await rec.waitFor((ms) => ms.some((m) => m.topic === 'm2m/t/events' && m.payload.kind === 'credit-over'), 'the credit-over event');
    const over = rec.messages.find((m) => m.payload.kind === 'credit-over') as Received;
    expect(over.payload).toMatchObject({ type: 'event', gateway: 't', account: 'purifier-1', data: { unsettled: '5.000000000' } });

    // Vouchers: whatever the settlement emits on the stream goes out nested, unchanged.
    const voucher = {
      v: 1 as const,
      channel: 'purifier-1>waterworks',
      payer: 'purifier-1',
      payee: 'waterworks',
      payerKey: 'k',
      seq: 3,
      amount: '5.000000000',
      currency: 'NOK',
      ledgerHead: 'ab',
      issuedAt: new Date().toISOString(),
      sig: 's',
    };
    gw!.backend.stream.emit('voucher', voucher);
    await rec.waitFor((ms) => ms.some((m) => m.topic === 'm2m/t/vouchers/purifier-1>waterworks'), 'the voucher');
    const v = rec.messages.find((m) => m.topic.startsWith('m2m/t/vouchers/')) as Received;
    expect(v.payload).toEqual({ seq: expect.any(Number), type: 'voucher', gateway: 't', voucher });

    const data = rec.data();
    for (const m of data) {
      if (m.payload.type !== 'reading') continue;
      for (const p of Object.values(m.payload.points as Record<string, { value: unknown }>)) expect(p.value).toMatch(DECIMAL);
    }
    const seqs = data.map((m) => m.seq);
    expect(strictlyIncreasing(seqs)).toBe(true); // no outage yet: no redelivery either
    expect(seqs[0]).toBe(1);
    expect(seqs).toEqual(range(1, seqs.length));
    current = rec;
  });

  it('keeps metering while the broker is down and sends the backlog in order once it is back', async () => {
    await stopBroker();
    const lastSeen = Math.max(...allSeqs);
    await until(() => gw!.uplink?.connected === false, 'the uplink to notice the outage');
    const queuedAtOutage = gw!.uplink!.queued();
    const amount = () =>
      gw!.ledger.ledgerTotals({ device: 'purifier-1', point: 'water' }).find((t) => t.payee === 'waterworks')?.amountNano;
    bank.setUint32(bank.holding, 0, 120);
    await until(() => amount() === 10_000_000_000n, 'metering during the outage (10 NOK)');
    await until(() => gw!.uplink!.queued() >= queuedAtOutage + 30, 'the outbox to grow');
    const lastQueued = gw!.uplink!.lastSeq();

    const rec = await restartBrokerSubscriberFirst();
    await rec.waitFor((ms) => ms.some((m) => (m.payload.seq as number) >= lastQueued), `the backlog up to seq ${lastQueued}`, 30_000);
    await until(() => gw!.uplink!.connected, 'the uplink to reconnect');

    const { order, dups } = dedupe(rec.data());
    // In order: backlog first, then newer messages; every seq after the last one seen before the outage arrives.
    expect(strictlyIncreasing(order)).toBe(true);
    const resumed = order.filter((s) => s > lastSeen);
    expect(resumed.slice(0, lastQueued - lastSeen)).toEqual(range(lastSeen + 1, lastQueued));
    // Redelivered: at most what was in flight when the connection dropped (window 16).
    expect(dups).toBeLessThanOrEqual(16);
    expect(order.every((s) => s > lastSeen - 16)).toBe(true);
    order.forEach((s) => allSeqs.add(s));
    expect([...allSeqs].sort((a, b) => a - b)).toEqual(range(1, Math.max(...allSeqs)));
    // The metered amount during the outage also reached the uplink as readings.
    expect(
      rec.data().some((m) => m.payload.type === 'reading' && (m.payload.points as { water: { value: string } }).water.value === '120'),
    ).toBe(true);
    expect(gw!.metrics.render()).toMatch(/m2m_mqtt_connected 1\n/);
    current = rec;
  });

  it('keeps the queue on disk over a gateway restart while the broker is down, and delivers it after', async () => {
    await stopBroker();
    await until(() => gw!.uplink?.connected === false, 'the uplink to notice the outage');
    bank.setUint32(bank.holding, 0, 125);
    await until(() => gw!.uplink!.queued() >= 20, 'messages queued');
    await gw!.stop();
    gw = null;
    const ob = SqliteOutbox.open(dir);
    const queued = ob.count();
    const lastQueued = ob.lastSeq();
    const oldest = ob.peek(1)[0]?.seq as number;
    ob.close();
    expect(queued).toBeGreaterThanOrEqual(20);
    expect(lastQueued).toBeGreaterThan(Math.max(...allSeqs));

    const rec = await restartBrokerSubscriberFirst();
    await startGateway();
    await rec.waitFor(
      (ms) => ms.filter((m) => (m.payload.seq as number) > lastQueued).length >= 3,
      'the queue and three new messages',
      30_000,
    );
    const { order } = dedupe(rec.data());
    expect(strictlyIncreasing(order)).toBe(true);
    // Everything queued before the restart, in order, then new seqs that continue after it (never repeated).
    expect(order.filter((s) => s <= lastQueued)).toEqual(range(oldest, lastQueued));
    expect(order.filter((s) => s > lastQueued)[0]).toBe(lastQueued + 1);
    order.forEach((s) => allSeqs.add(s));
    expect([...allSeqs].sort((a, b) => a - b)).toEqual(range(1, Math.max(...allSeqs)));
    await rec.close();
  });
});
