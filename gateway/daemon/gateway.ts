/**
 * Wires the gateway together (one place, like Zigbee2MQTT's controller):
 * config -> links + pollers -> metering service (WASM core + ledger) -> API.
 * Policies come from flows.json through the PolicyService. Each part owns its
 * resources; `stop()` releases them in reverse order and commits what is pending.
 */
import path from 'node:path';
import type { LoadedConfig, LoadedDevice } from '../config/load';
import { loadSecrets, saveNewSecrets } from '../api/secrets';
import { ensureTightDir } from '../base/private-files';
import { startApiServer, type ApiServerHandle } from '../api/server';
import { adminTokenResolver, chainResolvers } from '../api/auth';
import { GatewayBackend, eventView, writeForApi } from './api-backend';
import { MetricsRegistry } from '../base/metrics';
import { EventBus } from '../events';
import { MeteringService, type CommittedBatch } from '../meter/metering-service';
import { SlotMap } from '../meter/slot-map';
import { loadWasmCore } from '../core/wasm-core';
import type { MeteringCore } from '../core/types';
import { counterWidth, microPerCount } from '../devices/decode';
import { DeviceViews } from './device-views';
import { SqliteLedger } from '../ledger/sqlite-store';
import { HistorySampler } from '../ledger/history';
import type { LinkState } from '../links/link';
import type { LedgerEvent } from '../ledger/store';
import type { Logger } from '../base/log';
import type { DeviceStateChange } from '../poll/device-poller';
import { FieldBus } from '../poll/field-bus';
import { PointWriter } from '../poll/point-writer';
import { CreditCutoff } from '../policy/credit-cutoff';
import { ReadingFanout } from './reading-fanout';
import { AlarmWatch } from '../policy/alarm-watch';
import { ControlLoop } from '../policy/control-loop';
import { OrderDelivery } from '../policy/order-delivery';
import { ORDER_EVENT_KINDS, ServiceOrders } from '../policy/service-orders';
import { ServiceFees } from '../policy/service-fees';
import { SqliteOrderStore } from '../ledger/sqlite-order-store';
import { PolicyService } from '../policy/policy-service';
import { PolicyRegistry } from '../meter/policy-registry';
import { NodeRedBridge } from '../policy/node-red-bridge';
import { NodeRedHost } from '../api/node-red-host';
import { DaemonMetrics } from './daemon-metrics';
import { buyerKeyReader, buyerTokenResolver, watchBuyers } from '../api/buyer-tokens';
import { metricsTokenResolver } from '../api/metrics-token';
import { Marketplace } from '../market/marketplace';
import { MqttUplink } from '../uplink/mqtt-uplink';
import { KeyStore } from '../settle/keys';
import { VoucherIssuer } from '../settle/voucher-issuer';
import { PaymentsIn } from '../settle/payments-in';
import { PayeeSync } from '../settle/payee-sync';
import { Checkpointer } from '../settle/checkpoints';
import { BuyerPayments } from '../market/buyer-payments';
import { packageVersion } from '../base/package-root';
import { GatewayStartError } from '../base/errors';
import { EditorOwnsFlowsError, PoliciesRejectedError } from '../api/errors';
import { PolicyError } from '../policy/errors';

export interface GatewayOptions {
  /** Use this core instead of build/core.wasm (tests: the BigInt reference). */
  core?: MeteringCore;
  /** Override http.listen (port 0 for tests). */
  http?: { host: string; port: number };
  flushMs?: number;
  /** Override ledger.commitMs (tests: short). */
  commitMs?: number;
  /** Hand every reading's value to the reading history when `ledger.history` is on (default true). */
  readingValues?: boolean;
  /** Override http.editor (the embedded Node-RED editor at /admin). */
  editor?: boolean;
  /** MQTT reconnect backoff (tests: short); default 500 ms doubling to 30 s. */
  mqttReconnect?: { baseMs?: number; capMs?: number };
  /** m2m-control write retry backoff (tests: short); default 1 s doubling to 30 s. */
  controlRetry?: { baseMs?: number; capMs?: number };
}

