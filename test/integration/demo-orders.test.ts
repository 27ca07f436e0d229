/**
 * `m2m-gateway demo` tells the whole purifier story (docs/policies.md): the
 * built demo sets the purifier's cycle from the hardness (a `control` event,
 * read back), and within its first three minutes a service order is opened,
 * acknowledged by the simulated service centre, the centre "visits" with a
 * new cartridge, and the order is closed with its fee billed; the summary
 * line shows hardness → cycle and the orders.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ApiClient, type LedgerRow } from '../helper/gateway-api';
import { GatewayProcess, killAllProcesses, requireBuild, waitFor } from '../helper/daemon-process';

jest.setTimeout(240_000);

interface Order {
  id: string;
  state: string;
  reason: string;
  openedAt: string;
  ackedAt: string | null;
  closedAt: string | null;
  billed: boolean;
}

describe('the demo: control and a full service-order cycle', () => {
  let root = '';
  beforeAll(() => {
    requireBuild();
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'm2m-demo-orders-'));
  });
  afterAll(async () => {
    await killAllProcesses();
    if (root) fs.rmSync(root, { recursive: true, force: true });
  });

  test('opened, acknowledged, visited and closed within three minutes; the cycle follows the hardness', async () => {
    const startedAt = Date.now();
    const demo = await GatewayProcess.start(['demo', '--data-dir', path.join(root, 'demo'), '--port', '0', '--summary-ms', '1000'], {
      urlPattern: /API:\s+(http:\/\/127\.0\.0\.1:\d+)/,
    });
    const token = /token:\s+(\S+)/.exec(demo.stdout)![1];
    const api = new ApiClient(demo.url, token);

    const control = await waitFor(
      async () => (await api.get<Array<{ data: Record<string, string> }>>('/api/events?kind=control'))[0],
      'a cycle written by the gateway',
      20_000,
      500,
    );
    expect(control.data).toMatchObject({ input: 'hardness', confirmed: control.data.to });

    const closed = await waitFor(
      async () => (await api.get<Order[]>('/api/orders?state=closed'))[0],
      'a closed service order',
      Math.max(1000, startedAt + 180_000 - Date.now()),
      1000,
    );
    expect(closed).toMatchObject({ billed: true, ackedAt: expect.any(String), closedAt: expect.any(String) });
    expect(Date.parse(closed.ackedAt!)).toBeGreaterThanOrEqual(Date.parse(closed.openedAt));
    // the visit came 8 s after the acknowledgement
    expect(Date.parse(closed.closedAt!) - Date.parse(closed.ackedAt!)).toBeGreaterThanOrEqual(8_000);
    const fee = await waitFor(
      async () => (await api.get<LedgerRow[]>('/api/ledger?point=service:cartridge')).find((r) => r.payee === 'servicecentre'),
      'the service fee in the ledger',
      10_000,
      500,
    );
    expect(fee.amount).toBe('45.000000000');
    await waitFor(
      () => (/→ cycle \d, cartridge \d+ % \| orders \d+ open, \d+ acked, [1-9]\d* closed \|/.test(demo.stdout) ? true : undefined),
      'the summary line showing the closed order',
      5_000,
      200,
    );

    expect(await demo.stop('SIGINT', 10_000)).toEqual({ code: 0, signal: null });
    expect(demo.logLines().filter((l) => Number(l.level) >= 50)).toEqual([]);
  });
});
