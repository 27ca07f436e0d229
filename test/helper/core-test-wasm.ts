/**
 * build/core-test.wasm: the test-only build of assembly/test-probes.ts
 * (`npm run build:core-test`, run by `npm test`). It carries the layout
 * constants of assembly/layout.ts as exported globals and the u128 probes,
 * none of which the product's build/core.wasm exports.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { wasmApi } from '../../gateway/core/wasm-layout';

export const CORE_TEST_WASM = path.resolve(__dirname, '..', '..', 'build', 'core-test.wasm');

export interface U128Probes {
  u128Mul(a: bigint, b: bigint): bigint;
  u128DivMod(hi: bigint, lo: bigint, d: bigint): bigint;
  u128MulAddDiv(a: bigint, b: bigint, c: bigint, d: bigint): bigint;
  u128Overflow(): number;
  u128Hi(): bigint;
  u128Rem(): bigint;
}

/** A fresh instance of build/core-test.wasm; its exports: functions, and globals as `{ value }`. */
export function loadCoreTestWasm(): Record<string, unknown> {
  if (!fs.existsSync(CORE_TEST_WASM)) throw new Error(`${CORE_TEST_WASM} is missing: run npm run build:core-test`);
  return new wasmApi.Instance(new wasmApi.Module(fs.readFileSync(CORE_TEST_WASM)), {}).exports as Record<string, unknown>;
}
