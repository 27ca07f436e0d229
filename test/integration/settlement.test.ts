/**
 * Settlement end to end, in process: a Gateway (BigInt reference core) polls
 * an in-memory Modbus device on a loopback port with a low voucher threshold.
 * Vouchers come with seq 1, 2, 3… per channel, each for the channel's whole
 * accrued amount at issue, committed with the account state they settle:
 * issuing settles nothing (/api/accounts unsettled = accrued − received, and
 * no payee collector reports anything here), /api/channels and
 * /api/vouchers agree, the stream carries each voucher once, and each one
 * passes `m2m-gateway verify` (alone, with --key, and as a channel list).
 */
import Database from 'better-sqlite3';
import fs from 'node:fs';
import path from 'node:path';
import type { AccountView, ChannelView, Voucher } from '../../gateway/api/backend';
import { verifyVoucherText } from '../../gateway/cli/verify';
import type { Gateway } from '../../gateway/daemon/gateway';
import { parseDecimal } from '../../gateway/base/decimal';
import { KeyStore } from '../../gateway/settle/keys';
import type { RegisterBank } from '../../gateway/cli/demo/register-bank';
import { waitFor } from '../helper/daemon-process';
import { startTestGateway, type TestGateway } from '../helper/in-process-gateway';

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
    type: 'm2m-tariff',
    z: 't',
    name: 'sewer',
    devices: 'purifier-*',
    point: 'volume',
    payee: 'sewer',
    price: '0.25',
    tou: [],
    wires: [],
  },
];

const nano = (s: string): bigint => parseDecimal(s, 9);

