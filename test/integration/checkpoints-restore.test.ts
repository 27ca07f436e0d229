/**
 * Signed checkpoints and restore safety (docs/settlement.md), with the built
 * gateway as a child process and the waterworks' collector in process:
 *
 *  - the gateway signs its ledger head every `ledger.checkpointMs` with its
 *    own key (keys/gateway.key, 0600); GET /api/checkpoints lists them newest
 *    first and each verifies with Python's cryptography;
 *  - `ledger verify --checkpoint` catches a ledger whose body was edited and
 *    whose chain was re-hashed (which plain `ledger verify` passes) and a
 *    rollback to an older copy;
 *  - after the ledger is restored from that older copy, the gateway issues
 *    nothing until the payee's receivables are read, says so (health,
 *    `settle-resync` event), and continues after the last published seq: no
 *    published seq is ever issued again, the collector sees no double-issue.
 */
import Database from 'better-sqlite3';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Voucher } from '../../gateway/api/backend';
import { silentLogger } from '../../gateway/base/log';
import { startCollector, type CollectorHandle } from '../../gateway/cli/collect';
import { freePort } from '../../gateway/cli/demo/free-port';
import { RegisterBank } from '../../gateway/cli/demo/register-bank';
import { parseCollectConfig } from '../../gateway/config/collect-schema';
import { chainHash, encodeBody, packText, unpackText } from '../../gateway/ledger/hash-chain';
import { ApiClient } from '../helper/gateway-api';
import { GatewayProcess, killAllProcesses, requireBuild, runCli, waitFor } from '../helper/daemon-process';
import { verifyWithPython } from '../helper/python-vouchers';

jest.setTimeout(90_000);