export class Gateway {
  readonly views = new DeviceViews();
  readonly metrics = new MetricsRegistry();
  /** The one bus readings, events and vouchers travel on (events.ts). */
  readonly events = new EventBus();
  private readonly fieldBus: FieldBus;
  private readonly writer: PointWriter;
  private readonly cutoff: CreditCutoff;
  private fanout!: ReadingFanout;
  private readonly alarms = new AlarmWatch();
  private api: ApiServerHandle | null = null;
  private editor: NodeRedHost | null = null;
  private stopping = false;
  private readonly startedAtMs = Date.now();
  /** The data marketplace (docs/architecture.md §7): buyer data slots, grants, delivery metering. */
  readonly market: Marketplace;
  private readonly daemonMetrics: DaemonMetrics;
  private mqttUplink: MqttUplink | null = null;
  private unwatchBuyers: (() => void) | null = null;
  /** m2m-control: setpoints that follow an input point (policy/control-loop.ts). */
  private readonly control: ControlLoop;
  private readonly orderStore: SqliteOrderStore;
  private readonly fees: ServiceFees;
  private readonly delivery: OrderDelivery;
  /** m2m-service-order: durable orders delivered to providers (policy/service-orders.ts). */
  readonly orders: ServiceOrders;

  readonly ledger: SqliteLedger;
  readonly metering: MeteringService;
  readonly policies: PolicyService;
  readonly backend: GatewayBackend;
  /** Signed vouchers (gateway/settle); null when the config has no `settlement` section. */
  readonly settlement: VoucherIssuer | null;
  /** What payees have received (buyer vouchers, payee collectors' receivables). */
  readonly payments: PaymentsIn;
  /** Buyers paying with their own vouchers (docs/marketplace.md). */
  readonly buyerPayments: BuyerPayments;
  /** Payee receivables: funded-channel credit and restore safety; null without settlement. */
  readonly payeeSync: PayeeSync | null;
  /** Signed ledger checkpoints (keys/gateway.key). */
  readonly checkpoints: Checkpointer;
  /** Keys of the accounts this gateway operates (its devices' accounts) and its own. */
  readonly keys: KeyStore;
  readonly adminToken: string;
  readonly editorPassword: string;
  private readonly secretsDir: string;
  /** True when the secrets were generated by this start: written once it is up (print them once). */
  readonly secretsCreated: boolean;

