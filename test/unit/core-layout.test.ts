/**
 * The WASM memory layout has one source, assembly/layout.ts; its mirror
 * gateway/core/wasm-layout.ts is checked here field by field against the
 * values the AssemblyScript compiler produced (build/core-test.wasm exports
 * every constant of layout.ts as a global). Both directions: a constant added,
 * removed, renamed or moved on either side alone fails this test.
 */
import * as layout from '../../gateway/core/wasm-layout';
import { EVENT_KINDS } from '../../gateway/core/validate';
import { loadCoreTestWasm } from '../helper/core-test-wasm';

/** Upper-case globals of layout.ts that are not layout constants: the control block's address. */
const NOT_LAYOUT = new Set(['CTRL']);

/** AssemblyScript name -> value, from what was compiled. */
function compiledLayout(): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, v] of Object.entries(loadCoreTestWasm())) {
    if (!/^[A-Z][A-Z0-9_]*$/.test(name) || NOT_LAYOUT.has(name)) continue;
    out[name] = Number((v as { value: number | bigint }).value);
  }
  return out;
}

/** AssemblyScript name -> value, as gateway/core/wasm-layout.ts (and validate.ts's EVENT_KINDS) have it. */
function mirroredLayout(): { values: Record<string, number>; conflicts: string[] } {
  const values: Record<string, number> = {};
  const conflicts: string[] = [];
  const put = (name: string, v: number, from: string): void => {
    if (name in values && values[name] !== v) conflicts.push(`${name}: ${values[name]} and ${v} (${from})`);
    values[name] = v;
  };
  const records: Array<[prefix: string, sizeName: string, group: Record<string, number>]> = [
    ['S', 'SLOT_SIZE', layout.SLOT],
    ['K', 'COLD_SIZE', layout.COLD],
    ['L', 'LINE_SIZE', layout.LINE],
    ['G', 'SEG_SIZE', layout.SEG],
    ['A', 'ACCT_SIZE', layout.ACCT],
  ];
  for (const [prefix, sizeName, group] of records) {
    for (const [k, v] of Object.entries(group)) put(k === 'SIZE' ? sizeName : `${prefix}_${k}`, v, sizeName);
  }
  for (const [k, v] of Object.entries(layout.C)) put(`C_${k}`, v, 'C');
  put('C_WORDS', Object.keys(layout.C).length, 'C (word count)');
  for (const [k, v] of Object.entries(layout)) {
    if (typeof v === 'number' && /^(F_|EV_|LAYOUT_VERSION$)/.test(k)) put(k, v, 'wasm-layout.ts');
  }
  EVENT_KINDS.forEach((kind, i) => put(`EV_${kind.toUpperCase().replace(/-/g, '_')}`, i, 'EVENT_KINDS'));
  return { values, conflicts };
}

test('gateway/core/wasm-layout.ts mirrors assembly/layout.ts field by field, both ways', () => {
  const compiled = compiledLayout();
  const { values, conflicts } = mirroredLayout();
  expect(conflicts).toEqual([]);
  expect(Object.keys(compiled).length).toBeGreaterThan(80);
  expect(values).toEqual(compiled);
});
