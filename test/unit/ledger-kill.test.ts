/**
 * kill -9 durability: a child commits in a tight loop and is SIGKILLed at an
 * arbitrary instant (twice, resuming in between). After each kill the ledger
 * verifies, holds every batch the child reported committed (at most one more:
 * committed, not yet reported), has no partial batch, and its totals (closed
 * hours plus the open hour, per hour and in all), state, channel, vouchers
 * and raised alarms agree with exactly the batches it holds.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import * as path from 'node:path';
import { SqliteLedger } from '../../gateway/ledger/sqlite-store';
import { verifyLedger } from '../../gateway/ledger/verify';
import { T0, rmDir, tmpDir } from './ledger-fixtures';

const CHILD = path.join(__dirname, 'ledger-kill-child.js');

let dir: string;
let child: ChildProcess | null = null;

beforeAll(() => {
  dir = tmpDir('m2m-ledger-kill-');
});
afterAll(() => {
  if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  rmDir(dir);
});

/** Run the child until it has reported `commits` more commits, then SIGKILL it. Returns the last k it reported. */
function runAndKill(commits: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [CHILD, dir], { stdio: ['ignore', 'pipe', 'pipe'] });
    child = p;
    let buf = '';
    let seen = 0;
    let last = 0;
    let stderr = '';
    p.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    p.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      const lines = buf.split('\n');
      buf = lines.pop()!;
      for (const line of lines) {
        last = Number(line);
        seen++;
      }
      if (seen >= commits && p.signalCode === null) p.kill('SIGKILL');
    });
    p.on('exit', (code, signal) => {
      child = null;
      if (signal === 'SIGKILL') resolve(last);
      else reject(new Error(`child exited with ${code}: ${stderr}`));
    });
  });
}

function checkAfterKill(reported: number): number {
  expect(verifyLedger(dir)).toMatchObject({ ok: true });
  const l = SqliteLedger.open(dir);
  try {
    const state = l.loadState();
    const k = Number(state.slots[0].lastRaw);
    expect(k).toBeGreaterThanOrEqual(reported);
    expect(k).toBeLessThanOrEqual(reported + 1);
    const K = BigInt(k);
    expect(l.ledgerTotals()).toEqual([
      { device: 'purifier-1', point: 'water', account: 'purifier-1', payee: 'waterworks', quantityMicro: 1000n * K, amountNano: 7n * K },
    ]);
    expect(state.accounts).toEqual([{ account: 'purifier-1', unsettledNano: 7n * K, overLimit: false }]);
    const [ch] = l.channels();
    expect(ch.accruedNano).toBe(7n * K);
    const vouchers = l.vouchers(ch.channel);
    expect(vouchers.map((v) => v.seq)).toEqual(vouchers.map((_, i) => i + 1)); // 1, 2, 3, ...: no seq reused or skipped
    expect(ch.lastSeq).toBe(vouchers.length);
    expect(vouchers.length).toBeGreaterThanOrEqual(Math.floor(k / 40) - 1);
    expect(vouchers.length).toBeLessThanOrEqual(Math.floor(k / 40));
    expect(l.events({ kinds: ['tick'], limit: 100_000 })).toHaveLength(Math.floor(k / 10));
    // Every hour holds its batches (one a minute, counted in the hour of toMs - 1), whether closed or open.
    const HOUR = 3_600_000;
    for (let h = 0; h * 60 <= k; h++) {
      const from = T0 + h * HOUR;
      // batch j covers (j - 1, j] minutes after T0: it counts in hour floor((j * 60000 - 1) / HOUR)
      let want = 0;
      for (let j = 1; j <= k; j++) if (Math.floor((j * 60_000 - 1) / HOUR) === h) want++;
      expect([h, l.ledgerTotals({ fromMs: from, toMs: from + HOUR })[0]?.amountNano ?? 0n]).toEqual([h, 7n * BigInt(want)]);
    }
    const last = 25 * Math.floor(k / 25);
    expect(l.activeAlarms()).toEqual(
      last > 0 && last % 50 !== 0 ? [{ policy: 'low', device: 'purifier-1', point: 'cartridge', sinceMs: T0 + last * 60_000 }] : [],
    );
    return k;
  } finally {
    l.close();
  }
}

describe('ledger under kill -9', () => {
  it('keeps every reported commit and no partial batch, across two kills', async () => {
    const k1 = checkAfterKill(await runAndKill(230));
    expect(k1).toBeGreaterThanOrEqual(230);
    const k2 = checkAfterKill(await runAndKill(170));
    expect(k2).toBeGreaterThanOrEqual(k1 + 170);
  });
});
