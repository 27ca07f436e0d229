/**
 * Gaps at the payee (docs/settlement.md, "Gaps"), against a real mosquitto:
 * two `collect` members of one group, in process. B holds a voucher that
 * skips seqs pending and asks its sibling on `<prefix>/collect/<group>/gaps`;
 * A answers with what it holds; B's receivable then jumps to the held seq. A
 * gap nobody can fill raises a `seq-gap` event after `gapEventMs` and the
 * receivable stays; the gateway B pulls from (a small HTTP stand-in here)
 * then serves the missing seqs for `?channel=&since=` and the gap closes.
 * With every other seq missing, one request naming the holes fills them all,
 * and siblings send only the missing seqs. A third member C pulls a second channel from its own gateway while the
 * broker is away: it does not queue those for its siblings (the backlog would
 * go out one per round trip after the reconnect, ahead of its subscriptions);
 * A and B catch up from C's anti-entropy at the reconnect and their gap requests.
 */
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { connect, type MqttClient } from 'mqtt';
import { silentLogger } from '../../gateway/base/log';
import { startCollector, type CollectorHandle } from '../../gateway/cli/collect';
import type { CollectSettings } from '../../gateway/config/collect-schema';
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
  let c: CollectorHandle | null = null;
  let gw2: http.Server | null = null;
  let settingsOf: (name: string, gateways: Array<{ url: string; tokenFile: string; pollMs: number }>) => CollectSettings;
  /** What the stand-in gateway serves, and the queries it was asked. */
  const served: SignedVoucher[] = [];
  const asked: string[] = [];

  /** Vouchers of `payer`'s channel to ww, by seq. */
  const voucherOf =
    (payer: string) =>
    (seq: number): SignedVoucher =>
      signVoucher(
        {
          payer,
          payee: 'ww',
          seq,
          amountNano: BigInt(seq) * NOK,
          currency: 'NOK',
          ledgerHead: 'cd'.repeat(32),
          issuedAtMs: 1_800_000_000_000 + seq * 1000,
        },
        keys.keyFor(payer),
      );
  const v = voucherOf('p-1');
  const api = (c: CollectorHandle) => new ApiClient(c.url, c.token);
  const top = async (c: CollectorHandle) => (await api(c).get<Receivable[]>('/api/receivables'))[0]?.seq;
  /** As a sibling forwards it: every member reads it. */
  const toGroup = (x: SignedVoucher, channel = CHANNEL) =>
    pub!.publishAsync(`m2m/collect/ww/vouchers/${channel}`, JSON.stringify(x), { qos: 1 });

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
    const settings = (settingsOf = (name: string, gateways: Array<{ url: string; tokenFile: string; pollMs: number }>) => ({
      payees: ['ww'],
      dataDir: path.join(dir, name),
      listen: '127.0.0.1:0',
      gateways,
      mqtt: { url: broker.url, topicPrefix: 'm2m', group: 'ww', clientId: `collect-${name}` },
      payers: {},
      configFile: '',
      gapRetryMs: 200,
      gapEventMs: 1000,
    }));
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
    await c?.stop();
    await new Promise<void>((resolve) => (gw2 ? gw2.close(() => resolve()) : resolve()));
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
      { channel: CHANNEL, after: 6, afterIssuedAt: v(6).issuedAt, next: 9, last: 9, pending: 1, sinceMs: expect.any(Number) },
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

  test('every other seq missing (as a shared subscription leaves them): one request fills them all', async () => {
    const CH3 = 'p-3>ww';
    const u = voucherOf('p-3');
    const all = Array.from({ length: 41 }, (_, i) => u(i + 1));
    for (const x of all) expect(a!.store.offer(x, 'test').status).toBe('accepted');
    const asks: Array<{ after: number; before: number; holes: unknown }> = [];
    /** How often each seq of CH3 went over the group's voucher topic. */
    const sent = new Map<number, number>();
    const watch = await new Promise<MqttClient>((resolve, reject) => {
      const m = connect(broker.url, { reconnectPeriod: 0 });
      m.once('connect', () => m.subscribe(['m2m/collect/ww/gaps', `m2m/collect/ww/vouchers/${CH3}`], { qos: 1 }, () => resolve(m)));
      m.once('error', reject);
    });
    watch.on('message', (t, p) => {
      const q = JSON.parse(p.toString()) as { channel: string; after: number; before: number; holes: unknown; seq: number };
      if (t.endsWith('/gaps') && q.channel === CH3) asks.push({ after: q.after, before: q.before, holes: q.holes });
      else if (!t.endsWith('/gaps')) sent.set(q.seq, (sent.get(q.seq) ?? 0) + 1);
    });
    try {
      // B sees 1, 2 and the odd seqs up to 41: 19 holes (4, 6, …, 40).
      for (const s of [1, 2, ...all.map((x) => x.seq).filter((s) => s > 2 && s % 2 === 1)]) await toGroup(u(s), CH3);
      await until(
        async () => (await api(b!).get<Receivable[]>('/api/receivables')).find((r) => r.channel === CH3)?.seq === 41,
        'B to fill 19 holes',
      );
      expect(b!.store.vouchers(CH3)).toEqual(all);
      // Every request names every hole below the highest seq B held then (B may ask once while the
      // odd seqs still arrive, every gapRetryMs); once it holds 41, one request names all 19 holes
      // and fills them (a second may cross the answer), not one request per hole.
      const holesBelow = (before: number) => Array.from({ length: (before - 3) / 2 }, (_, k) => [4 + 2 * k, 4 + 2 * k]);
      for (const a of asks)
        expect(a).toEqual({ after: expect.any(Number), before: a.before, holes: holesBelow(a.before).filter(([h]) => h! > a.after) });
      const whole = asks.findIndex((a) => a.before === 41);
      expect(whole).toBeGreaterThanOrEqual(0);
      expect(asks.length - whole).toBeLessThan(3);
      if (whole === 0) expect(asks[0]).toEqual({ after: 3, before: 41, holes: holesBelow(41) }); // the usual case: all 19 in one
      // A sends the holes only, never what B held, and each hole once per request that named it.
      for (let s = 5; s < 41; s += 2) expect([s, sent.get(s)]).toEqual([s, 1]);
      for (let s = 4; s < 41; s += 2) expect([s, sent.get(s)]).toEqual([s, asks.filter((a) => a.after < s && s < a.before).length]);
    } finally {
      await watch.endAsync();
    }
  });

  test('a member that pulled while the broker was away passes nothing queued; its siblings catch up from anti-entropy', async () => {
    const CH2 = 'p-2>ww';
    const w = voucherOf('p-2');
    const served2: SignedVoucher[] = [w(1)];
    gw2 = http.createServer((req, res) => {
      const since = Number(new URL(req.url ?? '/', 'http://gw').searchParams.get('since') ?? 0);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(served2.filter((x) => Date.parse(x.issuedAt) >= since)));
    });
    await new Promise<void>((resolve) => gw2!.listen(0, '127.0.0.1', resolve));
    const gw2Url = `http://127.0.0.1:${(gw2.address() as { port: number }).port}`;
    c = await startCollector(settingsOf('c', [{ url: gw2Url, tokenFile: path.join(dir, 'gw.token'), pollMs: 100 }]), silentLogger());
    const top2 = async (x: CollectorHandle) => (await api(x).get<Receivable[]>('/api/receivables')).find((r) => r.channel === CH2)?.seq;
    // A watcher that sees the retain flag as published counts what goes out retained, through the outage.
    const retained: number[] = [];
    const watch = connect(broker.url, { protocolVersion: 5, reconnectPeriod: 50 });
    watch.on('connect', () => watch.subscribe({ [`m2m/collect/ww/vouchers/${CH2}`]: { qos: 1, rap: true } }));
    watch.on('message', (_t, p, packet) => {
      if (packet.retain) retained.push((JSON.parse(p.toString()) as SignedVoucher).seq);
    });
    try {
      // Seq 1 goes round while all are connected: the base of the channel everywhere.
      for (const x of [a!, b!]) await until(async () => (await top2(x)) === 1, 'A and B to take seq 1 from C');

      // The broker is away while C pulls 2..150 from its gateway.
      await broker.stop();
      for (let s = 2; s <= 150; s++) served2.push(w(s));
      await until(async () => (await top2(c!)) === 150, 'C to pull 2..150');
      await broker.start();

      for (const x of [a!, b!]) await until(async () => (await top2(x)) === 150, 'A and B to catch up with C after the outage', 20_000);
      expect(a!.store.vouchers(CH2)).toEqual(served2);
      expect(b!.store.vouchers(CH2)).toEqual(served2);
      // Retained went out only what anti-entropy sends (each member's latest, a few rounds), not
      // the 149 C took while the broker was away.
      expect(retained).toContain(150);
      expect(new Set(retained).size).toBeLessThan(20);
    } finally {
      await watch.endAsync();
    }
  });
});
