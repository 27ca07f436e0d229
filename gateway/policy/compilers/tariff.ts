/**
 * `m2m-tariff` (docs/policies.md): one tariff line per matched device's
 * counter point, with its DST-correct time-of-use segments; a point is priced
 * at most once per payee.
 */
import type { TariffPolicy } from '../nodes';
import { compileTou, type TouBandInput } from '../tou';
import type { Build, CompileScope, PlannedLine, PolicySlot } from './scope';

export interface CompiledTariff {
  nodeId: string;
  name: string;
  line: number;
  slot: number;
  device: string;
  point: string;
  payee: string;
  /** Payer account. */
  account: string;
  channel: number;
  price: string;
  tou: TouBandInput[];
}

export function checkTariffs(
  tariffs: readonly TariffPolicy[],
  s: CompileScope,
  ctx: { timezone: string; horizon: { fromMs: number; toMs: number } },
): Build<CompiledTariff[]> {
  const planned: Array<{ tariff: TariffPolicy; device: string; entry: PolicySlot; plan: PlannedLine }> = [];
  const pricedBy = new Map<string, string>();
  for (const t of tariffs) {
    const { segments, overlaps } = compileTou(t.bands, ctx.timezone, ctx.horizon.fromMs, ctx.horizon.toMs);
    for (const o of overlaps) s.fail(t.nodeId, `tou: bands "${o.a.label}" and "${o.b.label}" overlap (on ${o.date})`);
    for (const device of s.select(t.nodeId, t.devices, t.point)) {
      const entry = s.pointOf(device, t.point) as PolicySlot;
      if (entry.kind !== 'counter') {
        s.fail(t.nodeId, `point "${t.point}" of device "${device}" is a ${entry.kind}; tariffs price counter points`);
        continue;
      }
      const key = `${device}\0${t.point}\0${t.payee}`;
      const other = pricedBy.get(key);
      if (other !== undefined) {
        s.fail(t.nodeId, `${device}/${t.point} is already priced for payee "${t.payee}" by ${s.label(other)}`);
        continue;
      }
      pricedBy.set(key, t.nodeId);
      planned.push({
        tariff: t,
        device,
        entry,
        plan: { slot: entry.slot, payer: entry.account, payee: t.payee, priceNano: t.priceNano, segments, label: s.label(t.nodeId) },
      });
    }
  }
  return (book) =>
    planned.map(({ tariff: t, device, entry, plan }) => {
      const { line, channel } = book.add(plan);
      return {
        nodeId: t.nodeId,
        name: t.name,
        line,
        slot: entry.slot,
        device,
        point: t.point,
        payee: t.payee,
        account: entry.account,
        channel,
        price: t.price,
        tou: t.tou,
      };
    });
}
