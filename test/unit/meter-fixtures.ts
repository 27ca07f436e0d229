/** A metering service on a real core and ledger, with flat or time-of-use lines set by hand (no flows). */
import { silentLogger } from '../../gateway/base/log';
import type { MeteringCore, PriceSegment } from '../../gateway/core/types';
import type { LedgerStore } from '../../gateway/ledger/store';
import { MeteringService, type MeteringServiceOptions } from '../../gateway/meter/metering-service';
import { PolicyRegistry } from '../../gateway/meter/policy-registry';
import { SlotMap } from '../../gateway/meter/slot-map';
import type { ResolvedPoint } from '../../gateway/devices/point';

export interface MeterRigSpec {
  /** device → counter point names; the device pays for itself. */
  devices: Record<string, string[]>;
  /** Priced points: `${device}/${point}` → payee, price (nano per unit) and time-of-use segments. */
  tariffs?: Array<{ device: string; point: string; payee: string; priceNano: bigint; segments?: PriceSegment[] }>;
  widthBits?: 16 | 32 | 64;
  /** device → the account that pays for it (default: the device itself). */
  accounts?: Record<string, string>;
}

export interface MeterRig {
  metering: MeteringService;
  slots: SlotMap;
  registry: PolicyRegistry;
  core: MeteringCore;
}

const counter = (name: string): ResolvedPoint => ({ name, kind: 'counter' }) as ResolvedPoint;

export function meterRig(core: MeteringCore, ledger: LedgerStore, spec: MeterRigSpec, opts: MeteringServiceOptions = {}): MeterRig {
  const slots = new SlotMap(
    Object.entries(spec.devices).map(([id, points]) => ({ id, account: spec.accounts?.[id] ?? id, points: points.map(counter) })),
    () => ({ widthBits: spec.widthBits ?? 32, microPerCount: 1_000_000n }),
  );
  core.configureSlots(slots.configs());
  const registry = new PolicyRegistry();
  const lines = (spec.tariffs ?? []).map((t) => {
    const info = slots.get(t.device, t.point)!;
    const channel = registry.channel(info.account, t.payee);
    return { line: registry.line(info.slot, channel), slot: info.slot, channel, priceNano: t.priceNano, segments: t.segments ?? [] };
  });
  const channels = Array.from({ length: registry.channelCount }, (_, i) => ({ channel: i, account: registry.channelAccount(i) }));
  core.setPolicy({ version: 1, lines, channels, creditLimits: [] });
  const metering = new MeteringService(core, slots, registry, ledger, silentLogger(), opts);
  metering.setPolicyVersion(1);
  metering.restore();
  return { metering, slots, registry, core };
}
