/**
 * Names of the data points a buyer is billed for (docs/architecture.md §7). A delivery
 * of point `hardness` is metered as quantity 1 of `data:hardness`, on a core
 * counter slot of its own per (device, point, buyer): the core accrues a
 * delta on every tariff line of its slot, so buyers sharing one slot would
 * each pay for the others' deliveries. The slot is keyed (and its state kept
 * in the ledger) as `data:hardness@lab-1`; deltas and accruals show the
 * buyer-neutral `data:hardness` (the buyer is their account).
 * `@` is not allowed in account ids or point names, so the key is unambiguous.
 */

export const DATA_POINT_PREFIX = 'data:';

/** The point deliveries of `point` are billed under in the ledger: `data:hardness`. */
export function dataPoint(point: string): string {
  return `${DATA_POINT_PREFIX}${point}`;
}

/** The slot (and ledger slot-state) key of `point` delivered to `buyer`: `data:hardness@lab-1`. */
export function dataSlotPoint(point: string, buyer: string): string {
  return `${DATA_POINT_PREFIX}${point}@${buyer}`;
}

/** One micro-unit scale of a delivered reading: quantity 1 = 1 000 000 micro. */
export const MICRO_PER_DELIVERY = 1_000_000n;