describe('signed checkpoints, ledger verify --checkpoint, and no seq reused after a restore', () => {
  let root = '';
  let bank: RegisterBank;
  let ticker: NodeJS.Timeout | null = null;
  let water = 1000;
  let gw: GatewayProcess | null = null;
  let collector: CollectorHandle | null = null;
  let gwPort = 0;
  const file = (...p: string[]) => path.join(root, ...p);
  const api = () =>
    new ApiClient(
      `http://127.0.0.1:${gwPort}`,
      (JSON.parse(fs.readFileSync(file('gw', 'secrets.json'), 'utf8')) as { adminToken: string }).adminToken,
    );
  const start = async () => {
    gw = await GatewayProcess.start(['start', '--config', file('gw.yaml')]);
  };
  const lastSeq = async () => Math.max(0, ...collector!.store.receivables().map((r) => r.seq));

  beforeAll(async () => {
    requireBuild();
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'm2m-restore-'));
    bank = new RegisterBank();
    bank.setUint32(bank.holding, 0, water);
    const devPort = await freePort();
    await bank.listen('127.0.0.1', devPort, 1);
    gwPort = await freePort();
    const collectPort = await freePort();
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
          price: '0.01',
          tou: [],
          wires: [],
        },
      ]),
    );
    fs.writeFileSync(
      file('gw.yaml'),
      `version: 1
gateway: { id: purifier-gw, dataDir: ./gw, currency: NOK, timezone: UTC }
http: { listen: "127.0.0.1:${gwPort}", editor: false }
ledger: { checkpointMs: 1000 }
settlement:
  threshold: "0.5"
  payees:
    waterworks: { receivables: "http://127.0.0.1:${collectPort}", tokenFile: ./collect/token, pollMs: 300 }
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
    fs.writeFileSync(file('waterworks.token'), tok.stdout.trim(), { mode: 0o600 });
    fs.writeFileSync(
      file('collect.yaml'),
      `payees: [waterworks]\ndataDir: ./collect\nlisten: 127.0.0.1:${collectPort}\ngateways:\n  - { url: "http://127.0.0.1:${gwPort}", tokenFile: ./waterworks.token, pollMs: 300 }\n`,
    );
    collector = await startCollector(
      parseCollectConfig(fs.readFileSync(file('collect.yaml'), 'utf8'), file('collect.yaml')),
      silentLogger(),
    );
    await start();
    ticker = setInterval(() => {
      water += 13;
      bank.setUint32(bank.holding, 0, water);
    }, 40);
  });

  afterAll(async () => {
    if (ticker) clearInterval(ticker);
    await killAllProcesses();
    await collector?.stop();
    await bank?.close();
    if (root) fs.rmSync(root, { recursive: true, force: true });
  });

  test('checkpoints catch an edited, re-hashed ledger and a rollback; after a restore no published seq is issued again', async () => {
    await waitFor(async () => ((await lastSeq()) >= 3 ? true : undefined), 'three vouchers collected', 20_000);
    await gw!.stop();
    fs.copyFileSync(file('gw', 'ledger.db'), file('backup.db')); // closed cleanly: the WAL is checkpointed into the file
    const backupSeq = (
      new Database(file('backup.db'), { readonly: true }).prepare('SELECT MAX(seq) AS s FROM vouchers').get() as { s: number }
    ).s;

    await start();
    await waitFor(async () => ((await lastSeq()) >= backupSeq + 4 ? true : undefined), 'four more vouchers collected', 20_000);
    const backupHead = (
      new Database(file('backup.db'), { readonly: true }).prepare('SELECT MAX(seq) AS s FROM batches').get() as { s: number }
    ).s;
    const cps = await waitFor(
      async () => {
        const list = await api().get<Array<{ seq: number }>>('/api/checkpoints');
        return list.length >= 2 && list[0]!.seq > backupHead + 2 ? list : undefined;
      },
      'a checkpoint past the backup',
      20_000,
    );
    expect(cps.map((c) => c.seq)).toEqual([...cps.map((c) => c.seq)].sort((a, b) => b - a));
    expect(verifyWithPython(cps, 'gatewayKey')).toEqual({ status: 0, out: `ok ${cps.length}`, err: '' });
    expect(fs.statSync(file('gw', 'keys', 'gateway.key')).mode & 0o777).toBe(0o600);
    fs.writeFileSync(file('cp.json'), JSON.stringify(cps[0]));
    await gw!.stop();
    const published = collector!.store.vouchers('purifier-1>waterworks');
    const maxPublished = published.at(-1)!.seq;

    const verify = (db: string, ...more: string[]) => runCli(['ledger', 'verify', '--db', db, ...more]);
    expect((await verify(file('gw'), '--checkpoint', file('cp.json'))).stdout).toMatch(/^ledger OK: .*extends 1 checkpoint/);

    // A rollback to the older copy.
    expect((await verify(file('backup.db'))).stdout).toMatch(/^ledger OK/); // a valid ledger on its own
    const rolled = await verify(file('backup.db'), '--checkpoint', file('cp.json'));
    expect({ code: rolled.code, out: rolled.stdout }).toEqual({
      code: 1,
      out: expect.stringMatching(/does not extend checkpoint .* ends at batch/),
    });

    // A body edited and the chain re-hashed after it: the chain verifies, the checkpoint does not extend it
    // (and the vouchers signed before the edit name heads that are gone).
    fs.copyFileSync(file('gw', 'ledger.db'), file('edited.db'));
    const db = new Database(file('edited.db'));
    const rows = db.prepare('SELECT seq, body FROM batches ORDER BY seq').all() as Array<{ seq: number; body: Buffer }>;
    let prev = '0'.repeat(64);
    for (const r of rows) {
      const body = JSON.parse(unpackText(r.body)) as { atMs: number };
      if (r.seq === 2) {
        body.atMs -= 3_600_000; // say it happened an hour earlier
        db.prepare('UPDATE batches SET at_ms = ? WHERE seq = 2').run(body.atMs);
      }
      const text = r.seq === 2 ? encodeBody(body as never) : unpackText(r.body);
      const hash = chainHash(prev, text);
      db.prepare('UPDATE batches SET body = ?, prev_hash = ?, hash = ? WHERE seq = ?').run(packText(text), prev, hash, r.seq);
      prev = hash;
    }
    db.close();
    const plain = await verify(file('edited.db'));
    expect({ code: plain.code, out: plain.stdout }).toEqual({
      code: 1,
      out: expect.stringMatching(/^ledger INVALID: voucher .* its ledgerHead \w+ is not in the chain/),
    });
    const edited = await verify(file('edited.db'), '--checkpoint', file('cp.json'));
    expect({ code: edited.code, out: edited.stdout }).toEqual({
      code: 1,
      out: expect.stringMatching(/does not extend checkpoint .* \(rewritten\?\)/),
    });

    // Restore the older copy and start: it waits for the payee, then continues after the last published seq.
    for (const f of ['ledger.db', 'ledger.db-wal', 'ledger.db-shm']) fs.rmSync(file('gw', f), { force: true });
    fs.copyFileSync(file('backup.db'), file('gw', 'ledger.db'));
    await start();
    const resync = await waitFor(
      async () => (await api().get<Array<{ kind: string; data: Record<string, unknown> }>>('/api/events?kind=settle-resync'))[0],
      'a settle-resync event',
      20_000,
    );
    expect(resync.data).toMatchObject({ channel: 'purifier-1>waterworks', publishedSeq: maxPublished, ledgerSeq: backupSeq });
    const health = await api().get<{ settlement: { state: string; restored: string[] } }>('/api/health');
    expect(health.settlement).toEqual({ state: 'ok', resyncing: [], restored: ['purifier-1>waterworks'] });
    await waitFor(async () => ((await lastSeq()) >= maxPublished + 3 ? true : undefined), 'three vouchers after the restore', 20_000);
    const after = (await api().get<Voucher[]>('/api/vouchers')).filter((v) => v.seq > backupSeq);
    expect(after.length).toBeGreaterThanOrEqual(3);
    expect(after.every((v) => v.seq > maxPublished)).toBe(true);
    expect(collector!.store.events('double-issue')).toEqual([]);
    const kept = collector!.store.vouchers('purifier-1>waterworks');
    expect(kept.slice(0, published.length)).toEqual(published);
    expect(verifyWithPython(kept)).toEqual({ status: 0, out: `ok ${kept.length}`, err: '' });
    await gw!.stop();
    expect((await runCli(['ledger', 'verify', '--config', file('gw.yaml')])).stdout).toMatch(/^ledger OK/);
  });
});
