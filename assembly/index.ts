// The metering core compiled to build/core.wasm. The JS side (gateway/core/wasm-core.ts)
// writes slot configs, policy tables and each batch of readings into linear memory,
// calls processBatch(n) once per batch and reads the outputs back; no call per record.
// It exports only what the product calls; test probes live in assembly/test-probes.ts
// (build/core-test.wasm).
import {
  A_OVER, A_REARM, A_UNSETTLED, ACCT_SIZE, acctCount, acctPtr, C_LAYOUT, CTRL, F_BASELINE, F_CONFIGURED, LAYOUT_VERSION,
  loadTables, S_FLAGS, S_LASTTS, setCtrl, SLOT_SIZE, slotCount, slotPtr,
} from './layout';

export { processBatch } from './batch';
export { reserveInput, resizeAccounts, resizeChannels, resizeLines, resizeScratch, resizeSegments, resizeSlots } from './layout';

/** Address of the control block (u32 words, see layout.ts C_*). */
export function control(): usize {
  setCtrl(C_LAYOUT, LAYOUT_VERSION);
  return CTRL;
}

/**
 * Lowers an account's unsettled amount. Returns 1 when that re-armed its credit
 * limit ('credit-under'), 0 otherwise, -1 for an unknown account, -2 when the
 * amount exceeds the unsettled total (nothing changed).
 */
export function settle(account: u32, amount: u64): i32 {
  loadTables();
  if (account >= acctCount) return -1;
  const ap = acctPtr + <usize>account * ACCT_SIZE;
  const unsettled = load<u64>(ap + A_UNSETTLED);
  if (amount > unsettled) return -2;
  const left = unsettled - amount;
  store<u64>(ap + A_UNSETTLED, left);
  if (load<u32>(ap + A_OVER) != 0 && left <= load<u64>(ap + A_REARM)) {
    store<u32>(ap + A_OVER, 0);
    return 1;
  }
  return 0;
}

/** The latest accepted reading time over all slots (0 before any): the time of events outside a batch. */
export function clock(): f64 {
  loadTables();
  let now: i64 = 0;
  for (let s: u32 = 0; s < slotCount; s++) {
    const sp = slotPtr + <usize>s * SLOT_SIZE;
    const want = F_CONFIGURED | F_BASELINE;
    if ((<u32>load<u8>(sp + S_FLAGS) & want) == want) now = max<i64>(now, load<i64>(sp + S_LASTTS));
  }
  return <f64>now;
}
