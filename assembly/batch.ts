// One batch: the readings in the input columns are metered in order, in chunks
// whose slot and line records are touched first (see touchSlots).
import {
  C_IN_FLAG, C_IN_RAW, C_IN_SLOT, C_IN_TS, COLD_SIZE, coldPtr, ctrl, F_HELD, F_RATE, LINE_SIZE, linePtr, loadTables,
  S_FLAGS, S_LCOUNT, S_LSTART, SLOT_SIZE, slotCount, slotPtr,
} from './layout';
import { beginOutput, eCount, publishOutput } from './output';
import { meterReading } from './counter';

/** Readings whose records are touched ahead at a time: their cache lines stay well within L1/L2. */
const TOUCH_CHUNK: u32 = 512;

/** Keeps the loads of touchSlots() alive. */
let touchSink: u32 = 0;

/**
 * Reads the slot record (hot part, and the cold part when it will be needed)
 * and the first line record of readings [start, end) before metering them.
 * These loads do not depend on each other, so the CPU overlaps their cache
 * misses; the metering loop, whose loads do depend on each other, then finds
 * them in cache. This keeps the cost per reading nearly flat as the number of
 * slots grows past what the caches hold.
 */
function touchSlots(inSlot: usize, start: u32, end: u32): void {
  let sink: u32 = 0;
  for (let i = start; i < end; i++) {
    const slot = load<u32>(inSlot + (<usize>i << 2));
    if (slot >= slotCount) continue;
    const sp = slotPtr + <usize>slot * SLOT_SIZE;
    const lines = <u32>load<u16>(sp + S_LCOUNT);
    sink += lines;
    if (lines != 0) sink += load<u32>(linePtr + <usize>load<u32>(sp + S_LSTART) * LINE_SIZE);
    if ((<u32>load<u8>(sp + S_FLAGS) & (F_RATE | F_HELD)) != 0) sink += load<u32>(coldPtr + <usize>slot * COLD_SIZE);
  }
  touchSink = sink;
}

/**
 * Meters the n readings in the input columns (slot u32, raw u64, ts f64, and
 * when hasFlags a u8 flag: 1 = raw out of range). Returns the number of events.
 */
export function processBatch(n: u32, hasFlags: bool): u32 {
  loadTables();
  beginOutput();
  const inSlot = <usize>ctrl(C_IN_SLOT);
  const inRaw = <usize>ctrl(C_IN_RAW);
  const inTs = <usize>ctrl(C_IN_TS);
  const inFlag = <usize>ctrl(C_IN_FLAG);
  for (let start: u32 = 0; start < n; start += TOUCH_CHUNK) {
    const end = min<u32>(n, start + TOUCH_CHUNK);
    touchSlots(inSlot, start, end);
    for (let i = start; i < end; i++) {
      const bad = hasFlags && load<u8>(inFlag + <usize>i) != 0;
      meterReading(i, load<u32>(inSlot + (<usize>i << 2)), load<u64>(inRaw + (<usize>i << 3)), load<f64>(inTs + (<usize>i << 3)), bad);
    }
  }
  publishOutput();
  return eCount;
}
