/**
 * Modicon register notation ("40001") -> area + 0-based protocol address.
 * The leading digit picks the table (0 coil, 1 discrete input, 3 input
 * register, 4 holding register); the rest is the 1-based register number:
 * 4 digits in the classic form ("40001".."49999"), 5 in the extended form
 * ("400001".."465536").
 */
import type { Area } from '../links/link';

const AREA_BY_DIGIT: Record<string, Area> = { '0': 'coil', '1': 'discrete', '3': 'input', '4': 'holding' };

export type ModiconResult = { ok: true; area: Area; address: number } | { ok: false; message: string };

export function parseModicon(register: string | number): ModiconResult {
  const s = String(register).trim();
  const m = /^([0-9])(\d{4,5})$/.exec(s);
  if (!m || !(m[1] in AREA_BY_DIGIT)) {
    const asNumber = typeof register === 'number' ? ' (write it quoted: a YAML number drops leading zeros)' : '';
    return {
      ok: false,
      message:
        `"${s}" is not a Modicon register: expected 5 or 6 digits starting with 0 (coil), 1 (discrete), ` +
        `3 (input) or 4 (holding), like "40001"${asNumber}`,
    };
  }
  const n = Number(m[2]);
  if (n < 1) return { ok: false, message: `"${s}": Modicon registers are 1-based, the first is "${m[1]}${'0'.repeat(m[2].length - 1)}1"` };
  if (n > 65536) return { ok: false, message: `"${s}": register ${n} is beyond the last one (65536)` };
  return { ok: true, area: AREA_BY_DIGIT[m[1]], address: n - 1 };
}