describe('settlement with signed cumulative vouchers', () => {
  let rig: TestGateway | undefined;
  let dir: string;
  let bank: RegisterBank;
  let gw: Gateway;
  const streamed: Voucher[] = [];

  async function api<T>(route: string): Promise<T> {
    const res = await fetch(`${gw.apiUrl}${route}`, { headers: { authorization: `Bearer ${gw.adminToken}` } });
    expect(res.status).toBe(200);
    return (await res.json()) as T;
  }
  const channel = async (id: string) => (await api<ChannelView[]>('/api/channels')).find((c) => c.id === id);
  /** Set the counters and wait until the water channel has accrued `waterNano` (its vouchers commit in the same batch). */
  async function setCounters(water: number, volume: number, want: { water: string; sewer?: string }): Promise<void> {
    bank.setUint32(bank.holding, 0, water);
    bank.holding[2] = volume;
    await waitFor(
      async () => {
        const w = await channel('purifier-1>waterworks');
        const s = await channel('purifier-1>sewer');
        return w?.accrued === want.water && (want.sewer === undefined || s?.accrued === want.sewer) ? true : undefined;
      },
      `accrued water ${want.water}, sewer ${want.sewer ?? 'any'}`,
      10_000,
      20,
    );
  }

  beforeAll(async () => {
    rig = await startTestGateway({
      prefix: 'm2m-settle-',
      flows,
      registers: (b) => {
        b.setUint32(b.holding, 0, 100);
        b.holding[2] = 40;
      },
      yaml: ({ port }) => `version: 1
gateway: { id: t, dataDir: ., timezone: UTC, currency: NOK }
settlement: { threshold: "2.5" }
links: [ { id: plant, type: modbus-tcp, host: 127.0.0.1, port: ${port}, timeoutMs: 500 } ]
devices:
  - id: purifier-1
    link: plant
    unitId: 1
    pollMs: 30
    points:
      - { name: water, kind: counter, area: holding, address: 0, type: uint32, unit: L }
      - { name: volume, kind: counter, area: holding, address: 2, type: uint16, unit: L }
`,
    });
    expect(rig.cfg.settlement).toEqual({ threshold: '2.5', intervalS: 3600 });
    ({ bank, dir } = rig);
    gw = rig.gw!;
    gw.backend.stream.on('voucher', (v) => streamed.push(v));
    await waitFor(() => (gw.views.get('purifier-1')?.points.water?.value === '100' ? true : undefined), 'baseline read', 10_000);
  });

  afterAll(() => rig?.stop());

  test('below the threshold nothing is vouchered; reaching it issues seq 1 for the whole accrued amount', async () => {
    await setCounters(102, 40, { water: '2.000000000' });
    expect((await channel('purifier-1>waterworks'))?.lastSeq).toBe(0);
    expect(await api<Voucher[]>('/api/vouchers')).toEqual([]);

    await setCounters(104, 40, { water: '4.000000000' });
    const [v1] = await api<Voucher[]>('/api/vouchers?channel=purifier-1%3Ewaterworks');
    expect(v1).toMatchObject({
      v: 1,
      channel: 'purifier-1>waterworks',
      payer: 'purifier-1',
      payee: 'waterworks',
      seq: 1,
      amount: '4.000000000',
      currency: 'NOK',
    });
    expect(await channel('purifier-1>waterworks')).toEqual({
      id: 'purifier-1>waterworks',
      payer: 'purifier-1',
      payee: 'waterworks',
      accrued: '4.000000000',
      vouchered: '4.000000000',
      lastSeq: 1,
    });
    // ledgerHead is the chain head the voucher was issued at: the batch before the one that holds it.
    const rec = gw.ledger.vouchers('purifier-1>waterworks')[0]!;
    expect(JSON.parse(rec.json)).toEqual(v1);
    const db = new Database(path.join(dir, 'ledger.db'), { readonly: true });
    try {
      const prev = db.prepare('SELECT hash FROM batches WHERE seq = ?').get(rec.batchSeq - 1) as { hash: string };
      expect(v1!.ledgerHead).toBe(prev.hash);
    } finally {
      db.close();
    }
  });

  test('seq 2, 3 … per channel, amounts cumulative and equal to the accrued total at issue; two channels in one batch', async () => {
    await setCounters(105, 40, { water: '5.000000000' }); // unvouchered 1: nothing
    expect((await channel('purifier-1>waterworks'))?.lastSeq).toBe(1);
    await setCounters(110, 52, { water: '10.000000000', sewer: '3.000000000' }); // water +6, sewer 12 × 0.25 = 3
    await setCounters(113, 60, { water: '13.000000000', sewer: '5.000000000' }); // water +3, sewer +2 (< 2.5: not yet)
    const water = await api<Voucher[]>('/api/vouchers?channel=purifier-1%3Ewaterworks');
    expect(water.map((v) => [v.seq, v.amount])).toEqual([
      [1, '4.000000000'],
      [2, '10.000000000'],
      [3, '13.000000000'],
    ]);
    const sewer = await api<Voucher[]>('/api/vouchers?channel=purifier-1%3Esewer');
    expect(sewer.map((v) => [v.seq, v.amount])).toEqual([[1, '3.000000000']]);
    expect(await channel('purifier-1>sewer')).toMatchObject({ accrued: '5.000000000', vouchered: '3.000000000', lastSeq: 1 });
  });

  test('the end of an interval vouchers every channel with a non-zero unvouchered amount', async () => {
    gw.settlement!.endInterval();
    await waitFor(
      async () => ((await channel('purifier-1>sewer'))?.lastSeq === 2 ? true : undefined),
      'interval voucher on sewer',
      10_000,
      20,
    );
    expect(await channel('purifier-1>sewer')).toMatchObject({ accrued: '5.000000000', vouchered: '5.000000000', lastSeq: 2 });
    // water was fully vouchered: no voucher without something to cover
    expect(await channel('purifier-1>waterworks')).toMatchObject({ accrued: '13.000000000', vouchered: '13.000000000', lastSeq: 3 });
    gw.settlement!.endInterval(); // nothing unvouchered now: no voucher
    for (let i = 0; i < 3; i++) await new Promise((r) => gw.metering.once('batch', r));
    expect(gw.ledger.vouchers().length).toBe(5);
  });

  test('/api/accounts: unsettled = accrued (nothing received: issuing settles nothing); the stream carried each voucher once; every voucher verifies', async () => {
    await setCounters(114, 60, { water: '14.000000000' }); // 1 NOK unvouchered on water
    const channels = await api<ChannelView[]>('/api/channels');
    const accrued = channels.filter((c) => c.payer === 'purifier-1').reduce((s, c) => s + nano(c.accrued), 0n);
    const vouchered = channels.filter((c) => c.payer === 'purifier-1').reduce((s, c) => s + nano(c.vouchered), 0n);
    const [acct] = (await api<AccountView[]>('/api/accounts')).filter((a) => a.id === 'purifier-1');
    expect(acct).toEqual({ id: 'purifier-1', unsettled: '19.000000000', vouchered: '18.000000000', currency: 'NOK' });
    expect(nano(acct!.unsettled)).toBe(accrued);
    expect(nano(acct!.vouchered)).toBe(vouchered);

    const all = await api<Voucher[]>('/api/vouchers');
    expect(all).toHaveLength(5);
    expect([...streamed].sort((a, b) => a.channel.localeCompare(b.channel) || a.seq - b.seq)).toEqual(all);
    const key = KeyStore.forDataDir(gw.config.gateway.dataDir).publicKeyOf('purifier-1');
    expect(key).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(fs.statSync(path.join(gw.config.gateway.dataDir, 'keys', 'purifier-1.key')).mode & 0o777).toBe(0o600);
    for (const v of all) {
      expect(v.payerKey).toBe(key);
      expect(verifyVoucherText(JSON.stringify(v), { key: key! })).toEqual({ code: 0, message: 'valid' });
    }
    for (const id of ['purifier-1>waterworks', 'purifier-1>sewer']) {
      expect(verifyVoucherText(JSON.stringify(all.filter((v) => v.channel === id)))).toEqual({ code: 0, message: 'valid' });
    }
    // `since` keeps the ones issued at or after a time.
    const last = all.reduce((m, v) => (v.issuedAt > m ? v.issuedAt : m), '');
    const since = await api<Voucher[]>(`/api/vouchers?since=${Date.parse(last)}`);
    expect(since.length).toBeGreaterThanOrEqual(1);
    expect(since.every((v) => v.issuedAt >= last)).toBe(true);
  });
});
