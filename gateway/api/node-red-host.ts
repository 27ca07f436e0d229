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
import { EventEmitter } from 'node:events';
import * as fs from 'node:fs';
import type * as http from 'node:http';
import type { Duplex } from 'node:stream';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { RouteNotFoundError } from './errors';
import { rejectUpgrade } from './reply';
import type { ApiServerHandle } from './server';
import { STREAM_PATH } from './stream';
import { GatewayStartError } from '../base/errors';
import type { Logger } from '../base/log';
import { packageRoot } from '../base/package-root';
import { readFlowsFile } from '../policy/flows';
import type { NodeRedBridge } from '../policy/node-red-bridge';

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
  /**
   * What Node-RED sees as its HTTP server: only the editor's comms WebSocket
   * upgrades are passed to it. (Node-RED's own catch-all upgrade listener, which
   * arms a 5 s timer per upgrade on the whole server, /api/stream included, is
   * removed; unknown /admin upgrades get a 404 at once instead.)
   */
  private readonly facade = new EventEmitter();
  private readonly onUpgrade = (req: http.IncomingMessage, socket: Duplex, head: Buffer): void => this.upgrade(req, socket, head);
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
    try {
      opts.bridge.expectStartup(startupFlows(opts.flowsFile));
      red.init(host.facade as unknown as http.Server, nodeRedSettings(opts, userDir));
      host.facade.removeAllListeners('upgrade');
      host.listen('flows:starting', () => opts.bridge.deploying());
      host.listen('flows:started', (e: FlowsEvent) => opts.bridge.deployed(e?.config?.flows ?? []));
      opts.api.mount(EDITOR_PATH, (req, res) => host.handle(req, res));
      await red.start();
      opts.api.server.on('upgrade', host.onUpgrade);
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
      await releaseSessionTimer();
    } catch (err) {
      this.opts.log.error({ err }, 'stopping Node-RED failed');
    } finally {
      this.opts.api.server.off('upgrade', this.onUpgrade);
      this.facade.removeAllListeners();
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

  /** WebSocket upgrades on the shared server: /admin/comms goes to Node-RED, /api/stream stays with the API. */
  private upgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    const pathname = (req.url ?? '/').split('?')[0] ?? '/';
    if (pathname === STREAM_PATH) return;
    if (pathname === `${EDITOR_PATH}/comms` && !this.stopped) {
      this.facade.emit('upgrade', req, socket, head);
      return;
    }
    // Other paths: refuse them here unless another extension listens for upgrades too.
    const ours = pathname === EDITOR_PATH || pathname.startsWith(`${EDITOR_PATH}/`);
    if (!ours && this.opts.api.server.listenerCount('upgrade') > 2) return;
    socket.on('error', () => socket.destroy());
    rejectUpgrade(socket, new RouteNotFoundError(pathname.slice(0, 200)));
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

/** The flows file as PolicyService read it at start ([] when missing, null when unreadable). */
function startupFlows(file: string): unknown {
  try {
    return readFlowsFile(file) ?? [];
  } catch {
    return null;
  }
}

function loadNodeRed(): NodeRedModule {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require('node-red') as NodeRedModule;
}

/**
 * Node-RED's login sessions (@node-red/editor-api/lib/auth/tokens.js) keep a
 * timer for the next session expiry (up to a week) that RED.stop() leaves
 * running, which would keep the stopped daemon's event loop alive. Re-init the
 * module with an empty session store and look a token up: its expiry pass
 * finds no sessions, clears the timer and schedules none.
 */
async function releaseSessionTimer(): Promise<void> {
  const file = require.resolve('@node-red/editor-api/lib/auth/tokens', { paths: [path.dirname(require.resolve('node-red/package.json'))] });
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const tokens = require(file) as {
    init(settings: object, storage: { getSessions(): Promise<object>; saveSessions(): Promise<void> }): Promise<void>;
    get(token: string): Promise<unknown>;
  };
  await tokens.init({}, { getSessions: async () => ({}), saveSessions: async () => undefined });
  await tokens.get('');
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

/** Node-RED start-up warnings that follow from our settings (projects off, credentials created on first deploy). */
const BENIGN_WARNINGS = [/^Projects disabled/, /^Encrypted credentials not found/];

export function pinoLogging(log: Logger): Record<string, unknown> {
  return {
    pino: {
      level: nodeRedLevel(log.level),
      metrics: false,
      audit: false,
      handler: () => (msg: NodeRedLogMessage) => {
        let level = LEVELS[msg.level];
        if (!level) return; // audit and metric events
        // Node-RED warns about features we turn off on purpose: not the operator's concern.
        if (level === 'warn' && BENIGN_WARNINGS.some((re) => re.test(logText(msg.msg)))) level = 'debug';
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
      palette: {
        catalogues: [],
        categories: ['m2m gateway', 'subflows', 'common', 'function', 'network', 'sequence', 'parser', 'storage'],
      },
      multiplayer: { enabled: false },
    },
    // The bridge the m2m-* nodes use (flows/lib/policy-node.js).
    m2mGateway: opts.bridge,
  };
}
