/**
 * Payees collect (docs/settlement.md), against real peers: a Debian mosquitto
 * broker, the built gateway as a child process (the payer: purifier-1 pays
 * waterworks per litre), and two `m2m-gateway collect` processes of the
 * waterworks sharing the voucher topics through an MQTT 5 shared
 * subscription ($share/waterworks/…). Collector A also pulls the gateway's
 * GET /api/vouchers with a payee token and is the one the gateway asks for
 * receivables; B only listens on MQTT and learns the rest from A through
 * the group's retained peer topic.
 *
 * Through a broker outage and a kill -9 of the gateway and of collector A,
 * both collectors end with receivables equal, to the nano, to the gateway's
 * channels; no voucher was issued twice (no double-issue); what the
 * waterworks received lowers what purifier-1 owes; and every voucher
 * verifies with Python's cryptography and an RFC 8785 encoder of its own.
 *
 * The broker is down for 60 s while the purifier keeps consuming: the
 * gateway's outbox keeps every voucher, collector A keeps pulling over HTTP,
 * and B, which sees only its share of the vouchers once the broker is back,
 * fills the gaps in its chain from A (docs/settlement.md, "Gaps").
 *
 * Agreement is judged once the payer is quiet: the ticker has stopped and
 * the gateway's committed accrual is the whole consumption (every litre since
 * the first reading of 1000 L, at the tariff), so no voucher is still due.
 * Judged earlier, a voucher issued a moment later could overtake the
 * "final" seq (it did, about one run in four on Node 24).
 */
import Database from 'better-sqlite3';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { AccountView, ChannelView, Voucher } from '../../gateway/api/backend';
import { freePort } from '../../gateway/cli/demo/free-port';
import { RegisterBank } from '../../gateway/cli/demo/register-bank';
import type { Receivable } from '../../gateway/settle/collector-store';
import { ApiClient } from '../helper/gateway-api';
import { GatewayProcess, killAllProcesses, requireBuild, runCli, waitFor } from '../helper/daemon-process';
import { MosquittoBroker } from '../helper/mosquitto-broker';
import { verifyWithPython } from '../helper/python-vouchers';
import { connect, type MqttClient } from 'mqtt';

jest.setTimeout(180_000);

