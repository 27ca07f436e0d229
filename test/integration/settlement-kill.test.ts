/**
 * Vouchers survive kill -9 (docs/architecture.md §6): the REAL built daemon meters a
 * counter that keeps running, with a threshold so low that nearly every batch
 * issues a voucher, and is SIGKILLed at different moments while issuing, then
 * restarted. Afterwards every channel's vouchers have seq 1, 2, 3… with no
 * gap and no reuse, amounts never decrease, each verifies with the same
 * payer key, every voucher seen through the API before a kill is still
 * there unchanged (no seq was issued twice), and `ledger verify` passes.
 *
 * The build is a precondition (`npm test` builds first).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Voucher } from '../../gateway/api/backend';
import { verifyVoucherText } from '../../gateway/cli/verify';
import { parseDecimal } from '../../gateway/base/decimal';
import { SqliteLedger } from '../../gateway/ledger/sqlite-store';
import { freePort } from '../../gateway/cli/demo/free-port';
import { RegisterBank } from '../../gateway/cli/demo/register-bank';
import { ApiClient } from '../helper/gateway-api';
import { GatewayProcess, killAllProcesses, requireBuild, runCli, waitFor } from '../helper/daemon-process';

jest.setTimeout(60_000);

const nano = (s: string): bigint => parseDecimal(s, 9);

describe('vouchers across kill -9 of the built daemon', () => {
  let root = '';
  let bank: RegisterBank;
  let ticker: NodeJS.Timeout | null = null;
  let water = 1_000;
  let energy = 5_000;

  const config = () => path.join(root, 'm2m-gateway.yaml');
  const dataDir = () => path.join(root, 'data');
  const token = () => (JSON.parse(fs.readFileSync(path.join(dataDir(), 'secrets.json'), 'utf8')) as { adminToken: string }).adminToken;

  beforeAll(async () => {
    requireBuild();
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'm2m-settle-kill-'));
    bank = new RegisterBank();
    bank.setUint32(bank.holding, 0, water);
    bank.setUint32(bank.holding, 2, energy);
    const port = await freePort();
    await bank.listen('127.0.0.1', port, 1);
    fs.mkdirSync(dataDir(), { recursive: true });
    fs.writeFileSync(
      path.join(dataDir(), 'flows.json'),
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
        {
          id: 'b',
          type: 'm2m-tariff',
          z: 't',
          name: 'grid',
          devices: 'purifier-*',
          point: 'energy',
          payee: 'grid',
          price: '0.5',
          tou: [],
          wires: [],
        },
      ]),
    );
    fs.writeFileSync(
      config(),
      `version: 1
gateway: { id: kill-gw, dataDir: ./data, currency: NOK, timezone: UTC }
http: { listen: "127.0.0.1:0" }
settlement: { threshold: "0.000000001", intervalS: 1 }
links: [ { id: plant, type: modbus-tcp, host: 127.0.0.1, port: ${port}, timeoutMs: 500 } ]
devices:
  - id: purifier-1
    link: plant
    unitId: 1
    pollMs: 20
    points:
      - { name: water, kind: counter, area: holding, address: 0, type: uint32, unit: L }
      - { name: energy, kind: counter, area: holding, address: 2, type: uint32, scale: "0.001", unit: kWh }
`,
    );
    // The counters run on their own: every poll brings deltas, nearly every batch a voucher.
    ticker = setInterval(() => {
      water += 3;
      energy += 7;
      bank.setUint32(bank.holding, 0, water);
      bank.setUint32(bank.holding, 2, energy);
    }, 5);
  });

  afterAll(async () => {
    if (ticker) clearInterval(ticker);
    await killAllProcesses();
    await bank?.close();
    if (root) fs.rmSync(root, { recursive: true, force: true });
  });

  test('SIGKILL while issuing, restart: no seq reused, amounts non-decreasing, all verify, ledger verify passes', async () => {
    const seenBeforeKills: Voucher[] = [];
    const start = async (): Promise<{ d: GatewayProcess; api: ApiClient }> => {
      const d = await GatewayProcess.start(['start', '--config', config()]);
      return { d, api: new ApiClient(d.url, token()) };
    };
    /** Wait until `n` more vouchers were issued by this run. */
    const moreVouchers = async (api: ApiClient, n: number): Promise<Voucher[]> => {
      const before = (await api.get<Voucher[]>('/api/vouchers')).length;
      return waitFor(
        async () => {
          const all = await api.get<Voucher[]>('/api/vouchers');
          return all.length >= before + n ? all : undefined;
        },
        `${n} more vouchers`,
        15_000,
        10,
      );
    };

    let keyBefore: string | undefined;
    for (const delayMs of [0, 7, 23, 41]) {
      const { d, api } = await start();
      const all = await moreVouchers(api, 3);
      seenBeforeKills.push(...all);
      keyBefore ??= all[0]?.payerKey;
      await new Promise((r) => setTimeout(r, delayMs)); // kill at different moments of the flush/commit cycle
      expect(await d.stop('SIGKILL', 5_000)).toEqual({ code: null, signal: 'SIGKILL' });
      const verifyDown = await runCli(['ledger', 'verify', '--config', config()]);
      expect({ code: verifyDown.code, out: verifyDown.stdout }).toEqual({ code: 0, out: expect.stringMatching(/^ledger OK/) });
    }

    // A last run, stopped cleanly once the counters stand still.
    const { d, api } = await start();
    await moreVouchers(api, 2);
    clearInterval(ticker!);
    ticker = null;
    await waitFor(
      async () =>
        (await api.get<Array<{ id: string; points: Record<string, { value: unknown }> }>>('/api/devices'))[0]?.points.water?.value ===
        String(water)
          ? true
          : undefined,
      'final water read',
      10_000,
    );
    const live = await api.get<Voucher[]>('/api/vouchers');
    expect(await d.stop('SIGTERM')).toMatchObject({ code: 0 });
    seenBeforeKills.push(...live);

    // What the ledger holds after the last (clean) stop.
    const ledger = SqliteLedger.open(dataDir());
    const vouchers = ledger.vouchers().map((r) => JSON.parse(r.json) as Voucher);
    const channels = ledger.channels();
    const account = ledger.accounts().find((a) => a.account === 'purifier-1')!;
    ledger.close();

    // Every voucher the API showed before a kill is still in the ledger, unchanged.
    const byKey = new Map(vouchers.map((v) => [`${v.channel}#${v.seq}`, v]));
    for (const v of seenBeforeKills) expect(byKey.get(`${v.channel}#${v.seq}`)).toEqual(v);

    // Per channel: seq 1..n without gap or repeat, amounts non-decreasing, each valid with the one payer key.
    for (const ch of ['purifier-1>grid', 'purifier-1>waterworks']) {
      const list = vouchers.filter((v) => v.channel === ch);
      expect(list.length).toBeGreaterThanOrEqual(3);
      expect(list.map((v) => v.seq)).toEqual(list.map((_, i) => i + 1));
      for (let i = 1; i < list.length; i++) expect(nano(list[i]!.amount) >= nano(list[i - 1]!.amount)).toBe(true);
      expect(verifyVoucherText(JSON.stringify(list), { key: keyBefore })).toEqual({ code: 0, message: 'valid' });
      const row = channels.find((c) => c.channel === ch)!;
      expect(row.lastSeq).toBe(list.length);
      expect(row.voucheredNano).toBe(nano(list[list.length - 1]!.amount));
      expect(row.voucheredNano <= row.accruedNano).toBe(true);
    }
    // Money: issuing settles nothing (no payee collector reports receipts here): unsettled = accrued.
    const accrued = channels.reduce((s, c) => s + c.accruedNano, 0n);
    expect(account.unsettledNano).toBe(accrued);
    expect(account.voucheredNano).toBe(channels.reduce((s, c) => s + c.voucheredNano, 0n));

    const verify = await runCli(['ledger', 'verify', '--config', config()]);
    expect({ code: verify.code, out: verify.stdout }).toEqual({ code: 0, out: expect.stringMatching(/^ledger OK/) });
    // The CLI itself on the exported list of one channel.
    const file = path.join(root, 'waterworks.json');
    fs.writeFileSync(file, JSON.stringify(vouchers.filter((v) => v.channel === 'purifier-1>waterworks')));
    expect(await runCli(['verify', file, '--key', keyBefore!])).toMatchObject({ code: 0, stdout: 'valid\n' });
  });
});
