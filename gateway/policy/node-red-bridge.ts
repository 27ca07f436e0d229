/**
 * The one object the m2m-* Node-RED nodes (flows/nodes/*.js) reach the
 * gateway through; the host passes it in as `settings.m2mGateway`.
 *
 * - `deployed(flows)` is called by the host after every deploy: the flows
 *   are compiled into the core through PolicyService.apply. A PolicyError
 *   leaves the previous tables active and is kept so each node can show the
 *   problems that name it. Node-RED's initial load of the flows file the
 *   PolicyService already compiled at start (`expectStartup`) is not compiled
 *   (or logged, or recorded) twice: the nodes just show that outcome.
 * - `statusOf(nodeId)` is what a node shows: green "v<version> active",
 *   red with its own problems, red ring when another node made the deploy fail.
 *   'status' is emitted after every compile so running nodes refresh.
 * - `check(config)` re-checks one node's properties with the compiler's rules.
 * - `stream` is the API's stream emitter (reading/event/voucher), for m2m-in
 *   and the event outputs; `write` is the daemon's confirmed point write.
 */
import { EventEmitter } from 'node:events';
import type { EventBus, PointValue } from '../events';
import type { Logger } from '../base/log';
import { PolicyError } from './errors';
import { flowArray, type PolicyNode } from './flows';
import { compileDeviceGlob } from './glob';
import { parsePolicyNodes } from './nodes';
import type { PolicyService } from './policy-service';

export interface NodeStatus {
  fill: 'green' | 'red' | 'yellow' | 'grey';
  shape: 'dot' | 'ring';
  text: string;
}

export interface NodeRedBridgeDeps {
  policies: PolicyService;
  /** The API backend's stream emitter (GatewayBackend.stream): reading, event, voucher. */
  stream: EventBus;
  write(device: string, point: string, value: PointValue): Promise<{ value: PointValue }>;
  log: Logger;
  /** Told about every rejected deploy (the controller records an event). */
  onRejected?(err: Error): void;
}

/** Outcome of the last compile the bridge ran. */
export type DeployOutcome =
  | { state: 'pending' }
  | { state: 'active'; version: number }
  | { state: 'rejected'; version: number; error: Error; problems: Map<string, string[]> };

export class NodeRedBridge extends EventEmitter {
  private outcome: DeployOutcome = { state: 'pending' };
  /** JSON of the flows PolicyService.load() read at start, until Node-RED has loaded them too. */
  private startupJson: string | null = null;

  constructor(private readonly d: NodeRedBridgeDeps) {
    super();
    this.setMaxListeners(0); // one listener per running m2m-* node
  }

  get stream(): EventBus {
    return this.d.stream;
  }

  get last(): DeployOutcome {
    return this.outcome;
  }

  /** Flows are being (re)started: nodes show "compiling" until `deployed`. */
  deploying(): void {
    this.outcome = { state: 'pending' };
  }

  /**
   * The flows file as PolicyService.load() compiled it at start. Missing or
   * unreadable counts as [] (what Node-RED loads then): adopting that outcome
   * keeps the last valid version instead of compiling an empty policy over it.
   */
  expectStartup(flows: unknown): void {
    this.startupJson = JSON.stringify(flowArray(flows) ?? []);
  }

  /** Compile the deployed flows into the core; never throws. */
  deployed(flows: unknown, nowMs = Date.now()): DeployOutcome {
    const list = flowArray(flows) ?? [];
    const json = JSON.stringify(list);
    const startup = this.startupJson;
    this.startupJson = null;
    if (startup !== null && startup === json) {
      this.outcome = this.startupOutcome();
      this.emit('status');
      return this.outcome;
    }
    try {
      const p = this.d.policies.apply(list, nowMs, json);
      this.d.policies.lastError = null;
      this.outcome = { state: 'active', version: p.version };
      this.d.log.info({ version: p.version }, 'Node-RED flows compiled into the core');
    } catch (err) {
      const error = err as Error;
      const problems = problemsByNode(error);
      this.d.policies.lastError = error;
      this.outcome = { state: 'rejected', version: this.d.policies.version, error, problems };
      this.d.log.error(
        { err: error.message, activeVersion: this.d.policies.version },
        'deploy rejected for the core; previous policies stay active',
      );
      try {
        this.d.onRejected?.(error);
      } catch (e) {
        this.d.log.error({ err: e }, 'recording the rejected deploy failed');
      }
    }
    this.emit('status');
    return this.outcome;
  }

  /** What PolicyService.load() made of the flows file at start. */
  private startupOutcome(): DeployOutcome {
    const error = this.d.policies.lastError;
    if (!error) return { state: 'active', version: this.d.policies.version };
    return { state: 'rejected', version: this.d.policies.version, error, problems: problemsByNode(error) };
  }

  statusOf(nodeId: string): NodeStatus {
    const o = this.outcome;
    if (o.state === 'pending') return { fill: 'yellow', shape: 'ring', text: 'compiling' };
    if (o.state === 'active') return { fill: 'green', shape: 'dot', text: `v${o.version} active` };
    const own = o.problems.get(nodeId);
    if (own) return { fill: 'red', shape: 'dot', text: own.join('; ') };
    const kept = o.version > 0 ? `v${o.version} stays active` : 'no policies active';
    const why = o.error instanceof PolicyError ? 'deploy rejected by other nodes' : `deploy rejected: ${o.error.message}`;
    return { fill: 'red', shape: 'ring', text: `${why}; ${kept}` };
  }

  /** Problems of one node's properties alone (the messages name the node). */
  check(config: Record<string, unknown>): string[] {
    return parsePolicyNodes([config as PolicyNode]).problems.map((p) => p.message);
  }

  deviceMatcher(glob: string): (device: string) => boolean {
    const match = compileDeviceGlob(glob);
    return (device) => typeof device === 'string' && match(device);
  }

  write(device: string, point: string, value: PointValue): Promise<{ value: PointValue }> {
    return this.d.write(device, point, value);
  }
}

/** The problems of a PolicyError, by the node they name. */
function problemsByNode(error: Error): Map<string, string[]> {
  const problems = new Map<string, string[]>();
  if (!(error instanceof PolicyError)) return problems;
  for (const p of error.problems) {
    if (p.nodeId === undefined) continue;
    problems.set(p.nodeId, [...(problems.get(p.nodeId) ?? []), p.message]);
  }
  return problems;
}