  private constructor(
    readonly config: LoadedConfig,
    private readonly log: Logger,
    private readonly opts: GatewayOptions,
  ) {
    const dataDir = config.gateway.dataDir;
    const was = ensureTightDir(dataDir);
    if (was !== null) log.warn({ dataDir, mode: was.toString(8) }, 'the data folder was open to other users; changed its mode to 0700');
    const secrets = loadSecrets(dataDir, log); // written only once the start has succeeded
    this.secretsDir = dataDir;
    this.adminToken = secrets.adminToken;
    this.editorPassword = secrets.editorPassword;
    this.secretsCreated = secrets.created;
    this.ledger = SqliteLedger.open(dataDir);
    this.fieldBus = new FieldBus(config, log, {
      onFrame: (f) => this.fanout.onFrame(f),
      onReadings: (r) => this.fanout.onReadings(r),
      onDeviceState: (st) => this.onDeviceState(st),
      deviceState: (id) => this.views.stateOf(id),
    });
    for (const d of config.devices) this.views.add(d.id, d.link, d.points);
    this.writer = new PointWriter(config.devices, (id) => this.fieldBus.poller(id));
    this.cutoff = new CreditCutoff({
      limits: () => this.policies.active?.creditLimits ?? [],
      isBoolean: (device, point) => {
        const p = this.writer.point(device, point);
        return !!p && (p.area === 'coil' || p.type === 'bool');
      },
      write: (device, point, value) => this.writer.write(device, point, value),
      record: (events) => this.metering.addEvents(events),
      log: log.child({ part: 'policy' }),
    });

    const slots = new SlotMap(config.devices, (p) => ({ widthBits: counterWidth(p), microPerCount: microPerCount(p) }));
    const core = opts.core ?? loadWasmCore();
    core.configureSlots(slots.configs());
    const registry = new PolicyRegistry();
    const history = config.ledger.history;
    this.metering = new MeteringService(core, slots, registry, this.ledger, log.child({ part: 'metering' }), {
      flushMs: opts.flushMs,
      readingValues: opts.readingValues,
      commitMs: opts.commitMs ?? config.ledger.commitMs,
      history: history ? { sampler: new HistorySampler(history.everyMs), maxBytes: history.maxBytes } : undefined,
    });
    const pSlots = policySlots(config.devices, slots);
    const record = (events: LedgerEvent[]) => this.metering.addEvents(events);
    this.control = new ControlLoop({
      write: (device, point, value) => this.writer.write(device, point, value),
      record,
      log: log.child({ part: 'control' }),
      retry: opts.controlRetry,
    });
    this.orderStore = SqliteOrderStore.open(dataDir);
    this.fees = new ServiceFees({
      devices: config.devices,
      slots,
      core,
      metering: this.metering,
      policySlots: pSlots,
      store: this.orderStore,
      log: log.child({ part: 'orders' }),
    });
    this.delivery = new OrderDelivery({
      onAck: (id, via) => this.orders.acknowledge(id, via),
      onFailure: (order, attempt, retryInMs, error) => this.orders.deliveryFailed(order, attempt, retryInMs, error),
      log: log.child({ part: 'orders' }),
    });
    this.orders = new ServiceOrders({
      gatewayId: config.gateway.id,
      store: this.orderStore,
      fees: this.fees,
      delivery: this.delivery,
      record,
      log: log.child({ part: 'orders' }),
    });
    this.market = new Marketplace({
      devices: config.devices,
      slots,
      core,
      metering: this.metering,
      policySlots: pSlots,
      activePolicy: () => this.policies.active,
      metrics: this.metrics,
      log: log.child({ part: 'market' }),
    });
    this.policies = new PolicyService({
      flowsFile: path.join(dataDir, 'flows.json'),
      timezone: config.gateway.timezone,
      slots: pSlots,
      mqtt: config.mqtt !== undefined,
      prepare: (flows) => {
        this.market.prepare(flows);
        this.fees.prepare(flows);
      },
      registry,
      core,
      ledger: this.ledger,
      log: log.child({ part: 'policy' }),
      onApplied: (p) => {
        this.metering.setPolicyVersion(p.version);
        this.metering.setTariffHorizon({ ...p.horizon, widen: (fromMs, toMs) => this.policies.widen(fromMs, toMs) });
        this.alarms.setAlarms(p.alarms);
        this.revalidateStreams(); // grants follow the offers
        this.control.setControls(p.controls);
        this.orders.setOrders(p.serviceOrders);
      },
    });
    this.backend = new GatewayBackend({
      version: packageVersion(),
      currency: config.gateway.currency,
      startedAtMs: this.startedAtMs,
      ledger: this.ledger,
      views: this.views,
      linkStates: () => this.linkStates(),
      writer: (device, point, value) => this.writePoint(device, point, value),
      metrics: this.metrics,
      events: this.events,
      stopping: () => this.stopping,
      policy: () => this.policies.health(),
      meterDelivery: (d) => this.market.meter(d),
      orders: (f) => this.orders.list(f),
      deployPolicies: (nodes) => this.deployPolicies(nodes),
    });
    this.metering.on('batch', (b: CommittedBatch) => this.publish(b));
    this.daemonMetrics = new DaemonMetrics({
      registry: this.metrics,
      version: packageVersion(),
      startedAtMs: this.startedAtMs,
      devices: config.devices,
      links: config.links,
      views: this.views,
      modbusLinks: () => this.fieldBus.modbusLinks,
      p1Links: () => this.fieldBus.p1Links,
      ledgerHeadSeq: () => this.ledger.head().seq,
      pollLateness: () => this.fieldBus.pollLateness(),
      policyVersion: () => this.policies.version,
      policyOk: () => this.policies.lastError === null,
    });
    this.metering.on('batch', (b: CommittedBatch) => this.daemonMetrics.onBatch(b));
    this.metering.on('history-dropped', (n: number) => this.daemonMetrics.countPruned(n));
    const operated = new Set(config.devices.map((d) => d.account));
    this.keys = KeyStore.forDataDir(dataDir, log.child({ part: 'keys' }), operated);
    this.payments = new PaymentsIn(this.metering, log.child({ part: 'settle' }));
    const deviceAccounts = new Map(config.devices.map((d) => [d.id, d.account]));
    this.buyerPayments = new BuyerPayments({
      payments: this.payments,
      ledger: this.ledger,
      metering: this.metering,
      offers: () => this.policies.active?.offers ?? [],
      deviceAccount: (id) => deviceAccounts.get(id),
      registeredKey: buyerKeyReader(dataDir),
      currency: config.gateway.currency,
      bus: this.events,
      log: log.child({ part: 'market' }),
    });
    this.payeeSync = config.settlement
      ? new PayeeSync({
          payees: config.settlement.payees ?? {},
          operates: (a) => operated.has(a),
          ledger: this.ledger,
          payments: this.payments,
          currency: config.gateway.currency,
          record: (events) => this.metering.addEvents(events),
          log: log.child({ part: 'settle' }),
          onSynced: () => this.metering.requestSettlement(),
          ownKey: (a) => this.keys.publicKeyOf(a),
        })
      : null;
    this.settlement = config.settlement
      ? new VoucherIssuer({
          metering: this.metering,
          ledger: this.ledger,
          keys: this.keys,
          currency: config.gateway.currency,
          settlement: config.settlement,
          log: log.child({ part: 'settle' }),
          publish: (v) => this.events.emit('voucher', v),
          gate: this.payeeSync ?? undefined,
        })
      : null;
    this.checkpoints = new Checkpointer({
      gatewayId: config.gateway.id,
      dataDir,
      everyMs: config.ledger.checkpointMs,
      head: () => this.ledger.head(),
      key: () => this.keys.gatewayKey(),
      publish: (c) => this.events.emit('checkpoint', c),
      log: log.child({ part: 'settle' }),
    });
    this.backend.attachSettlement({
      payments: this.payments,
      buyers: this.buyerPayments,
      payeeSync: this.payeeSync,
      checkpoints: this.checkpoints,
      depositOf: (payee) => this.settlement?.depositOf(payee),
    });
    this.fanout = new ReadingFanout({
      views: this.views,
      metrics: this.daemonMetrics,
      metering: this.metering,
      alarms: this.alarms,
      events: this.events,
      slots,
    });
  }

