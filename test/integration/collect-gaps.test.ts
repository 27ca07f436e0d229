/**
 * Gaps at the payee (docs/settlement.md, "Gaps"), against a real mosquitto:
 * two `collect` members of one group, in process. B holds a voucher that
 * skips seqs pending and asks its sibling on `<prefix>/collect/<group>/gaps`;
 * A answers with what it holds; B's receivable then jumps to the held seq. A
 * gap nobody can fill raises a `seq-gap` event after `gapEventMs` and the
 * receivable stays; the gateway B pulls from (a small HTTP stand-in here)
 * then serves the missing seqs for `?channel=&since=` and the gap closes.
 */
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { connect, type MqttClient } from 'mqtt';
import { silentLogger } from '../../gateway/base/log';
import { startCollector, type CollectorHandle } from '../../gateway/cli/collect';
import type { Receivable, SeqGap } from '../../gateway/settle/collector-store';
import { KeyStore } from '../../gateway/settle/keys';
import { signVoucher, type SignedVoucher } from '../../gateway/settle/voucher';
import { ApiClient } from '../helper/gateway-api';
import { until } from '../helper/in-process-gateway';
import { MosquittoBroker } from '../helper/mosquitto-broker';

jest.setTimeout(30_000);

const NOK = 1_000_000_000n;
const CHANNEL = 'p-1>ww';

describe('collectors fill gaps in a channel before its receivable moves', () => {
  let dir = '';
  let broker: MosquittoBroker;
  let keys: KeyStore;
  let a: CollectorHandle | null = null;
  let b: CollectorHandle | null = null;
  let pub: MqttClient | null = null;
  let server: http.Server | null = null;
  /** What the stand-in gateway serves, and the queries it was asked. */
  const served: SignedVoucher[] = [];
  const asked: string[] = [];

  const v = (seq: number): SignedVoucher =>
    signVoucher(
      {
        payer: 'p-1',
        payee: 'ww',
        seq,
        amountNano: BigInt(seq) * NOK,
        currency: 'NOK',
        ledgerHead: 'cd'.repeat(32),
        issuedAtMs: 1_800_000_000_000 + seq * 1000,
      },
      keys.keyFor('p-1'),
    );
  const api = (c: CollectorHandle) => new ApiClient(c.url, c.token);
  const top = async (c: CollectorHandle) => (await api(c).get<Receivable[]>('/api/receivables'))[0]?.seq;
  /** As a sibling forwards it: every member reads it. */
  const toGroup = (x: SignedVoucher) => pub!.publishAsync(`m2m/collect/ww/vouchers/${CHANNEL}`, JSON.stringify(x), { qos: 1 });

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'm2m-collect-gaps-'));
    broker = await MosquittoBroker.start(path.join(dir, 'broker'));
    keys = new KeyStore(path.join(dir, 'payer-keys'));
    server = http.createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://gw');
      asked.push(url.search);
      const channel = url.searchParams.get('channel');
      const since = Number(url.searchParams.get('since') ?? 0);
      const list = served.filter((x) => (channel === null || x.channel === channel) && Date.parse(x.issuedAt) >= since);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(list));
    });
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    const gwUrl = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    fs.writeFileSync(path.join(dir, 'gw.token'), 'payee-token-of-ww-0123456789', { mode: 0o600 });
    const settings = (name: string, gateways: Array<{ url: string; tokenFile: string; pollMs: number }>) => ({
      payees: ['ww'],
      dataDir: path.join(dir, name),
      listen: '127.0.0.1:0',
      gateways,
      mqtt: { url: broker.url, topicPrefix: 'm2m', group: 'ww', clientId: `collect-${name}` },
      payers: {},
      configFile: '',
      gapRetryMs: 200,
      gapEventMs: 1000,
    });
    a = await startCollector(settings('a', []), silentLogger());
    b = await startCollector(settings('b', [{ url: gwUrl, tokenFile: path.join(dir, 'gw.token'), pollMs: 3_600_000 }]), silentLogger());
    pub = await new Promise<MqttClient>((resolve, reject) => {
      const c = connect(broker.url, { reconnectPeriod: 0 });
      c.once('connect', () => resolve(c));
      c.once('error', reject);
    });
    await until(async () => (await api(a!).get<{ status: string }>('/api/health')).status === 'ok', 'collector A');
  });

  afterAll(async () => {
    await a?.stop();
    await b?.stop();
    await pub?.endAsync();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    await MosquittoBroker.stopAll();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  test('a sibling answers the gap request; an unfillable gap raises seq-gap until the gateway pull fills it', async () => {
    // A holds 1..6 (as if pulled from the gateway); B only sees 1 and 6.
    for (let s = 1; s <= 6; s++) expect(a!.store.offer(v(s), 'test').status).toBe('accepted');
    await until(async () => (await top(a!)) === 6, 'A at seq 6');
    await toGroup(v(1));
    await until(async () => (await top(b!)) === 1, 'B to take seq 1 as its base');
    await toGroup(v(6));
    // B asks on …/gaps for 2..5, A answers, seq 6 joins: B's receivable is 6 and no gap is left.
    await until(async () => (await top(b!)) === 6, 'B to fill 2..5 from A');
    expect(await api(b!).get<SeqGap[]>('/api/gaps')).toEqual([]);
    expect(b!.store.vouchers(CHANNEL)).toEqual([1, 2, 3, 4, 5, 6].map(v));
    expect(await api(b!).get<unknown[]>('/api/events?kind=seq-gap')).toEqual([]);

    // Seq 9 with 7 and 8 nowhere: held, the receivable stays at 6, a seq-gap event after gapEventMs.
    await toGroup(v(9));
    await until(async () => (await api(b!).get<SeqGap[]>('/api/gaps')).length === 1, 'the gap after 6');
    expect(await api(b!).get<SeqGap[]>('/api/gaps')).toEqual([
      { channel: CHANNEL, after: 6, afterIssuedAt: v(6).issuedAt, next: 9, pending: 1, sinceMs: expect.any(Number) },
    ]);
    await until(async () => (await api(b!).get<unknown[]>('/api/events?kind=seq-gap')).length === 1, 'the seq-gap event');
    expect(await api(b!).get<Array<{ channel: string; data: object }>>('/api/events?kind=seq-gap')).toEqual([
      expect.objectContaining({ kind: 'seq-gap', channel: CHANNEL, data: expect.objectContaining({ after: 6, next: 9, missing: 2 }) }),
    ]);
    expect(await top(b!)).toBe(6);
    expect(await api(b!).get<{ gaps: number }>('/api/health')).toMatchObject({ gaps: 1 });

    // The gateway now has 7 and 8: B's gap pull (?channel=&since=<issuedAt of 6>) fills the gap; 9 joins.
    served.push(v(7), v(8));
    await until(async () => (await top(b!)) === 9, 'B to fill 7..8 from the gateway');
    expect(asked).toContain(`?channel=${encodeURIComponent(CHANNEL)}&since=${Date.parse(v(6).issuedAt)}`);
    expect(await api(b!).get<SeqGap[]>('/api/gaps')).toEqual([]);
    expect(await api(b!).get<unknown[]>('/api/events?kind=seq-gap')).toHaveLength(1); // once per gap
  });
});
