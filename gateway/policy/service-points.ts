/**
 * Names of the points service-order fees are billed under (docs/policies.md,
 * "m2m-service-order"): each closed (acknowledged) order counts as quantity 1
 * of `service:<point>` on the channel device account -> provider. Like the
 * marketplace's data slots (data-points.ts) the core slot is keyed per payee,
 * `service:cartridge@servicecentre`, so two providers never share a counter.
 */

export const SERVICE_POINT_PREFIX = 'service:';

/** The point fees for orders about `point` are billed under in the ledger: `service:cartridge`. */
export function servicePoint(point: string): string {
  return `${SERVICE_POINT_PREFIX}${point}`;
}

/** The slot (and ledger slot-state) key of fees for `point` owed to `payee`: `service:cartridge@servicecentre`. */
export function serviceSlotPoint(point: string, payee: string): string {
  return `${SERVICE_POINT_PREFIX}${point}@${payee}`;
}

/** One billed order in the counter's micro-units: quantity 1 = 1 000 000 micro. */
export const MICRO_PER_ORDER = 1_000_000n;