  /** Open the ledger, restore state, load policies, start the API and the pollers. */
  static async start(config: LoadedConfig, log: Logger, opts: GatewayOptions = {}): Promise<Gateway> {
    const gw = new Gateway(config, log, opts);
    try {
      gw.policies.load();
      gw.metering.restore();
      // A flows file rejected at start is an event too, not only a log line (docs/policies.md).
      if (gw.policies.lastError) gw.recordRejected(gw.policies.lastError);
      gw.policies.on('rejected', (err: Error) => gw.recordRejected(err));
      gw.alarms.restore(gw.ledger.activeAlarms());
      gw.fees.reconcile();
      gw.orders.restoreEvents((sinceMs) => gw.ledger.events({ kinds: [...ORDER_EVENT_KINDS], sinceMs, limit: 10_000 }));
      gw.mqttUplink = config.mqtt
        ? MqttUplink.open(config.mqtt, {
            gatewayId: config.gateway.id,
            dataDir: config.gateway.dataDir,
            version: packageVersion(),
            startedAtMs: gw.startedAtMs,
            log: log.child({ part: 'mqtt' }),
            metrics: gw.metrics,
            reconnect: opts.mqttReconnect,
          }).start(gw.events)
        : null;
      const uplink = gw.mqttUplink;
      gw.delivery.setMqtt(
        uplink && { send: (topic, body) => uplink.send(topic, body), subscribe: (topic, on) => uplink.subscribe(topic, on) },
      );
      if (gw.mqttUplink && gw.payeeSync) {
        const sync = gw.payeeSync;
        sync.expectOwnVouchers();
        gw.mqttUplink.watchPublishedVouchers(
          (v) => sync.ownVoucher(v),
          () => sync.ownVouchersRead(),
        );
      }
      gw.payments.load(gw.ledger);
      gw.payments.start();
      gw.buyerPayments.start();
      gw.payeeSync?.start();
      gw.settlement?.start();
      gw.checkpoints.start();
      await gw.startApi();
      await gw.startEditor();
      gw.control.start(gw.events);
      gw.orders.start(gw.events);
      gw.fieldBus.start();
      gw.daemonMetrics.start();
      gw.unwatchBuyers = watchBuyers(config.gateway.dataDir, () => gw.revalidateStreams(), log.child({ part: 'buyers' }));
      // Last: secrets generated by this start are written only now that it has succeeded (docs/api.md#authentication).
      if (gw.secretsCreated) saveNewSecrets(gw.secretsDir, { adminToken: gw.adminToken, editorPassword: gw.editorPassword });
    } catch (err) {
      await gw.stop().catch(() => undefined);
      throw err;
    }
    log.info({ api: gw.apiUrl, devices: config.devices.length, links: config.links.length }, 'gateway started');
    return gw;
  }

  get apiUrl(): string {
    return this.api?.url ?? '';
  }

  /** The Node-RED editor's URL (…/admin/), '' when it is not running. */
  get editorUrl(): string {
    return this.editor?.url ?? '';
  }

