/**
 * The embedded Node-RED editor (DESIGN.md §5, §8): an extension with
 * start()/stop() that runs Node-RED inside the daemon on the API's HTTP
 * server at /admin.
 *
 * - Admin API and editor at `/admin`, no node HTTP endpoints
 *   (httpNodeRoot false), password login (user `admin`, the bcrypt hash of
 *   `editorPassword` from secrets.json), comms WebSocket at /admin/comms.
 * - flowFile is `<dataDir>/flows.json`, the one source of truth that
 *   PolicyService also reads at start; userDir is `<dataDir>/node-red`.
 * - Our node package (flows/, the m2m-* nodes) is loaded through nodesDir;
 *   the nodes reach the gateway only through the NodeRedBridge passed in as
 *   `settings.m2mGateway`.
 * - Every deploy (and the initial load) is compiled into the core by the
 *   bridge; a rejected deploy keeps the previous tables, the file keeps what
 *   was deployed (the operator fixes it and deploys again).
 * - Nothing leaves the machine: no telemetry or update checks, no palette
 *   catalogue, no npm installs. Node-RED's log goes to our pino logger.
 *
 * Node-RED is a process-wide singleton: one gateway per process hosts it; a
 * second one in the same process runs without the editor (with a warning).
 */
import { createHmac } from 'node:crypto';
import * as fs from 'node:fs';
import type * as http from 'node:http';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import type { ApiServerHandle } from '../api/server';
import { GatewayStartError } from '../gateway-errors';
import type { Logger } from '../log';
import { packageRoot } from '../package-root';
import type { NodeRedBridge } from './node-red-bridge';

export const EDITOR_PATH = '/admin';
export const EDITOR_USER = 'admin';
/** bcrypt cost: the password is 32 random characters, the hash only has to be one Node-RED accepts. */
const BCRYPT_ROUNDS = 8;

export interface NodeRedHostOptions {
  /** The API server to share (RED.init attaches the comms WebSocket to its http.Server). */
  api: Pick<ApiServerHandle, 'server' | 'mount' | 'url'>;
  dataDir: string;
  flowsFile: string;
  editorPassword: string;
  /** credentialSecret is derived from it (HMAC), so node credentials stay readable across restarts. */
  adminToken: string;
  bridge: NodeRedBridge;
  log: Logger;
}

/** The part of the `node-red` module we use (it ships no types). */
interface NodeRedModule {
  init(server: http.Server, settings: Record<string, unknown>): void;
  start(): Promise<void>;
  stop(): Promise<void>;
  readonly httpAdmin: (req: http.IncomingMessage, res: http.ServerResponse) => void;
  readonly events: NodeJS.EventEmitter;
}

interface NodeRedLogMessage {
  level: number;
  msg?: unknown;
  type?: string;
  id?: string;
  name?: string;
}

interface FlowsEvent {
  config?: { flows?: unknown };
  type?: string;
}

let hosting: NodeRedHost | null = null;

export class NodeRedHost {
  private readonly listeners: Array<[string, (e: FlowsEvent) => void]> = [];
  private upgradeListeners: Array<(...a: unknown[]) => void> = [];
  private stopped = false;

  private constructor(
    private readonly red: NodeRedModule,
    private readonly opts: NodeRedHostOptions,
    /** e.g. http://127.0.0.1:8080/admin/ */
    readonly url: string,
  ) {}

  /**
   * Start Node-RED on the API server. Resolves to null (with a warning) when
   * another gateway in this process already hosts it. Throws GatewayStartError
   * when Node-RED cannot start.
   */
  static async start(opts: NodeRedHostOptions): Promise<NodeRedHost | null> {
    const log = opts.log;
    if (hosting) {
      log.warn('the Node-RED editor already runs for another gateway in this process; this one runs without it (flows.json is still compiled)');
      return null;
    }
    const t0 = process.hrtime.bigint();
    const red = loadNodeRed();
    const userDir = path.join(opts.dataDir, 'node-red');
    fs.mkdirSync(userDir, { recursive: true, mode: 0o700 });
    const url = `${opts.api.url}${EDITOR_PATH}/`;
    const host = new NodeRedHost(red, opts, url);
    hosting = host;
    const before = new Set(opts.api.server.listeners('upgrade'));
    try {
      red.init(opts.api.server, nodeRedSettings(opts, userDir));
      host.listen('flows:starting', () => opts.bridge.deploying());
      host.listen('flows:started', (e: FlowsEvent) => opts.bridge.deployed(e?.config?.flows ?? []));
      opts.api.mount(EDITOR_PATH, (req, res) => host.handle(req, res));
      await red.start();
      host.upgradeListeners = opts.api.server.listeners('upgrade').filter((l) => !before.has(l)) as Array<(...a: unknown[]) => void>;
    } catch (err) {
      await host.stop().catch(() => undefined);
      throw new GatewayStartError(`cannot start the Node-RED editor: ${(err as Error).message}`, err);
    }
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    log.info({ url, user: EDITOR_USER, startMs: Math.round(ms) }, 'Node-RED editor started');
    return host;
  }

