/**
 * The MQTT uplink of the REAL built daemon (`node build/gateway/cli/main.js
 * start`) against a real mosquitto broker: kill -9 makes the broker publish
 * the retained "offline" last will; the restarted daemon says "online" again
 * and resends what was in flight, so every seq from 1 on reaches the
 * subscriber (duplicates removed); a clean SIGTERM drains the outbox and
 * publishes "offline" itself.
 *
 * The build is a precondition (`npm test` builds first).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../../gateway/cli/demo/free-port';
import { RegisterBank } from '../../gateway/cli/demo/register-bank';
import { SqliteOutbox } from '../../gateway/uplink/sqlite-outbox';
import { GatewayProcess, killAllProcesses, requireBuild } from '../helper/daemon-process';
import { MosquittoBroker } from '../helper/mosquitto-broker';
import { MqttRecorder, type Received } from '../helper/mqtt-recorder';

jest.setTimeout(60_000);

const STATUS = 'm2m/d/status';
const statuses = (ms: Received[]) => ms.filter((m) => m.topic === STATUS).map((m) => m.payload.status);

describe('MQTT uplink of the daemon', () => {
  let dir: string;
  let bank: RegisterBank;
  let broker: MosquittoBroker;
  let rec: MqttRecorder;
  let configFile: string;
  const others: MqttRecorder[] = [];

  /** The retained status, as a new subscriber sees it. */
  const retainedStatus = async (): Promise<Received> => {
    const late = await MqttRecorder.connect(broker.url, STATUS);
    others.push(late);
    await late.waitFor((ms) => ms.length > 0, 'the retained status');
    await late.close();
    return late.messages[0] as Received;
  };

  beforeAll(async () => {
    requireBuild();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'm2m-mqttd-'));
    broker = await MosquittoBroker.start(path.join(dir, 'broker'));
    bank = new RegisterBank();
    bank.setUint32(bank.holding, 0, 500);
    const modbusPort = await freePort();
    await bank.listen('127.0.0.1', modbusPort, 1);
    configFile = path.join(dir, 'm2m-gateway.yaml');
    fs.writeFileSync(
      configFile,
      `version: 1
gateway: { id: d, dataDir: ./data, timezone: UTC }
http: { listen: "127.0.0.1:${await freePort()}" }
mqtt: { url: "${broker.url}", topicPrefix: m2m }
links: [ { id: plant, type: modbus-tcp, host: 127.0.0.1, port: ${modbusPort}, timeoutMs: 500 } ]
devices:
  - { id: meter-1, link: plant, unitId: 1, pollMs: 20, points: [ { name: water, kind: counter, area: holding, address: 0, type: uint32, unit: L } ] }
`,
    );
    rec = await MqttRecorder.connect(broker.url, 'm2m/d/#');
  });

  afterAll(async () => {
    await killAllProcesses();
    for (const r of [rec, ...others]) await r?.close().catch(() => undefined);
    await MosquittoBroker.stopAll();
    await bank?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('kill -9: the broker publishes the retained offline will; after a restart nothing in flight is lost', async () => {
    const first = await GatewayProcess.start(['start', '--config', configFile]);
    await rec.waitFor((ms) => ms.filter((m) => m.topic === 'm2m/d/readings/meter-1').length >= 20, 'twenty readings');
    expect(statuses(rec.messages)).toEqual(['online']);

    first.kill('SIGKILL');
    await first.exited;
    await rec.waitFor((ms) => statuses(ms).includes('offline'), 'the offline will');
    const will = await retainedStatus();
    expect(will.retain).toBe(true);
    expect(will.payload).toMatchObject({ status: 'offline', gateway: 'd', version: expect.any(String), startedAt: expect.any(String) });
    const beforeRestart = Math.max(...rec.data().map((m) => m.seq));

    bank.setUint32(bank.holding, 0, 512);
    const second = await GatewayProcess.start(['start', '--config', configFile]);
    await rec.waitFor((ms) => statuses(ms).filter((s) => s === 'online').length === 2, 'online again');
    await rec.waitFor((ms) => ms.some((m) => (m.payload.seq as number) > beforeRestart + 20), 'twenty new messages');
    expect((await retainedStatus()).payload.status).toBe('online');

    // Every seq from 1 on arrived (what was in flight at the kill was resent), in order of first arrival.
    const seen = new Set<number>();
    const order: number[] = [];
    for (const m of rec.data()) {
      if (!seen.has(m.seq)) order.push(m.seq);
      seen.add(m.seq);
    }
    expect(order).toEqual(Array.from({ length: order.length }, (_, i) => i + 1));
    expect(rec.data().some((m) => (m.payload.points as { water?: { value: string } } | undefined)?.water?.value === '512')).toBe(true);

    // A clean stop drains the outbox and says "offline" itself.
    const exit = await second.stop('SIGTERM');
    expect(exit.code).toBe(0);
    await rec.waitFor((ms) => statuses(ms).at(-1) === 'offline' && statuses(ms).length === 4, 'the offline status of the clean stop');
    expect((await retainedStatus()).payload.status).toBe('offline');
    const ob = SqliteOutbox.open(path.join(dir, 'data'));
    expect(ob.count()).toBe(0);
    ob.close();
  });
});
