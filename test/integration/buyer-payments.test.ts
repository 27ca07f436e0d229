/**
 * A data buyer pays with vouchers signed by its own key (docs/marketplace.md),
 * in process against a simulated purifier on a loopback Modbus TCP port:
 * the reference buyer client (`m2m-gateway buy`, BuyerClient) keeps its key
 * in its own folder and pays every bill; the seller verifies each voucher and
 * keeps it. A hand-driven buyer shows each refusal (forged signature, skipped
 * or repeated seq, lowered amount, amount over the deposit) and that its
 * deliveries pause after it, and that a buyer who stops paying stops
 * receiving within the offer's credit window. No key of an outside account
 * is ever written to the seller's data folder. A buyer whose key the seller
 * registered ahead (`token --buyer ID --payer-key KEY`) has even its first
 * voucher refused when another key signed it.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ChannelView, Voucher } from '../../gateway/api/backend';
import { ensureBuyerToken } from '../../gateway/api/buyer-tokens';
import { BuyerClient } from '../../gateway/cli/buy';
import { silentLogger } from '../../gateway/base/log';
import { formatMoney } from '../../gateway/base/decimal';
import type { Gateway } from '../../gateway/daemon/gateway';
import { KeyStore } from '../../gateway/settle/keys';
import { signVoucher, type SignedVoucher } from '../../gateway/settle/voucher';
import { ApiClient } from '../helper/gateway-api';
import { startTestGateway, until, type TestGateway } from '../helper/in-process-gateway';
import { StreamClient, type Msg } from '../helper/stream-client';
import { requireBuild, runCli } from '../helper/daemon-process';

jest.setTimeout(30_000);

const flows = [
  { id: 't', type: 'tab', label: 'market' },
  {
    id: 'o1',
    type: 'm2m-offer',
    z: 't',
    name: 'hardness',
    devices: 'purifier-1',
    point: 'hardness',
    price: '0.01',
    credit: '0.05',
    buyers: ['lab-1', 'lab-2', 'lab-3', 'lab-4', 'lab-5'],
    wires: [],
  },
];
const HEAD = 'ab'.repeat(32);
const yaml = ({ port }: { port: number }) => `version: 1
gateway: { id: seller, dataDir: ., timezone: UTC, currency: NOK }
settlement: { threshold: "1" }
links: [ { id: plant, type: modbus-tcp, host: 127.0.0.1, port: ${port}, timeoutMs: 500 } ]
devices:
  - id: purifier-1
    link: plant
    unitId: 1
    pollMs: 25
    points:
      - { name: hardness, kind: gauge, area: input, address: 10, type: int16, scale: "0.1", unit: dH }
`;

/** Every file below `dir`, relative. */
function filesUnder(dir: string): string[] {
  return (fs.readdirSync(dir, { recursive: true }) as string[]).filter((f) => fs.statSync(path.join(dir, f)).isFile());
}

