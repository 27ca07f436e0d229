/**
 * Service orders over MQTT (docs/mqtt.md, docs/policies.md) against a real
 * mosquitto on loopback: an order for a provider topic is published there
 * and re-sent with backoff while the provider does not answer; the
 * provider's `{"id"}` on `<topic>/ack` acknowledges it (once); every change
 * of state goes out on `<prefix>/<gatewayId>/orders`; closing bills the fee.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { connect } from 'mqtt';
import { MosquittoBroker } from '../helper/mosquitto-broker';
import { MqttRecorder } from '../helper/mqtt-recorder';
import { startTestGateway, until, type TestGateway } from '../helper/in-process-gateway';

jest.setTimeout(60_000);

describe('service orders to a provider topic over MQTT', () => {
  let rig: TestGateway | undefined;
  let broker: MosquittoBroker | undefined;
  const recorders: MqttRecorder[] = [];
  let brokerDir = '';

  afterAll(async () => {
    for (const r of recorders) await r.close();
    await rig?.stop();
    await broker?.stop();
    if (brokerDir) fs.rmSync(brokerDir, { recursive: true, force: true });
  });

  test('published on the topic until acknowledged on <topic>/ack; orders on …/orders; fee on close', async () => {
    brokerDir = fs.mkdtempSync(path.join(os.tmpdir(), 'm2m-so-broker-'));
    broker = await MosquittoBroker.start(brokerDir);
    const url = broker.url;
    const provider = await MqttRecorder.connect(url, 'svc/orders');
    const orders = await MqttRecorder.connect(url, 'm2m/so-gw/orders');
    recorders.push(provider, orders);
    rig = await startTestGateway({
      prefix: 'm2m-so-mqtt-',
      flows: [
        { id: 't', type: 'tab' },
        {
          id: 's1',
          type: 'm2m-service-order',
          z: 't',
          devices: 'p-1',
          point: 'cartridge',
          below: '20',
          provider: 'svc/orders',
          fee: '12.5',
          payee: 'svc',
          retryMaxMs: 300,
          wires: [],
        },
      ],
      registers: (b) => {
        b.holding[20] = 80;
      },
      yaml: ({ port }) => `version: 1
gateway: { id: so-gw, dataDir: ., timezone: UTC }
mqtt: { url: "${url}", topicPrefix: m2m }
links: [ { id: plant, type: modbus-tcp, host: 127.0.0.1, port: ${port}, timeoutMs: 500 } ]
devices:
  - id: p-1
    link: plant
    unitId: 1
    pollMs: 50
    points:
      - { name: cartridge, kind: gauge, area: holding, address: 20, type: uint16, unit: "%" }
`,
      options: { mqttReconnect: { baseMs: 100, capMs: 500 } },
    });
    const gw = rig.gw!;
    await until(() => gw.uplink?.connected === true, 'the uplink connected');
    rig.bank.holding[20] = 15;
    // not answered yet: the order is published again with backoff
    await provider.waitFor((ms) => ms.length >= 3, 'the order published three times');
    const id = provider.messages[0]!.payload.id as string;
    expect(new Set(provider.messages.map((m) => m.payload.id))).toEqual(new Set([id]));
    expect(provider.messages[0]!.payload).toMatchObject({
      id,
      device: 'p-1',
      reason: 'below',
      value: '15',
      ackTopic: 'svc/orders/ack',
      seq: expect.any(Number),
    });

    const answer = connect(url, { reconnectPeriod: 0 });
    await new Promise((r) => answer.once('connect', r));
    await answer.publishAsync('svc/orders/ack', JSON.stringify({ id }), { qos: 1 });
    await answer.publishAsync('svc/orders/ack', JSON.stringify({ id }), { qos: 1 });
    await answer.endAsync();
    await until(() => gw.orders.list()[0]?.state === 'acked', 'the order acknowledged');
    const sent = provider.messages.length;
    await new Promise((r) => setTimeout(r, 1000)); // longer than the retry cap
    expect(provider.messages.length).toBe(sent);

    rig.bank.holding[20] = 100;
    await until(() => gw.orders.list()[0]?.state === 'closed', 'the order closed');
    await until(
      () => gw.ledger.ledgerTotals({ point: 'service:cartridge' }).some((t) => t.amountNano === 12_500_000_000n),
      'the fee billed',
    );
    await orders.waitFor((ms) => ms.some((m) => m.payload.state === 'closed'), 'the closed order on …/orders');
    expect(orders.messages.map((m) => [m.payload.type, m.payload.id, m.payload.state])).toEqual([
      ['order', id, 'open'],
      ['order', id, 'acked'],
      ['order', id, 'closed'],
    ]);
    const acks = gw.ledger.events({ kinds: ['service-order-ack'] });
    expect(acks.map((e) => [e.detail.order, e.detail.via])).toEqual([[id, 'mqtt']]);
  });
});
