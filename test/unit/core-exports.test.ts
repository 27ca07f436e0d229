/** The product's build/core.wasm carries no test probes (those are in build/core-test.wasm). */
import * as fs from 'node:fs';
import { defaultWasmPath } from '../../gateway/core/wasm-core';

test('build/core.wasm exports only what the product calls (no test probes)', () => {
  const ModuleApi = (
    globalThis as unknown as { WebAssembly: { Module: { new (b: Uint8Array): object; exports(m: object): Array<{ name: string }> } } }
  ).WebAssembly.Module;
  const names = ModuleApi.exports(new ModuleApi(fs.readFileSync(defaultWasmPath()))).map((e) => e.name);
  expect(names.sort()).toEqual(
    [
      'memory',
      'control',
      'processBatch',
      'settle',
      'clock',
      'reserveInput',
      'resizeSlots',
      'resizeLines',
      'resizeSegments',
      'resizeChannels',
      'resizeAccounts',
      'resizeScratch',
    ].sort(),
  );
});
