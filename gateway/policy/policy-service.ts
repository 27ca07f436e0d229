/**
 * Keeps the core's policy tables in step with `<dataDir>/flows.json`
 * (docs/architecture.md §5): compiles at start (with or without the editor), on every
 * reload (a Node-RED deploy), and again before the time-of-use horizon runs
 * out. An invalid flows file is rejected whole: the previous tables stay
 * active (none at first start) and the error names the node. Every change of
 * policy content gets a new version, recorded in the ledger.
 * Emits 'applied' (CompiledPolicy) and, when load() rejects the file, 'rejected' (Error).
 */
import { writePrivateFileAtomic } from '../base/private-files';
import { EventEmitter } from 'node:events';
import type { PolicyTables, MeteringCore } from '../core/types';
import type { LedgerStore } from '../ledger/store';
import type { Logger } from '../base/log';
import { compilePolicies, type CompiledPolicy, type PolicySlot } from './compile';
import { readFlowsFile } from './flows';
import type { PolicyRegistry } from '../meter/policy-registry';

const HOUR_MS = 3_600_000;

export interface PolicyServiceDeps {
  flowsFile: string;
  timezone: string;
  slots: readonly PolicySlot[];
  registry: PolicyRegistry;
  core: MeteringCore;
  ledger: LedgerStore;
  log: Logger;
  /** Whether the config has an MQTT uplink (service-order topics need one). */
  mqtt?: boolean;
  /** Called with the flows before each compile (the marketplace adds its data slots to `slots` here). */
  prepare?: (flows: unknown) => void;
  /** Called with the new version after tables were swapped in. */
  onApplied?: (p: CompiledPolicy) => void;
}

export class PolicyService extends EventEmitter {
  private current: CompiledPolicy | null = null;
  /** The flows the current policy was compiled from. */
  private currentFlows: unknown = null;
  private refreshTimer: NodeJS.Timeout | null = null;
  /** The last load error, for the API/editor (null when the active policies came from the file as it is). */
  lastError: Error | null = null;

  constructor(private readonly d: PolicyServiceDeps) {
    super();
  }

  get active(): CompiledPolicy | null {
    return this.current;
  }

  get version(): number {
    return this.current?.version ?? 0;
  }

  /** What /api/health shows: the active version, and the error while flows.json is rejected. */
  health(): { version: number; ok: boolean; error: string | null } {
    return { version: this.version, ok: this.lastError === null, error: this.lastError ? this.lastError.message.slice(0, 4000) : null };
  }

  /** Read, compile and apply flows.json. Returns the error instead of throwing: the old tables stay. */
  load(nowMs = Date.now()): Error | null {
    try {
      const flows = readFlowsFile(this.d.flowsFile);
      this.apply(flows ?? [], nowMs, flows === null ? JSON.stringify([]) : JSON.stringify(flows));
      this.lastError = null;
    } catch (err) {
      this.lastError = err as Error;
      this.d.log.error({ err: (err as Error).message, file: this.d.flowsFile }, 'policies rejected; previous policies stay active');
      if (!this.current) this.applyLastRecorded(nowMs);
      this.emit('rejected', this.lastError);
    }
    this.scheduleRefresh();
    return this.lastError;
  }

  /** Compile `flows` (already parsed) and swap it in; throws PolicyError when invalid. */
  apply(flows: unknown, nowMs = Date.now(), flowsJson = JSON.stringify(flows)): CompiledPolicy {
    const latest = this.d.ledger.latestPolicy();
    const next = (latest?.version ?? 0) + 1;
    this.d.prepare?.(flows);
    let compiled = compilePolicies(flows, {
      slots: this.d.slots,
      timezone: this.d.timezone,
      nowMs,
      version: next,
      registry: this.d.registry,
      mqtt: this.d.mqtt,
    });
    if (latest && latest.hash === compiled.hash) {
      compiled = { ...compiled, version: latest.version, tables: withVersion(compiled.tables, latest.version) };
    } else {
      this.d.ledger.recordPolicy(next, compiled.hash, flowsJson, nowMs);
      this.d.log.info({ version: next, hash: compiled.hash, tariffs: compiled.tariffs.length }, 'policy version recorded');
    }
    for (const w of compiled.warnings) this.d.log.warn({ policy: compiled.version }, w);
    this.d.core.setPolicy(compiled.tables);
    this.current = compiled;
    this.currentFlows = flows;
    this.d.onApplied?.(compiled);
    this.emit('applied', compiled);
    return compiled;
  }

  /**
   * Policies deployed from a Node-RED elsewhere (POST /api/policies): compile
   * and swap them in (throws PolicyError, the old tables stay), then make them
   * the flows file, so a restart starts from them. The file is written after
   * the ledger recorded the version: a crash in between restarts on the old
   * file, recorded again as a newer version; no accrual is lost either way.
   */
  deploy(nodes: unknown[], nowMs = Date.now()): CompiledPolicy {
    const json = JSON.stringify(nodes);
    try {
      const p = this.apply(nodes, nowMs, json);
      this.lastError = null;
      writePrivateFileAtomic(this.d.flowsFile, `${JSON.stringify(nodes, null, 2)}\n`);
      this.scheduleRefresh();
      return p;
    } catch (err) {
      this.lastError = err as Error;
      throw err;
    }
  }

  /**
   * At start with an invalid flows file, the previous tables are the last
   * policy the ledger recorded: keep billing with those rather than with none.
   */
  private applyLastRecorded(nowMs: number): void {
    const last = this.d.ledger.latestPolicy();
    if (!last) return;
    try {
      this.apply(JSON.parse(last.flowsJson), nowMs, last.flowsJson);
      this.d.log.warn({ version: this.version }, 'using the last recorded valid policy from the ledger');
    } catch (err) {
      this.d.log.error(
        { err: (err as Error).message },
        'the last recorded policy does not compile against this config either; no policies active',
      );
    }
  }

  /**
   * The active tables with time-of-use segments that also cover [fromMs, toMs)
   * (same version, same lines), for a reading gap longer than the compiled
   * window (gateway/meter/tou-gaps.ts); null when no tariff has bands.
   */
  widen(fromMs: number, toMs: number): PolicyTables | null {
    const p = this.current;
    if (!p || !p.tariffs.some((t) => t.tou.length > 0)) return null;
    const horizon = { fromMs: Math.min(fromMs, p.horizon.fromMs), toMs: Math.max(toMs, p.horizon.toMs) };
    const wide = compilePolicies(this.currentFlows, {
      slots: this.d.slots,
      timezone: this.d.timezone,
      nowMs: Date.now(),
      version: p.version,
      registry: this.d.registry,
      horizon,
    });
    this.d.log.info(
      { from: new Date(horizon.fromMs).toISOString(), to: new Date(horizon.toMs).toISOString() },
      'time-of-use segments widened for a reading gap',
    );
    return withVersion(wide.tables, p.version);
  }

  stop(): void {
    if (this.refreshTimer) clearTimeout(this.refreshTimer);
    this.refreshTimer = null;
  }

  /** Recompile a day before the time-of-use segments run out (same content, same version). */
  private scheduleRefresh(): void {
    this.stop();
    const p = this.current;
    if (!p) return;
    const due = Math.max(HOUR_MS, p.horizon.toMs - Date.now() - 24 * HOUR_MS);
    this.refreshTimer = setTimeout(() => this.load(), Math.min(due, 2 ** 31 - 1));
    this.refreshTimer.unref();
  }
}

function withVersion(t: PolicyTables, version: number): PolicyTables {
  return { ...t, version };
}
