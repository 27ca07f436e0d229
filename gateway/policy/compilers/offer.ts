/**
 * `m2m-offer` (docs/marketplace.md): deliveries are metered as quantity 1 of
 * `data:<point>`, buyer -> device account, on the data slot the marketplace
 * prepared for each (device, point, buyer).
 */
import { dataPoint, dataSlotPoint } from '../data-points';
import type { OfferPolicy } from '../nodes';
import type { Build, CompileScope, PlannedLine } from './scope';

export interface CompiledOfferLine {
  device: string;
  buyer: string;
  line: number;
  slot: number;
  channel: number;
}

export interface CompiledOffer {
  nodeId: string;
  name: string;
  devices: string;
  point: string;
  /** Price per reading delivered. */
  price: string;
  buyers: string[];
  /** The credit window (money a buyer may owe before delivery pauses); absent = none. */
  credit?: string;
  matched: string[];
  /** Tariff lines metering deliveries, for devices that have a `data:<point>@<buyer>` (or shared `data:<point>`) slot. */
  lines: CompiledOfferLine[];
}

export function checkOffers(offers: readonly OfferPolicy[], s: CompileScope): Build<CompiledOffer[]> {
  const plans: Array<{ offer: OfferPolicy; matched: string[]; lines: Array<{ device: string; buyer: string; plan: PlannedLine }> }> = [];
  const offeredBy = new Map<string, string>();
  for (const o of offers) {
    // A device offers a point it has (or one the marketplace made a data slot for).
    const has = (d: string) =>
      s.pointOf(d, o.point) !== undefined ||
      s.pointOf(d, dataPoint(o.point)) !== undefined ||
      o.buyers.some((b) => s.pointOf(d, dataSlotPoint(o.point, b)) !== undefined);
    const matched = s.select(o.nodeId, o.devices, o.point, has);
    const lines: Array<{ device: string; buyer: string; plan: PlannedLine }> = [];
    for (const device of matched) {
      for (const buyer of o.buyers) {
        const key = `${device}\0${o.point}\0${buyer}`;
        const other = offeredBy.get(key);
        if (other !== undefined) s.fail(o.nodeId, `${device}/${o.point} is already offered to "${buyer}" by ${s.label(other)}`);
        offeredBy.set(key, o.nodeId);
        if (buyer === s.deviceAccount.get(device)) s.warn(o.nodeId, `buyer "${buyer}" is the account of device "${device}" itself`);
        // Per-buyer slot first: one slot shared by several buyers would bill each of them for every delivery.
        const dataSlot = s.pointOf(device, dataSlotPoint(o.point, buyer)) ?? s.pointOf(device, dataPoint(o.point));
        if (dataSlot) {
          const plan = {
            slot: dataSlot.slot,
            payer: buyer,
            payee: dataSlot.account,
            priceNano: o.priceNano,
            segments: [],
            label: s.label(o.nodeId),
          };
          lines.push({ device, buyer, plan });
        }
      }
    }
    plans.push({ offer: o, matched, lines });
  }
  return (book) =>
    plans.map(({ offer: o, matched, lines }) => ({
      nodeId: o.nodeId,
      name: o.name,
      devices: o.devices,
      point: o.point,
      price: o.price,
      buyers: o.buyers,
      ...(o.credit !== undefined ? { credit: o.credit } : {}),
      matched,
      lines: lines.map(({ device, buyer, plan }) => ({ device, buyer, slot: plan.slot, ...book.add(plan) })),
    }));
}
