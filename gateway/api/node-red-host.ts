/**
 * The embedded Node-RED editor (docs/architecture.md §5, §8): an extension with
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
 * - The editor password is code execution as the daemon's user when
 *   host-access nodes are loaded, so they are not unless the config says
 *   `policy.hostNodes: true` (HOST_NODE_FILES; docs/policies.md).
 * - Logins (POST /admin/auth/token) are checked here first: a wrong password
 *   is answered here and counted against its address (login-limiter.ts);
 *   only a right one reaches Node-RED, whose own limiter counts attempts per
 *   user name and would otherwise lock the one editor user out for anyone.
 * - Sessions, node credentials and settings files are kept 0600, the user
 *   folder 0700 (node-red-storage.ts).
 *
 * Node-RED is a process-wide singleton: one gateway per process hosts it; a
 * second one in the same process runs without the editor (with a warning).
 */
import { createHmac } from 'node:crypto';
import { tokensEqual } from './auth';
import { readBodyBytes } from './body';
import { LoginLimiter } from './login-limiter';
import { privateNodeRedStorage } from './node-red-storage';
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
const LOGIN_PATH = `${EDITOR_PATH}/auth/token`;
const LOGIN_BODY_LIMIT = 16 * 1024;

/**
 * Node-RED core node files that reach the host: run commands (exec), run
 * JavaScript with the daemon's rights (function), read and write files
 * (file, watch, tls), and open network connections or listeners from the
 * gateway (tcp, udp, http, websocket, mqtt, proxy). Left out unless
 * `policy.hostNodes: true`.
 */
export const HOST_NODE_FILES = [
  '10-function.js',
  '90-exec.js',
  '10-file.js',
  '23-watch.js',
  '05-tls.js',
  '06-httpproxy.js',
  '10-mqtt.js',
  '21-httpin.js',
  '21-httprequest.js',
  '22-websocket.js',
  '31-tcpin.js',
  '32-udp.js',
] as const;

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
  /** Load Node-RED's host-access nodes (exec, function, file, network); default false. */
  hostNodes?: boolean;
  /** Failed logins allowed per address and window (defaults: 5 per 60 s). */
  loginLimits?: { maxFailures?: number; windowMs?: number };
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
  private readonly logins: LoginLimiter;

  private constructor(
    private readonly red: NodeRedModule,
    private readonly opts: NodeRedHostOptions,
    /** e.g. http://127.0.0.1:8080/admin/ */
    readonly url: string,
  ) {
    this.logins = new LoginLimiter(opts.loginLimits);
  }

  /**
   * Start Node-RED on the API server. Resolves to null (with a warning) when
   * another gateway in this process already hosts it. Throws GatewayStartError
   * when Node-RED cannot start.
   */
  static async start(opts: NodeRedHostOptions): Promise<NodeRedHost | null> {
    const log = opts.log;
    if (hosting) {
      log.warn(
        'the Node-RED editor already runs for another gateway in this process; this one runs without it (flows.json is still compiled)',
      );
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
      // Flows naming a node type that is not loaded (a host-access node while they are off) are saved but
      // not started by Node-RED: the policies in them are still compiled, from the file it just wrote.
      host.listen('runtime-event', (e: FlowsEvent & { id?: string; payload?: { error?: string; types?: string[] } }) => {
        if (e?.id !== 'runtime-state' || e.payload?.error !== 'missing-types') return;
        log.warn(
          { types: e.payload.types },
          'flows use node types that are not loaded (host-access nodes need policy.hostNodes: true); those flows do not run, their policies are compiled',
        );
        const flows = startupFlows(opts.flowsFile);
        if (flows !== null) opts.bridge.deployed(flows);
      });
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

  private listen<E extends FlowsEvent>(event: string, fn: (e: E) => void): void {
    const guarded = (e: E): void => {
      try {
        fn(e);
      } catch (err) {
        this.opts.log.error({ err, event }, 'Node-RED event handling failed');
      }
    };
    this.red.events.on(event, guarded);
    this.listeners.push([event, guarded as (e: FlowsEvent) => void]);
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
    if (pathname === LOGIN_PATH && req.method === 'POST') {
      void this.login(req, res, raw).catch((err: unknown) => {
        this.opts.log.error({ err }, 'editor login failed');
        if (!res.headersSent) res.writeHead(500).end();
      });
      return;
    }
    this.pass(req, res, raw);
  }

  private pass(req: http.IncomingMessage, res: http.ServerResponse, raw: string): void {
    (req as http.IncomingMessage & { originalUrl?: string }).originalUrl = raw;
    req.url = raw.slice(EDITOR_PATH.length);
    this.red.httpAdmin(req, res);
  }

  /**
   * POST /admin/auth/token: refuse an address past its failure budget (429),
   * answer a wrong user or password here (403 invalid_grant, as Node-RED
   * does) and count it; hand a right one to Node-RED with the body parsed.
   */
  private async login(req: http.IncomingMessage, res: http.ServerResponse, raw: string): Promise<void> {
    const address = req.socket.remoteAddress ?? '?';
    const json = (status: number, body: object, headers: Record<string, string> = {}): void => {
      res.writeHead(status, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store', ...headers }).end(JSON.stringify(body));
    };
    const wait = this.logins.retryAfterMs(address);
    if (wait > 0) {
      req.resume();
      json(
        429,
        { error: 'too_many_attempts', error_description: 'Too many failed logins from this address; try again later' },
        { 'Retry-After': String(Math.ceil(wait / 1000)) },
      );
      return;
    }
    let fields: Record<string, unknown>;
    try {
      fields = parseLoginBody(req.headers['content-type'], await readBodyBytes(req, LOGIN_BODY_LIMIT));
    } catch {
      json(400, { error: 'invalid_request', error_description: 'unreadable login request' });
      return;
    }
    const user = typeof fields.username === 'string' ? fields.username : '';
    const password = typeof fields.password === 'string' ? fields.password : '';
    if (!(tokensEqual(user, EDITOR_USER) && tokensEqual(password, this.opts.editorPassword))) {
      this.logins.fail(address);
      this.opts.log.warn({ address, user: user.slice(0, 64) }, 'editor login failed');
      json(403, { error: 'invalid_grant', error_description: 'Invalid resource owner credentials' });
      return;
    }
    this.logins.succeed(address);
    // Express's body parsers skip a request already marked parsed.
    Object.assign(req, { body: fields, _body: true });
    this.pass(req, res, raw);
  }
}

/** The login form Node-RED's editor posts (urlencoded) or a JSON body (node-red-admin). */
function parseLoginBody(contentType: string | undefined, body: Buffer): Record<string, unknown> {
  const type = (contentType ?? '').split(';')[0]?.trim().toLowerCase();
  const text = body.toString('utf8');
  if (type === 'application/json') {
    const v: unknown = JSON.parse(text);
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not an object');
    return v as Record<string, unknown>;
  }
  return Object.fromEntries(new URLSearchParams(text));
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
  if (typeof m === 'object' && m !== null && typeof (m as { message?: unknown }).message === 'string')
    return (m as { message: string }).message;
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
    ...(opts.hostNodes ? {} : { nodesExcludes: [...HOST_NODE_FILES] }),
    storageModule: privateNodeRedStorage(userDir, opts.flowsFile),
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