describe('buyers pay with their own keys', () => {
  let rig: TestGateway | undefined;
  let gw: Gateway;
  let admin: ApiClient;
  let buyersRoot: string;
  const tokens: Record<string, string> = {};

  beforeAll(async () => {
    buyersRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'm2m-buyers-'));
    rig = await startTestGateway({
      prefix: 'm2m-buyer-pay-',
      flows,
      registers: (b) => {
        b.input[10] = 123;
      },
      yaml,
      beforeStart: (d) => {
        for (const b of ['lab-1', 'lab-2', 'lab-3', 'lab-4']) tokens[b] = ensureBuyerToken(d, b).token;
      },
    });
    gw = rig.gw!;
    admin = new ApiClient(gw.apiUrl, gw.adminToken);
  });

  afterAll(async () => {
    await rig?.stop();
    fs.rmSync(buyersRoot, { recursive: true, force: true });
  });

  const channel = async (id: string) => (await admin.get<ChannelView[]>('/api/channels')).find((c) => c.id === id);

  test('the reference buyer client pays every bill with its own key, kept in its own folder; the seller keeps and lists its vouchers', async () => {
    const dir = path.join(buyersRoot, 'lab-1');
    const client = new BuyerClient({ url: gw.apiUrl, account: 'lab-1', token: tokens['lab-1']!, dir, deposit: '100' }, silentLogger());
    client.connect();
    try {
      await until(() => client.vouchers('lab-1>purifier-1').length >= 5, 'five vouchers signed by lab-1');
      await until(async () => ((await channel('lab-1>purifier-1'))?.lastSeq ?? 0) >= 5, 'five vouchers accepted');
    } finally {
      client.close();
    }
    // The buyer's key is in ITS folder, private; the seller's folder has no key of it.
    expect(fs.statSync(path.join(dir, 'keys', 'lab-1.key')).mode & 0o777).toBe(0o600);
    const sellerFiles = filesUnder(rig!.dir);
    expect(sellerFiles.filter((f) => f.startsWith('keys'))).toEqual(expect.not.arrayContaining([expect.stringContaining('lab-1')]));
    expect(sellerFiles.some((f) => f.endsWith('.key') && !['keys/gateway.key', 'keys/purifier-1.key'].includes(f))).toBe(false);

    // An accepted voucher commits with the next ledger batch (a flush later than the answer).
    let listed: Voucher[] = [];
    await until(async () => {
      listed = await admin.get<Voucher[]>('/api/vouchers?channel=lab-1%3Epurifier-1');
      return listed.length === (await channel('lab-1>purifier-1'))!.lastSeq;
    }, 'every accepted voucher committed and listed');
    const accepted = (await channel('lab-1>purifier-1'))!;
    expect(listed.map((v) => v.seq)).toEqual(listed.map((_, i) => i + 1));
    expect(listed.every((v) => v.payerKey === client.publicKey)).toBe(true);
    expect(listed).toEqual(client.vouchers('lab-1>purifier-1').slice(0, listed.length));
    expect(accepted).toMatchObject({ vouchered: listed.at(-1)!.amount, received: listed.at(-1)!.amount, deposit: '100.000000000' });
  });

  test('the built `m2m-gateway buy` prints the readings, pays with its own key and exits after -n readings', async () => {
    requireBuild();
    const dir = path.join(buyersRoot, 'lab-4');
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'token'), tokens['lab-4']!, { mode: 0o600 });
    const r = await runCli(
      ['buy', '--url', gw.apiUrl, '--account', 'lab-4', '--token-file', path.join(dir, 'token'), '--dir', dir, '--deposit', '1', '-n', '8'],
      { timeoutMs: 20_000 },
    );
    expect(r.code).toBe(0);
    const lines = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { device: string; points: Record<string, unknown> });
    expect(lines.length).toBeGreaterThanOrEqual(8);
    expect(lines.every((l) => l.device === 'purifier-1' && Object.keys(l.points).join() === 'hardness')).toBe(true);
    expect(r.stderr).toMatch(/buyer lab-4: key [A-Za-z0-9_-]{43}/);
    const mine = JSON.parse(fs.readFileSync(path.join(dir, 'vouchers.json'), 'utf8')) as { vouchers: Record<string, SignedVoucher[]> };
    const signed = mine.vouchers['lab-4>purifier-1']!;
    expect(signed.length).toBeGreaterThan(0);
    const listed = await admin.get<Voucher[]>('/api/vouchers?channel=lab-4%3Epurifier-1');
    expect(listed.length).toBeGreaterThan(0);
    expect(signed.slice(0, listed.length)).toEqual(listed);
    // The seller's key folder holds only its own keys (the gateway's, and its device account's once it signs).
    expect(fs.readdirSync(path.join(rig!.dir, 'keys')).filter((f) => !['gateway.key', 'purifier-1.key'].includes(f))).toEqual([]);
  });

  test("forged, skipped, repeated, lowered and over-the-cap vouchers are refused, and each pauses the buyer's deliveries", async () => {
    const keys = new KeyStore(path.join(buyersRoot, 'lab-2', 'keys'));
    const other = new KeyStore(path.join(buyersRoot, 'mallory', 'keys'));
    const c = StreamClient.connect(gw.apiUrl, tokens['lab-2']!);
    try {
      await c.next('ready');
      await c.ask({ type: 'subscribe', topics: ['readings'] }, 'subscribed');
      await c.next('reading');
      const sign = (seq: number, amount: bigint, key = keys.keyFor('lab-2')): SignedVoucher =>
        signVoucher(
          { payer: 'lab-2', payee: 'purifier-1', seq, amountNano: amount, currency: 'NOK', ledgerHead: HEAD, issuedAtMs: Date.now() },
          key,
        );
      const answer = async (v: object, deposit?: string): Promise<Msg> => {
        const n = c.messages.length;
        c.send({ type: 'voucher', voucher: v, ...(deposit ? { deposit } : {}) });
        await until(
          () => c.messages.slice(n).some((m) => m.type === 'voucher-accepted' || m.type === 'voucher-refused'),
          'an answer to the voucher',
        );
        return c.messages.slice(n).find((m) => m.type === 'voucher-accepted' || m.type === 'voucher-refused')!;
      };
      /** Readings keep coming (the device is polled every 25 ms). */
      const flowing = async () => {
        const n = c.count('reading');
        await until(() => c.count('reading') >= n + 3, 'readings flowing again');
      };
      /** No reading arrives for a while although the device is polled every 25 ms. */
      const pausedNow = async () => {
        await new Promise((r) => setTimeout(r, 100)); // one in flight may still land
        const n = c.count('reading');
        await new Promise((r) => setTimeout(r, 400));
        expect(c.count('reading')).toBe(n);
      };

      // Paid ahead (5 NOK a voucher, 0.4 NOK/s of readings), so only the refusals pause it.
      const NOK = 1_000_000_000n;
      expect(await answer(sign(1, 5n * NOK), '50')).toMatchObject({
        type: 'voucher-accepted',
        seq: 1,
        bill: { paused: false, deposit: '50.000000000' },
      });
      await flowing();

      let next = 2; // the seq the next valid voucher takes
      const cases: Array<[string, () => object, string]> = [
        ['forged signature', () => ({ ...sign(next, BigInt(next) * 5n * NOK), amount: '49.000000000' }), 'sig'],
        ['signed by another key', () => sign(next, BigInt(next) * 5n * NOK, other.keyFor('lab-2')), 'payerKey'],
        ['skipped seq', () => sign(next + 1, BigInt(next + 1) * 5n * NOK), 'seq'],
        ['repeated seq', () => sign(next - 1, BigInt(next) * 5n * NOK), 'seq'],
        ['lowered amount', () => sign(next, NOK), 'amount'],
        ['over the cap', () => sign(next, 51n * NOK), 'amount'],
      ];
      for (const [what, make, field] of cases) {
        const v = make();
        const a = await answer(v);
        expect([what, a.type, a.field, (a.bill as { paused: boolean }).paused]).toEqual([what, 'voucher-refused', field, true]);
        await pausedNow();
        // A valid voucher resumes delivery.
        const ok = await answer(sign(next, BigInt(next) * 5n * NOK));
        expect([what, ok.type]).toEqual([what, 'voucher-accepted']);
        next += 1;
        await flowing();
      }
      const refused = await admin.get<Array<{ data: { field: string } }>>('/api/events?kind=voucher-refused');
      expect(
        refused
          .filter((e) => (e as unknown as { account: string }).account === 'lab-2')
          .map((e) => e.data.field)
          .sort(),
      ).toEqual(['amount', 'amount', 'payerKey', 'seq', 'seq', 'sig']);
    } finally {
      await c.close();
    }
  });

  test('a payer key registered with the token (`token --buyer --payer-key`) refuses another key even on the first voucher', async () => {
    requireBuild();
    const keys = new KeyStore(path.join(buyersRoot, 'lab-5', 'keys'));
    const other = new KeyStore(path.join(buyersRoot, 'mallory-5', 'keys'));
    const cfgFile = path.join(rig!.dir, 'cli.yaml');
    fs.writeFileSync(cfgFile, yaml({ port: rig!.port }));
    const bad = await runCli(['token', '--config', cfgFile, '--buyer', 'lab-5', '--payer-key', 'not-a-key']);
    expect([bad.code, bad.stdout]).toEqual([2, '']);
    expect(bad.stderr).toMatch(/--payer-key/);
    const key = keys.keyFor('lab-5').publicKey;
    const r = await runCli(['token', '--config', cfgFile, '--buyer', 'lab-5', '--payer-key', key]);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(`buyer lab-5: vouchers must be signed by ${key}`);
    const token = r.stdout.trim();
    // The running gateway takes the token and the key from buyers.json without a restart.
    const c = StreamClient.connect(gw.apiUrl, token);
    try {
      await c.next('ready');
      const sign = (k: KeyStore) =>
        signVoucher(
          {
            payer: 'lab-5',
            payee: 'purifier-1',
            seq: 1,
            amountNano: 1_000_000_000n,
            currency: 'NOK',
            ledgerHead: HEAD,
            issuedAtMs: Date.now(),
          },
          k.keyFor('lab-5'),
        );
      const answer = async (v: object): Promise<Msg> => {
        const n = c.messages.length;
        c.send({ type: 'voucher', voucher: v, deposit: '10' });
        await until(() => c.messages.slice(n).some((m) => m.type === 'voucher-accepted' || m.type === 'voucher-refused'), 'an answer');
        return c.messages.slice(n).find((m) => m.type === 'voucher-accepted' || m.type === 'voucher-refused')!;
      };
      expect(await answer(sign(other))).toMatchObject({ type: 'voucher-refused', seq: 1, field: 'payerKey' });
      expect(await answer(sign(keys))).toMatchObject({ type: 'voucher-accepted', seq: 1 });
    } finally {
      await c.close();
    }
    // The token stays the same; the key stays registered.
    const again = await runCli(['token', '--config', cfgFile, '--buyer', 'lab-5']);
    expect(again.stdout.trim()).toBe(token);
    const file = JSON.parse(fs.readFileSync(path.join(rig!.dir, 'buyers.json'), 'utf8')) as { buyers: Record<string, object> };
    expect(file.buyers['lab-5']).toEqual({ token, createdAt: expect.any(String), payerKey: key });
  });

  test('a buyer who stops paying stops receiving within the credit window, and resumes when it pays', async () => {
    const keys = new KeyStore(path.join(buyersRoot, 'lab-3', 'keys'));
    const c = StreamClient.connect(gw.apiUrl, tokens['lab-3']!);
    try {
      await c.next('ready');
      await c.ask({ type: 'subscribe', topics: ['readings'] }, 'subscribed');
      // It never pays: readings stop once it owes more than 0.05 NOK (5 readings at 0.01).
      await until(async () => (await channel('lab-3>purifier-1'))?.accrued !== undefined && c.count('reading') >= 5, 'the first readings');
      await until(() => c.messages.some((m) => m.type === 'bill' && m.paused === true), 'a bill saying paused', 5000);
      await new Promise((r) => setTimeout(r, 150));
      const delivered = c.count('reading');
      await new Promise((r) => setTimeout(r, 500));
      expect(c.count('reading')).toBe(delivered); // nothing more while it owes
      const ch = (await channel('lab-3>purifier-1'))!;
      expect(ch.accrued).toBe(formatMoney(BigInt(delivered) * 10_000_000n));
      // Within the window: it received at most credit/price + what one metering flush lets through.
      expect(delivered).toBeGreaterThanOrEqual(6);
      expect(delivered).toBeLessThanOrEqual(8);
      // Paying for everything delivered resumes delivery.
      const v = signVoucher(
        {
          payer: 'lab-3',
          payee: 'purifier-1',
          seq: 1,
          amountNano: BigInt(delivered) * 10_000_000n,
          currency: 'NOK',
          ledgerHead: HEAD,
          issuedAtMs: Date.now(),
        },
        keys.keyFor('lab-3'),
      );
      const n = c.messages.length;
      c.send({ type: 'voucher', voucher: v, deposit: '10' });
      await until(() => c.messages.slice(n).some((m) => m.type === 'voucher-accepted'), 'accepted');
      await until(() => c.count('reading') >= delivered + 3, 'readings again');
    } finally {
      await c.close();
    }
  });
});
