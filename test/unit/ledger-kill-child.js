/**
 * Child process for ledger-kill.test.ts: commits metered batches to the
 * ledger in dataDir as fast as it can, with a voucher every 40 and a
 * retention run every 25, printing the meter count k after each commit,
 * until it is SIGKILLed. Resumes from the ledger's state when restarted.
 *
 * Batch k: one reading "k", a delta of 1000 µ-units, an accrual of 7 nano,
 * slot lastRaw = k, account unsettled = 7k (so the ledger itself says how far it got).
 *
 *   node test/unit/ledger-kill-child.js <dataDir>
 */
'use strict';
const fs = require('node:fs');
const swc = require('@swc/core');

// Load the TypeScript sources directly (jest's transform is not here).
require.extensions['.ts'] = (module, filename) => {
  const { code } = swc.transformSync(fs.readFileSync(filename, 'utf8'), {
    filename,
    jsc: { parser: { syntax: 'typescript' }, target: 'es2022' },
    module: { type: 'commonjs' },
  });
  module._compile(code, filename);
};

const { SqliteLedger } = require('../../gateway/ledger/sqlite-store.ts');

const T0 = Date.UTC(2025, 0, 6, 10, 0, 0);
const CH = 'purifier-1>waterworks';
const ledger = SqliteLedger.open(process.argv[2]);
const slot = ledger.loadState().slots[0];
let k = slot ? Number(slot.lastRaw) : 0;

function meterBatch(k) {
  const toMs = T0 + k * 1000;
  return {
    atMs: toMs,
    policyVersion: 1,
    readings: [{ device: 'purifier-1', point: 'water', tsMs: toMs, value: String(k) }],
    deltas: [{ device: 'purifier-1', point: 'water', account: 'purifier-1', qtyMicro: 1000n, fromMs: toMs - 1000, toMs }],
    accruals: [
      {
        device: 'purifier-1',
        point: 'water',
        account: 'purifier-1',
        payee: 'waterworks',
        channel: CH,
        qtyMicro: 1000n,
        amountNano: 7n,
        priceNano: 7_000_000n,
        fromMs: toMs - 1000,
        toMs,
        policyVersion: 1,
      },
    ],
    events: k % 10 === 0 ? [{ kind: 'tick', device: 'purifier-1', tsMs: toMs, detail: { k } }] : [],
    state: {
      slots: [{ device: 'purifier-1', point: 'water', hasBaseline: true, lastRaw: BigInt(k), lastTsMs: toMs, heldRaw: null, heldTsMs: 0 }],
      lines: [{ device: 'purifier-1', point: 'water', account: 'purifier-1', payee: 'waterworks', remainder: BigInt(k % 1000) }],
      accounts: [{ account: 'purifier-1', unsettledNano: 7n * BigInt(k), overLimit: false }],
    },
  };
}

for (;;) {
  k++;
  ledger.commitBatch(meterBatch(k));
  fs.writeSync(1, `${k}\n`);
  if (k % 40 === 0) {
    const ch = ledger.channels().find((c) => c.channel === CH);
    const seq = (ch ? ch.lastSeq : 0) + 1;
    ledger.recordVoucher({ channel: CH, seq, amountNano: 7n * BigInt(k), json: JSON.stringify({ seq, k }), issuedAtMs: T0 + k * 1000 });
  }
  if (k % 25 === 0) ledger.pruneReadings(T0 + (k - 10) * 1000);
}
