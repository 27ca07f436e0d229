/**
 * Child process for ledger-kill.test.ts: commits metered batches to the
 * ledger in dataDir as fast as it can, with a voucher every 40, an alarm
 * raised or cleared every 25 and reading history every 15, printing the
 * meter count k after each commit, until it is SIGKILLed. Resumes from the
 * ledger's state when restarted.
 *
 * Batch k: a delta of 1000 µ-units, an accrual of 7 nano, slot lastRaw = k,
 * account unsettled = 7k (so the ledger itself says how far it got); every
 * 60th batch moves to the next hour, so hours close as it goes.
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

/** Batch k's time: a minute apart, so every 60 batches an hour ends. */
const at = (k) => T0 + k * 60_000;

function meterBatch(k) {
  const toMs = at(k);
  return {
    atMs: toMs,
    policyVersion: 1,
    metered: { readings: 1, deltas: 1, accruals: 1 },
    deltas: [{ device: 'purifier-1', point: 'water', account: 'purifier-1', qtyMicro: 1000n, fromMs: toMs - 60_000, toMs }],
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
        fromMs: toMs - 60_000,
        toMs,
        policyVersion: 1,
      },
    ],
    events: [
      ...(k % 10 === 0 ? [{ kind: 'tick', device: 'purifier-1', tsMs: toMs, detail: { k } }] : []),
      ...(k % 25 === 0
        ? [
            {
              kind: k % 50 === 0 ? 'alarm-clear' : 'alarm',
              device: 'purifier-1',
              point: 'cartridge',
              tsMs: toMs,
              detail: { policy: 'low', k },
            },
          ]
        : []),
    ],
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
    ledger.recordVoucher({ channel: CH, seq, amountNano: 7n * BigInt(k), json: JSON.stringify({ seq, k }), issuedAtMs: at(k) });
  }
  if (k % 15 === 0) {
    ledger.recordHistory(
      [
        {
          device: 'purifier-1',
          point: 'hardness',
          atMs: at(k),
          count: 1,
          last: String(k),
          min: String(k),
          max: String(k),
          mean: String(k),
        },
      ],
      4096,
    );
  }
}
