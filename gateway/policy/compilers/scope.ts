/**
 * What every node compiler shares (docs/policies.md, "Deploying"): the
 * configured devices and points a policy may name, the problems that reject
 * the whole compile and the warnings that do not, each carrying the node's
 * label, and the book of tariff lines interned in the registry once the
 * compile is known to be valid.
 */
import type { PriceSegment, TariffLine } from '../../core/types';
import type { PointKind } from '../../devices/point';
import type { PolicyRegistry } from '../../meter/policy-registry';
import { PolicyError, type PolicyProblem } from '../errors';
import { nodeLabel, type PolicyNode } from '../flows';
import { matchDevices } from '../glob';

/** A point the daemon knows. Counters carry their core slot; other kinds may be listed for checks (slot unused). */
export interface PolicySlot {
  slot: number;
  device: string;
  point: string;
  account: string;
  kind: PointKind;
  /** The config marks it writable (absent: not known). */
  writable?: boolean;
}

/** The configured devices and points, and where problems and warnings go. */
export class CompileScope {
  readonly problems: PolicyProblem[];
  readonly warnings: string[] = [];
  readonly deviceIds: string[] = [];
  readonly deviceAccount = new Map<string, string>();
  private readonly points = new Map<string, PolicySlot>();
  private readonly byId: Map<string, PolicyNode>;

  constructor(slots: readonly PolicySlot[], nodes: readonly PolicyNode[], problems: PolicyProblem[]) {
    this.problems = problems;
    this.byId = new Map(nodes.map((n) => [n.id, n]));
    for (const s of slots) {
      if (!this.deviceAccount.has(s.device)) {
        this.deviceIds.push(s.device);
        this.deviceAccount.set(s.device, s.account);
      }
      this.points.set(`${s.device}\0${s.point}`, s);
    }
  }

  label(nodeId: string): string {
    return nodeLabel(this.byId.get(nodeId) ?? { id: nodeId, type: 'node' });
  }

  fail(nodeId: string, message: string): void {
    this.problems.push({ nodeId, message: `${this.label(nodeId)}: ${message}` });
  }

  warn(nodeId: string, message: string): void {
    this.warnings.push(`${this.label(nodeId)}: ${message}`);
  }

  pointOf(device: string, point: string): PolicySlot | undefined {
    return this.points.get(`${device}\0${point}`);
  }

  /** The configured devices a glob selects; a warning when none. */
  match(nodeId: string, glob: string): string[] {
    const m = matchDevices(glob, this.deviceIds);
    if (m.length === 0) this.warn(nodeId, `devices "${glob}" match no configured device`);
    return m;
  }

  /**
   * The configured devices a glob selects for `point`: those it matches that
   * have the point (`has`, by default: the point is listed). A device without
   * it is left out, so adding an unrelated device never breaks a policy; a
   * glob that selects none is a problem of the node (docs/policies.md).
   */
  select(
    nodeId: string,
    glob: string,
    point: string,
    has: (device: string) => boolean = (d) => this.pointOf(d, point) !== undefined,
  ): string[] {
    const matched = matchDevices(glob, this.deviceIds);
    const selected = matched.filter(has);
    if (selected.length === 0) {
      const some = `${matched.slice(0, 5).join(', ')}${matched.length > 5 ? ', …' : ''}`;
      this.fail(
        nodeId,
        matched.length === 0
          ? `devices "${glob}" match no configured device`
          : `devices "${glob}" select no device with point "${point}" (matched: ${some})`,
      );
    }
    return selected;
  }
}

/** A tariff line to intern once the compile is valid: `slot` priced on the channel payer -> payee. */
export interface PlannedLine {
  slot: number;
  payer: string;
  payee: string;
  priceNano: bigint;
  segments: PriceSegment[];
  label: string;
}

/** The tariff lines of one compile, interned in the registry in the order they are added. */
export class LineBook {
  private readonly lines = new Map<number, TariffLine>();

  constructor(readonly registry: PolicyRegistry) {}

  add(p: PlannedLine): { line: number; channel: number } {
    const reg = this.registry;
    const channel = reg.channel(p.payer, p.payee);
    const line = reg.line(p.slot, channel);
    if (this.lines.has(line))
      throw new PolicyError([{ message: `${p.label}: slot ${p.slot} is priced twice on channel ${reg.channelInfo(channel).id}` }]);
    this.lines.set(line, { line, slot: p.slot, channel, priceNano: p.priceNano, segments: p.segments });
    return { line, channel };
  }

  sorted(): TariffLine[] {
    return [...this.lines.values()].sort((a, b) => a.line - b.line);
  }
}

/**
 * A compiler of one node kind: `check` validates the parsed nodes against the
 * scope (problems and warnings go there) and returns the step that builds its
 * part of the compiled policy, run only when the whole compile is valid.
 */
export type Build<Out> = (book: LineBook) => Out;