describe('collectors of one payee agree with the payer through outages and kill -9', () => {
  let root = '';
  let broker: MosquittoBroker;
  let bank: RegisterBank;
  let ticker: NodeJS.Timeout | null = null;
  let water = 1000;
  const procs: Record<string, GatewayProcess> = {};
  let watcher: MqttClient | null = null;
  const checkpoints: Array<{ type: string; checkpoint: object }> = [];
  const ports: Record<string, number> = {};

  const file = (...p: string[]) => path.join(root, ...p);
  const collectorYaml = (name: 'a' | 'b') => `payees: [waterworks]
dataDir: ./collect-${name}
listen: 127.0.0.1:${ports[name]}
${name === 'a' ? `gateways:\n  - { url: "http://127.0.0.1:${ports.gw}", tokenFile: ./waterworks.token, pollMs: 1500 }\n` : ''}mqtt:
  url: ${broker.url}
  topicPrefix: m2m
  group: waterworks
  clientId: collect-${name}
`;
  const startCollector = async (name: 'a' | 'b') => {
    procs[name] = await GatewayProcess.start(['collect', '--config', file(`collect-${name}.yaml`)]);
  };
  const startGateway = async () => {
    procs.gw = await GatewayProcess.start(['start', '--config', file('gw.yaml')]);
  };
  const collectorApi = (name: 'a' | 'b') =>
    new ApiClient(`http://127.0.0.1:${ports[name]}`, fs.readFileSync(file(`collect-${name}`, 'token'), 'utf8').trim());
  const gwApi = () =>
    new ApiClient(
      `http://127.0.0.1:${ports.gw}`,
      (JSON.parse(fs.readFileSync(file('gw', 'secrets.json'), 'utf8')) as { adminToken: string }).adminToken,
    );

  /** The gateway's channels as receivables would show them. */
  const payerView = async () =>
    (await gwApi().get<ChannelView[]>('/api/channels'))
      .filter((c) => c.payee === 'waterworks' && c.lastSeq > 0)
      .map((c) => ({ channel: c.id, seq: c.lastSeq, amount: c.vouchered }));
  const payeeView = async (name: 'a' | 'b') =>
    (await collectorApi(name).get<Receivable[]>('/api/receivables')).map((r) => ({ channel: r.channel, seq: r.seq, amount: r.amount }));
  /** Nano per litre at the tariff below (0.012345678). */
  const PRICE_NANO = 12_345_678n;
  const money = (nano: bigint) => {
    const t = nano.toString().padStart(10, '0');
    return `${t.slice(0, -9)}.${t.slice(-9)}`;
  };
  /** Once the payer is quiet (all consumption committed), whether it and both collectors hold the same channels. */
  /** What `agreed` saw last (said when the wait times out). */
  let seen = '';
  const agreed = async () => {
    const accrued = (await gwApi().get<ChannelView[]>('/api/channels'))[0]?.accrued;
    const expected = money(BigInt(water - 1000) * PRICE_NANO);
    const [p, a, b] = [await payerView(), await payeeView('a'), await payeeView('b')];
    const gaps = `gaps a ${JSON.stringify(await collectorApi('a').get('/api/gaps'))}, b ${JSON.stringify(await collectorApi('b').get('/api/gaps'))}`;
    seen = `accrued ${accrued} (expected ${expected}); payer ${JSON.stringify(p)}; a ${JSON.stringify(a)}; b ${JSON.stringify(b)}; ${gaps}`;
    if (accrued !== expected) return undefined;
    return p.length > 0 && JSON.stringify(p) === JSON.stringify(a) && JSON.stringify(p) === JSON.stringify(b) ? p : undefined;
  };

  /** Fields of a log line the story says otherwise, or not at all. */
  const PINO_KEYS = new Set(['level', 'time', 'pid', 'hostname', 'name', 'msg', 'seq']);
  /** A collector's log in short (said when a wait times out): runs of lines with one message and source as one line each. */
  const story = (name: 'a' | 'b'): string => {
    const out: string[] = [];
    let run = null as { key: string; first: Record<string, unknown>; last: Record<string, unknown>; n: number } | null;
    const say = (r: NonNullable<typeof run>) => {
      const rest = Object.fromEntries(Object.entries(r.first).filter(([k]) => !PINO_KEYS.has(k)));
      const seqs = r.first.seq === undefined ? '' : ` seq ${String(r.first.seq)}..${String(r.last.seq)}`;
      out.push(`  ${String(r.first.time)} ${String(r.first.msg)}${seqs} ×${r.n} ${JSON.stringify(rest)}`);
    };
    for (const l of procs[name]!.logLines()) {
      const key = `${String(l.msg)}|${String(l.source ?? '').replace(/^mqtt:.*/, 'mqtt')}`;
      if (run?.key === key) {
        run.last = l;
        run.n++;
        continue;
      }
      if (run) say(run);
      run = { key, first: l, last: l, n: 1 };
    }
    if (run) say(run);
    return `collector ${name} (this process's log):\n${out.slice(-40).join('\n')}`;
  };

  beforeAll(async () => {
    requireBuild();
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'm2m-collect-'));
    broker = await MosquittoBroker.start(file('broker'));
    bank = new RegisterBank();
    bank.setUint32(bank.holding, 0, water);
    const devPort = await freePort();
    await bank.listen('127.0.0.1', devPort, 1);
    for (const p of ['gw', 'a', 'b']) ports[p] = await freePort();
    fs.mkdirSync(file('gw'));
    fs.writeFileSync(
      file('gw', 'flows.json'),
      JSON.stringify([
        { id: 't', type: 'tab', label: 'p' },
        {
          id: 'a',
          type: 'm2m-tariff',
          z: 't',
          name: 'water',
          devices: 'purifier-*',
          point: 'water',
          payee: 'waterworks',
          price: '0.012345678',
          tou: [],
          wires: [],
        },
      ]),
    );
    fs.writeFileSync(
      file('gw.yaml'),
      `version: 1
gateway: { id: purifier-gw, dataDir: ./gw, currency: NOK, timezone: UTC }
http: { listen: "127.0.0.1:${ports.gw}", editor: false }
mqtt: { url: "${broker.url}", topicPrefix: m2m }
ledger: { commitMs: 500 }
settlement:
  threshold: "0.5"
  payees:
    waterworks: { receivables: "http://127.0.0.1:${ports.a}", tokenFile: ./collect-a/token, pollMs: 300, deposit: "1000000" }
links: [ { id: plant, type: modbus-tcp, host: 127.0.0.1, port: ${devPort}, timeoutMs: 500 } ]
devices:
  - id: purifier-1
    link: plant
    unitId: 1
    pollMs: 50
    points:
      - { name: water, kind: counter, area: holding, address: 0, type: uint32, unit: L }
`,
    );
    const tok = await runCli(['token', '--config', file('gw.yaml'), '--payee', 'waterworks']);
    expect(tok.code).toBe(0);
    fs.writeFileSync(file('waterworks.token'), tok.stdout.trim(), { mode: 0o600 });
    for (const n of ['a', 'b'] as const) fs.writeFileSync(file(`collect-${n}.yaml`), collectorYaml(n));
    await startCollector('a');
    await startCollector('b');
    watcher = connect(broker.url, { reconnectPeriod: 200 });
    watcher.on('message', (_t, p) => checkpoints.push(JSON.parse(p.toString()) as { type: string; checkpoint: object }));
    await new Promise<void>((resolve) =>
      watcher!.on('connect', () => watcher!.subscribe('m2m/purifier-gw/checkpoints', { qos: 1 }, () => resolve())),
    );
    await startGateway();
    await waitFor(
      async () =>
        (await gwApi().get<Array<{ points: Record<string, { value: unknown }> }>>('/api/devices'))[0]?.points.water?.value === '1000'
          ? true
          : undefined,
      'the first reading (1000 L)',
      10_000,
    );
    ticker = setInterval(() => {
      water += 7;
      bank.setUint32(bank.holding, 0, water);
    }, 40);
  });

  afterAll(async () => {
    if (ticker) clearInterval(ticker);
    watcher?.end(true);
    await killAllProcesses();
    await MosquittoBroker.stopAll();
    await bank?.close();
    if (root) fs.rmSync(root, { recursive: true, force: true });
  });

  test('vouchers reach both collectors; they agree with the payer after a broker outage and kill -9 of each side', async () => {
    await waitFor(
      async () => ((await payeeView('b')).some((r) => r.seq >= 3) ? true : undefined),
      'collector B to receive vouchers over MQTT',
      20_000,
    );

    // A 60 s broker outage while the purifier keeps consuming.
    await broker.stop();
    await new Promise((r) => setTimeout(r, 60_000));
    await broker.start();

    // kill -9 of the payer, restarted; then of collector A, restarted.
    procs.gw!.kill('SIGKILL');
    await procs.gw!.exited;
    await startGateway();
    const before = (await payerView())[0]?.seq ?? 0;
    await waitFor(async () => (((await payerView())[0]?.seq ?? 0) > before ? true : undefined), 'a voucher after the restart', 20_000);
    procs.a!.kill('SIGKILL');
    await procs.a!.exited;
    await startCollector('a');
    await waitFor(async () => (((await payeeView('a'))[0]?.seq ?? 0) > before + 1 ? true : undefined), 'collector A to catch up', 20_000);

    // The purifier stops; the last voucher settles in everywhere.
    clearInterval(ticker!);
    ticker = null;
    const final = await waitFor(
      agreed,
      () => `payer and both collectors to agree; last seen: ${seen}\n${story('a')}\n${story('b')}`,
      30_000,
      200,
    );
    expect(final).toEqual([{ channel: 'purifier-1>waterworks', seq: expect.any(Number), amount: expect.stringMatching(/^\d+\.\d{9}$/) }]);

    // What the waterworks received lowers what purifier-1 owes.
    await waitFor(
      async () => ((await gwApi().get<ChannelView[]>('/api/channels'))[0]?.received === final[0]!.amount ? true : undefined),
      'the gateway to read the receivables',
      10_000,
    );
    const nanoOf = (x: string) => BigInt(x.replace('.', ''));
    const settledIn = async () => {
      const [acct] = await gwApi().get<AccountView[]>('/api/accounts');
      const [ch] = await gwApi().get<ChannelView[]>('/api/channels');
      return acct!.received === final[0]!.amount && nanoOf(acct!.unsettled) === nanoOf(ch!.accrued) - nanoOf(final[0]!.amount)
        ? true
        : undefined;
    };
    await waitFor(settledIn, 'purifier-1 to owe accrued − received (committed with the next batch)', 10_000);

    // No seq was ever issued twice; the gateway's vouchers are the collectors' vouchers.
    for (const n of ['a', 'b'] as const) expect(await collectorApi(n).get<unknown[]>('/api/events?kind=double-issue')).toEqual([]);
    const issued = await gwApi().get<Voucher[]>('/api/vouchers');
    const kept = await collectorApi('a').get<Voucher[]>('/api/vouchers');
    expect(kept).toEqual(issued);
    expect(issued.map((v) => v.seq)).toEqual(issued.map((_, i) => i + 1));
    expect(verifyWithPython(issued)).toEqual({ status: 0, out: `ok ${issued.length}`, err: '' });

    // The gateway's signed checkpoints went out on MQTT too (at each start).
    expect(checkpoints.length).toBeGreaterThan(0);
    expect(checkpoints[0]).toMatchObject({ type: 'checkpoint', gateway: 'purifier-gw', checkpoint: { gatewayId: 'purifier-gw' } });
    expect(
      verifyWithPython(
        checkpoints.map((c) => c.checkpoint),
        'gatewayKey',
      ),
    ).toEqual({ status: 0, out: `ok ${checkpoints.length}`, err: '' });

    // Both members of the shared subscription took vouchers straight from the broker.
    for (const n of ['a', 'b'] as const) await procs[n]!.stop();
    for (const n of ['a', 'b'] as const) {
      const db = new Database(file(`collect-${n}`, 'collect.db'), { readonly: true });
      try {
        const mqtt = db.prepare("SELECT count(*) AS c FROM vouchers WHERE source LIKE 'mqtt:%'").get() as { c: number };
        expect([n, mqtt.c > 0]).toEqual([n, true]);
      } finally {
        db.close();
      }
    }
  });
});
