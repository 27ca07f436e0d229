/**
 * The gateway's HTTP server: REST routes (routes.ts), GET /metrics, the
 * WebSocket stream (stream.ts), and mount points for other handlers on the
 * same port (Node-RED's editor at /admin, docs/config.md).
 *
 * Plain node:http, no framework: the route table is ten entries, node:http
 * keeps the footprint small on 1-core gateways, and it is one dependency less.
 *
 * Order of checks per request: route (404) → method (405) → token (401/403)
 * → path/query parameters (400) → body (415/413/400) → handler. Errors answer
 * `{error:{code,message,field?}}`; unexpected ones a 500 that only carries the
 * request id (details in the log). No answer goes out before the request has
 * fully arrived: a body a route does not take is read and dropped (up to the
 * same cap), because answering while the client still sends lets TCP reset
 * the connection and lose the answer. Slow or stuck clients are cut by
 * headersTimeout/requestTimeout; bodies are capped (64 KiB by default);
 * connections that send nothing age out of a bounded pool per address
 * (connection-guard.ts) instead of filling the server (docs/api.md "Limits").
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from '../base/log';
import { authenticate, authorize, bearerToken, type Principal, type TokenResolver } from './auth';
import type { ApiBackend } from './backend';
import { DEFAULT_BODY_LIMIT, discardBody, readJsonBody } from './body';
import { MethodNotAllowedError, RouteNotFoundError, toApiError } from './errors';
import { MetricsRegistry } from '../base/metrics';
import { decodePathParam, parseQuery } from './params';
import { rejectUpgrade, sendError, sendResult } from './reply';
import { ROUTES, routeMatcher, type RouteDef } from './routes';
import { ConnectionGuard } from './connection-guard';
import { STREAM_PATH, StreamHub, type StreamLimits } from './stream';

export interface ApiServerLimits extends StreamLimits {
  /** Request body cap in bytes (default 64 KiB). */
  bodyBytes?: number;
  /** Time to receive the request headers, counted from the connection (default 5 s): slowloris guard. */
  headersTimeoutMs?: number;
  /** Time to receive the whole request (default 30 s). */
  requestTimeoutMs?: number;
  /** Idle keep-alive connection lifetime (default 5 s). */
  keepAliveTimeoutMs?: number;
  /** How often node checks the two timeouts above (default 1 s). */
  connectionsCheckingIntervalMs?: number;
  /** Open TCP connections at most (default 256); the oldest idle or pending one makes room for a new one. */
  maxConnections?: number;
  /** Connections that have not sent a request yet, at most (default 64) and per remote address (default 16). */
  maxPendingConnections?: number;
  maxPendingPerAddress?: number;
}

export interface ApiServerOptions {
  host: string;
  /** 0 picks a free port (see the handle's `port`). */
  port: number;
  backend: ApiBackend;
  tokens: TokenResolver;
  logger: Logger;
  version: string;
  limits?: ApiServerLimits;
}

export type MountHandler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

export interface ApiServerHandle {
  /** e.g. http://127.0.0.1:8080 */
  url: string;
  port: number;
  /** The node server, for embedders that attach to it (Node-RED's RED.init(server, …)). */
  server: http.Server;
  /** The API's own metrics (m2m_api_*), rendered on /metrics after the backend's. */
  metrics: MetricsRegistry;
  /** Connected, not dropped WebSocket clients. */
  streamClients(): number;
  /**
   * Check every open stream client's token again (a buyer revoked or its
   * offers changed): revoked ones are closed at once, the others keep only
   * what they are granted now.
   */
  revalidateStreamClients(): Promise<void>;
  /**
   * Hand every request under `prefix` (e.g. '/admin') to another handler,
   * which does its own authentication. WebSocket upgrades outside
   * /api/stream are left to other 'upgrade' listeners when there are any.
   */
  mount(prefix: string, handler: MountHandler): void;
  close(): Promise<void>;
}

const KNOWN_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

