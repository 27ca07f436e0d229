/** A filtered snapshot is exactly the matching part of the full one, in both cores. */
import { ReferenceCore } from '../../gateway/core/reference';
import type { MeteringCore } from '../../gateway/core/types';
import { loadWasmCore } from '../../gateway/core/wasm-core';

const cores: Array<[string, () => MeteringCore]> = [
  ['reference', () => new ReferenceCore()],
  ['wasm', () => loadWasmCore()],
];

describe.each(cores)('%s core: snapshot(only)', (_name, make) => {
  const core = make();
  core.configureSlots([0, 1, 2, 3].map((slot) => ({ slot, widthBits: 32 as const, microPerCount: 1_000_000n, maxRateMicroPerS: 0n })));
  core.setPolicy({
    version: 1,
    channels: [
      { channel: 0, account: 0 },
      { channel: 1, account: 1 },
    ],
    lines: [
      { line: 0, slot: 0, channel: 0, priceNano: 333n, segments: [] },
      { line: 1, slot: 2, channel: 1, priceNano: 777n, segments: [] },
    ],
    creditLimits: [],
  });
  core.process([0, 1, 2, 3].map((slot) => ({ slot, raw: 10n, tsMs: 1 })));
  core.process([
    { slot: 0, raw: 13n, tsMs: 2 },
    { slot: 2, raw: 19n, tsMs: 2 },
  ]);
  const full = core.snapshot();

  it('returns only the asked slots, lines and accounts, with the same values', () => {
    const part = core.snapshot({ slots: [2, 0], lines: [1], accounts: [1] });
    expect(part.slots).toEqual([full.slots[2], full.slots[0]]);
    expect(part.lines).toEqual([full.lines[1]]);
    expect(part.accounts).toEqual([full.accounts[1]]);
    expect(part.lines[0].remainder).toBe((9n * 1_000_000n * 777n) % 1_000_000n);
  });

  it('skips unknown ids and gives everything when a list is omitted', () => {
    const part = core.snapshot({ slots: [99, -1, 1.5, 3], lines: [], accounts: undefined });
    expect(part.slots).toEqual([full.slots[3]]);
    expect(part.lines).toEqual([]);
    expect(part.accounts).toEqual(full.accounts);
  });
});