  /** The MQTT uplink (gateway/uplink), when the config has an `mqtt` section. */
  get uplink(): MqttUplink | null {
    return this.mqttUplink;
  }

  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.unwatchBuyers?.();
    this.policies.stop();
    await this.editor?.stop();
    this.control.stop();
    this.orders.stop();
    this.delivery.stop();
    await this.fieldBus.stop();
    this.market.stop();
    this.daemonMetrics.stop();
    try {
      this.metering.stop();
    } catch (err) {
      this.log.error({ err }, 'final commit failed');
    }
    this.settlement?.stop();
    this.payeeSync?.stop();
    this.buyerPayments.stop();
    this.payments.stop();
    this.checkpoints.tick();
    this.checkpoints.stop();
    await this.mqttUplink?.stop().catch((err: Error) => this.log.error({ err }, 'MQTT uplink stop failed'));
    await this.fieldBus.closeLinks();
    if (this.api) await this.api.close();
    this.ledger.close();
    this.orderStore.close();
    this.log.info('gateway stopped');
  }

  linkStates(): Array<{ id: string; state: LinkState }> {
    return this.fieldBus.linkStates();
  }

  private async startApi(): Promise<void> {
    const listen = this.opts.http ?? this.config.http;
    try {
      this.api = await startApiServer({
        host: listen.host,
        port: listen.port,
        backend: this.backend,
        tokens: chainResolvers(
          adminTokenResolver(this.adminToken),
          buyerTokenResolver(this.config.gateway.dataDir, (account) => this.market.grants(account), this.log.child({ part: 'buyers' })),
          metricsTokenResolver(this.config.gateway.dataDir),
        ),
        logger: this.log.child({ part: 'api' }),
        version: packageVersion(),
      });
    } catch (err) {
      throw new GatewayStartError(`cannot listen on ${listen.host}:${listen.port}: ${(err as Error).message}`, err);
    }
  }

  /** The embedded Node-RED editor (api/node-red-host.ts); deploys are compiled through the bridge. */
  private async startEditor(): Promise<void> {
    if (!(this.opts.editor ?? this.config.http.editor) || !this.api) return;
    const bridge = new NodeRedBridge({
      policies: this.policies,
      stream: this.events,
      write: (device, point, value) => this.writePoint(device, point, value),
      log: this.log.child({ part: 'policy' }),
      onRejected: (err) => this.recordRejected(err),
    });
    this.editor = await NodeRedHost.start({
      api: this.api,
      dataDir: this.config.gateway.dataDir,
      flowsFile: path.join(this.config.gateway.dataDir, 'flows.json'),
      editorPassword: this.editorPassword,
      adminToken: this.adminToken,
      bridge,
      log: this.log,
      hostNodes: this.config.policy.hostNodes,
    });
  }

  /** Open stream clients keep only what their tokens grant now (a buyer revoked, offers changed). */
  private revalidateStreams(): void {
    void this.api?.revalidateStreamClients().catch((err: unknown) => this.log.error({ err }, 'revalidating stream clients failed'));
  }

  private onDeviceState(s: DeviceStateChange): void {
    this.daemonMetrics.onDeviceState(s);
    this.views.setState(s.device, s.state);
    this.metering.addEvents([{ kind: 'device-state', device: s.device, tsMs: Date.now(), detail: { state: s.state, reason: s.reason } }]);
  }

  private publish(b: CommittedBatch): void {
    for (const [i, e] of b.batch.events.entries()) {
      this.events.emit('event', eventView({ ...e, id: b.eventIds[i] ?? 0, batchSeq: b.seq }));
      this.cutoff.onEvent(e.kind, e.account);
    }
  }

  /** POST /api/policies: only while no embedded editor owns flows.json; a rejection is an event like a rejected deploy. */
  private deployPolicies(nodes: unknown[]): { version: number } {
    if (this.editor) throw new EditorOwnsFlowsError();
    try {
      return { version: this.policies.deploy(nodes).version };
    } catch (err) {
      if (!(err instanceof PolicyError)) throw err;
      this.recordRejected(err);
      throw new PoliciesRejectedError(err.message, err.problems);
    }
  }

  /** A rejected policy set (at start, on a deploy, a push or a reload) is a `policy-rejected` event naming each bad node. */
  private recordRejected(err: Error): void {
    this.metering.addEvents([
      { kind: 'policy-rejected', tsMs: Date.now(), detail: { error: err.message.slice(0, 2000), active: this.policies.version } },
    ]);
  }

  private writePoint(device: string, point: string, value: string | boolean): Promise<{ value: string | boolean }> {
    return writeForApi(this.writer, device, point, value);
  }
}

function policySlots(devices: LoadedDevice[], slots: SlotMap) {
  const out = [];
  for (const d of devices) {
    for (const p of d.points) {
      out.push({
        slot: slots.get(d.id, p.name)?.slot ?? -1,
        device: d.id,
        point: p.name,
        account: d.account,
        kind: p.kind,
        writable: p.writable === true,
      });
    }
  }
  return out;
}