export async function startApiServer(opts: ApiServerOptions): Promise<ApiServerHandle> {
  const log = opts.logger.child({ component: 'api' });
  const limits = opts.limits ?? {};
  const bodyLimit = limits.bodyBytes ?? DEFAULT_BODY_LIMIT;
  const apiMetrics = new MetricsRegistry();
  const requests = apiMetrics.counter({
    name: 'm2m_api_http_requests_total',
    help: 'HTTP requests answered, by method, route pattern and status.',
    labelNames: ['method', 'route', 'status'],
  });
  const hub = new StreamHub({
    backend: opts.backend,
    tokens: opts.tokens,
    logger: log,
    version: opts.version,
    limits,
    metrics: {
      clients: apiMetrics.gauge({ name: 'm2m_api_ws_clients', help: 'Connected WebSocket stream clients.' }),
      dropped: apiMetrics.counter({
        name: 'm2m_api_ws_dropped_total',
        help: 'WebSocket clients dropped (slow: send buffer full; heartbeat: no pong; flood: too many messages; revoked: token no longer valid).',
        labelNames: ['reason'],
      }),
      sent: apiMetrics.counter({
        name: 'm2m_api_ws_messages_sent_total',
        help: 'Stream messages sent, by topic.',
        labelNames: ['topic'],
      }),
    },
  });
  const match = routeMatcher(ROUTES);
  const mounts: Array<{ prefix: string; handler: MountHandler }> = [];
  let nextRequestId = 1;

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    const requestId = (nextRequestId++).toString(36);
    const method = req.method ?? 'GET';
    const rawUrl = req.url ?? '/';
    const q = rawUrl.indexOf('?');
    const pathname = q < 0 ? rawUrl : rawUrl.slice(0, q);
    const search = new URLSearchParams(q < 0 ? '' : rawUrl.slice(q + 1));

    for (const m of mounts) {
      if (pathname === m.prefix || pathname.startsWith(`${m.prefix}/`)) return m.handler(req, res);
    }

    let routeLabel = 'unmatched';
    try {
      const found = match(method, pathname);
      if (found.kind === 'none') throw new RouteNotFoundError(pathname.slice(0, 200));
      if (found.kind === 'method') throw new MethodNotAllowedError(method.slice(0, 16), found.allow);
      const route: RouteDef = found.route;
      routeLabel = route.path;
      let principal: Principal | null = null;
      if (route.access !== 'open') {
        principal = await authenticate(opts.tokens, bearerToken(req.headers));
        authorize(route.access, principal);
      }
      const params: Record<string, string> = {};
      for (const [k, v] of Object.entries(found.params)) params[k] = decodePathParam(k, v);
      const query = parseQuery(search, route.query);
      const body = route.body === 'json' ? await readJsonBody(req, bodyLimit) : await discardBody(req, bodyLimit);
      const result = await route.handle({ params, query, principal, body, backend: opts.backend, apiMetrics });
      sendResult(res, result);
    } catch (e) {
      if (req.socket.destroyed) {
        log.debug({ requestId, method, path: pathname.slice(0, 200) }, 'client went away mid-request');
        return;
      }
      const err = toApiError(e, requestId);
      if (!req.complete && err.code !== 'GW_ERR_BODY_TOO_LARGE') {
        // refused before its body was read (route, token, query, media type): drop the body first;
        // one past the cap keeps its first refusal, and the connection closes after the answer
        await discardBody(req, bodyLimit).catch(() => res.setHeader('Connection', 'close'));
        if (req.socket.destroyed) return;
      }
      if (err.status >= 500) {
        log.error({ err: e, requestId, method, path: pathname.slice(0, 200) }, 'request failed');
      } else {
        log.debug({ code: err.code, requestId, method, path: pathname.slice(0, 200) }, 'request refused');
      }
      sendError(res, err);
    } finally {
      requests.inc({
        method: KNOWN_METHODS.has(method) ? method : 'other',
        route: routeLabel,
        status: String(res.statusCode),
      });
    }
  };

  const server = http.createServer(
    {
      headersTimeout: limits.headersTimeoutMs ?? 5_000,
      requestTimeout: limits.requestTimeoutMs ?? 30_000,
      keepAliveTimeout: limits.keepAliveTimeoutMs ?? 5_000,
      connectionsCheckingInterval: limits.connectionsCheckingIntervalMs ?? 1_000,
      maxHeaderSize: 16 * 1024,
    },
    (req, res) => {
      void handle(req, res).catch((e: unknown) => {
        log.error({ err: e }, 'unhandled request failure');
        if (!res.headersSent) res.writeHead(500).end();
        else res.destroy();
      });
    },
  );
  const dropped = apiMetrics.counter({
    name: 'm2m_api_connections_dropped_total',
    help: 'HTTP connections closed to make room (pending: never sent a request; idle: keep-alive) or refused (all busy).',
    labelNames: ['reason'],
  });
  const guard = new ConnectionGuard(
    server,
    {
      maxConnections: limits.maxConnections ?? 256,
      maxPending: limits.maxPendingConnections ?? 64,
      maxPendingPerAddress: limits.maxPendingPerAddress ?? 16,
    },
    (reason) => dropped.inc({ reason }),
  );
  server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    guard.upgraded(socket);
    const pathname = (req.url ?? '/').split('?')[0];
    if (pathname === STREAM_PATH) return hub.handleUpgrade(req, socket, head);
    if (server.listenerCount('upgrade') > 1) return; // another listener (Node-RED comms) may take it
    socket.on('error', () => socket.destroy());
    rejectUpgrade(socket, new RouteNotFoundError((pathname ?? '').slice(0, 200)));
  });

  try {
    await new Promise<void>((resolve, reject) => {
      const onError = (e: Error): void => reject(e);
      server.once('error', onError);
      server.listen({ host: opts.host, port: opts.port }, () => {
        server.off('error', onError);
        resolve();
      });
    });
  } catch (e) {
    await hub.close(); // detach from the backend: nothing may outlive a failed start
    throw e;
  }
  server.on('error', (err) => log.error({ err }, 'http server error'));
  const port = (server.address() as AddressInfo).port;
  const hostPart = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
  const url = `http://${hostPart}:${port}`;
  log.info({ url }, 'API listening');

  return {
    url,
    port,
    server,
    metrics: apiMetrics,
    streamClients: () => hub.clientCount(),
    revalidateStreamClients: () => hub.revalidate(),
    mount(prefix, handler) {
      if (!/^\/[A-Za-z0-9._~-]+(\/[A-Za-z0-9._~-]+)*$/.test(prefix)) throw new Error(`bad mount prefix ${prefix}`);
      if (prefix === '/api' || prefix.startsWith('/api/') || prefix === '/metrics') {
        throw new Error(`mount prefix ${prefix} would shadow API routes`);
      }
      mounts.push({ prefix, handler });
    },
    async close() {
      await hub.close();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
