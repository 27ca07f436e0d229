/**
 * The demo's two parties and its buyer (docs/settlement.md, docs/marketplace.md):
 * the built `m2m-gateway demo` runs the purifier's gateway (payer), the
 * waterworks' collector (payee) and the lab's buyer client side by side, each
 * in its own folder. Every voucher the demo produces — the purifier's, signed
 * by its gateway, and the lab's, signed by the lab's own key — verifies with
 * Python's cryptography and an RFC 8785 encoder of the test's own; the
 * summary line shows what the waterworks received and verified; no key of
 * an outside account is in the gateway's folder.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Voucher } from '../../gateway/api/backend';
import type { Receivable } from '../../gateway/settle/collector-store';
import { ApiClient } from '../helper/gateway-api';
import { GatewayProcess, killAllProcesses, requireBuild, waitFor } from '../helper/daemon-process';
import { verifyWithPython } from '../helper/python-vouchers';

jest.setTimeout(90_000);

describe('the demo: payer, payee and buyer side by side', () => {
  let root = '';
  beforeAll(() => {
    requireBuild();
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'm2m-demo-parties-'));
  });
  afterAll(async () => {
    await killAllProcesses();
    if (root) fs.rmSync(root, { recursive: true, force: true });
  });

  test('the waterworks verifies what the purifier pays; the lab pays with its own key; every voucher verifies in Python', async () => {
    const demo = await GatewayProcess.start(['demo', '--data-dir', root, '--port', '0', '--summary-ms', '500'], {
      urlPattern: /API:\s+(http:\/\/127\.0\.0\.1:\d+)/,
    });
    const token = /token:\s+(\S+)/.exec(demo.stdout)![1]!;
    const api = new ApiClient(demo.url, token);
    await waitFor(
      () => (/waterworks verified #\d+ \d+\.\d{9} \| lab-1 paid #\d+/.test(demo.stdout) ? true : undefined),
      'the summary to show a verified water voucher and a lab payment',
      60_000,
      250,
    );

    const vouchers = await api.get<Voucher[]>('/api/vouchers');
    const water = vouchers.filter((v) => v.channel === 'purifier-1>waterworks');
    const lab = vouchers.filter((v) => v.channel === 'lab-1>purifier-1');
    expect(water.length).toBeGreaterThan(0);
    expect(lab.length).toBeGreaterThan(0);
    expect(verifyWithPython(vouchers)).toEqual({ status: 0, out: `ok ${vouchers.length}`, err: '' });

    const collectorUrl = /waterworks collector: (http:\/\/\S+)\/api\/receivables/.exec(demo.stdout)![1]!;
    const ww = new ApiClient(collectorUrl, fs.readFileSync(path.join(root, 'waterworks', 'token'), 'utf8').trim());
    const [r] = await ww.get<Receivable[]>('/api/receivables');
    expect(water.some((v) => v.seq === r!.seq && v.amount === r!.amount)).toBe(true);

    const keys = (fs.readdirSync(path.join(root, 'purifier-gw'), { recursive: true }) as string[]).filter((f) => f.endsWith('.key')).sort();
    expect(keys).toEqual(['keys/gateway.key', 'keys/purifier-1.key']);
    expect(fs.existsSync(path.join(root, 'lab-1', 'keys', 'lab-1.key'))).toBe(true);
    expect(lab.every((v) => v.payerKey !== water[0]!.payerKey)).toBe(true);

    expect(await demo.stop('SIGINT', 10_000)).toEqual({ code: 0, signal: null });
  });
});