  /** Stop Node-RED (flows closed, comms WebSocket closed). Idempotent. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const [event, fn] of this.listeners) this.red.events.off(event, fn);
    this.listeners.length = 0;
    try {
      await this.red.stop();
    } catch (err) {
      this.opts.log.error({ err }, 'stopping Node-RED failed');
    } finally {
      for (const l of this.upgradeListeners) this.opts.api.server.off('upgrade', l);
      if (hosting === this) hosting = null;
    }
  }

  private listen(event: string, fn: (e: FlowsEvent) => void): void {
    const guarded = (e: FlowsEvent): void => {
      try {
        fn(e);
      } catch (err) {
        this.opts.log.error({ err, event }, 'Node-RED event handling failed');
      }
    };
    this.red.events.on(event, guarded);
    this.listeners.push([event, guarded]);
  }

  /** Requests under /admin: strip the prefix like express's mount does, then hand them to Node-RED's admin app. */
  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const raw = req.url ?? EDITOR_PATH;
    const q = raw.indexOf('?');
    const pathname = q < 0 ? raw : raw.slice(0, q);
    if (this.stopped) {
      res.writeHead(503, { 'Content-Type': 'text/plain' }).end('the editor is stopping\n');
      return;
    }
    if (pathname === EDITOR_PATH) {
      // The editor loads its assets relative to the page: /admin must be /admin/.
      res.writeHead(301, { Location: `${EDITOR_PATH}/${q < 0 ? '' : raw.slice(q)}` }).end();
      return;
    }
    (req as http.IncomingMessage & { originalUrl?: string }).originalUrl = raw;
    req.url = raw.slice(EDITOR_PATH.length);
    this.red.httpAdmin(req, res);
  }
}

function loadNodeRed(): NodeRedModule {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require('node-red') as NodeRedModule;
}

/** bcryptjs ships with node-red (its adminAuth checks passwords with it): resolve it from there. */
function bcryptHash(password: string): string {
  const fromNodeRed = createRequire(require.resolve('node-red/package.json'));
  const bcrypt = fromNodeRed('bcryptjs') as { hashSync(pw: string, rounds: number): string };
  return bcrypt.hashSync(password, BCRYPT_ROUNDS);
}

/** Node-RED's log levels (@node-red/util log.js) -> pino. */
const LEVELS: Record<number, 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace'> = {
  10: 'fatal',
  20: 'error',
  30: 'warn',
  40: 'info',
  50: 'debug',
  60: 'trace',
};

function nodeRedLevel(pinoLevel: string): string {
  return pinoLevel === 'silent' ? 'off' : pinoLevel in { fatal: 1, error: 1, warn: 1, info: 1, debug: 1, trace: 1 } ? pinoLevel : 'info';
}

function logText(m: unknown): string {
  if (typeof m === 'string') return m;
  if (m instanceof Error) return m.message;
  if (typeof m === 'object' && m !== null && typeof (m as { message?: unknown }).message === 'string') return (m as { message: string }).message;
  try {
    return JSON.stringify(m);
  } catch {
    return String(m);
  }
}

export function pinoLogging(log: Logger): Record<string, unknown> {
  return {
    pino: {
      level: nodeRedLevel(log.level),
      metrics: false,
      audit: false,
      handler: () => (msg: NodeRedLogMessage) => {
        const level = LEVELS[msg.level];
        if (!level) return; // audit and metric events
        const ctx: Record<string, unknown> = {};
        if (msg.type) ctx.nodeType = msg.type;
        if (msg.id) ctx.nodeId = msg.id;
        if (msg.name) ctx.nodeName = msg.name;
        if (msg.msg instanceof Error && msg.msg.stack) ctx.stack = msg.msg.stack;
        log[level](ctx, logText(msg.msg));
      },
    },
  };
}

/** Node-RED settings: everything local, password-protected, our nodes, our flows file. */
export function nodeRedSettings(opts: NodeRedHostOptions, userDir: string): Record<string, unknown> {
  return {
    httpAdminRoot: EDITOR_PATH,
    httpNodeRoot: false,
    userDir,
    flowFile: opts.flowsFile,
    flowFilePretty: true,
    nodesDir: [path.join(packageRoot(), 'flows')],
    credentialSecret: createHmac('sha256', opts.adminToken).update('m2m-gateway node-red credentialSecret').digest('hex'),
    adminAuth: {
      type: 'credentials',
      users: [{ username: EDITOR_USER, password: bcryptHash(opts.editorPassword), permissions: '*' }],
    },
    logging: pinoLogging(opts.log.child({ part: 'node-red' })),
    telemetry: { enabled: false, updateNotification: false },
    diagnostics: { enabled: false, ui: false },
    runtimeState: { enabled: false, ui: false },
    externalModules: {
      autoInstall: false,
      palette: { allowInstall: false, allowUpdate: false, allowUpload: false },
      modules: { allowInstall: false },
    },
    functionExternalModules: false,
    exportGlobalContextKeys: false,
    editorTheme: {
      page: { title: 'm2m-gateway policies' },
      header: { title: 'm2m-gateway policies' },
      tours: false,
      palette: { catalogues: [], editable: false },
      projects: { enabled: false },
      multiplayer: { enabled: false },
    },
    // The bridge the m2m-* nodes use (flows/lib/policy-node.js).
    m2mGateway: opts.bridge,
  };
}
