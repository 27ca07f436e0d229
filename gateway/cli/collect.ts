/**
 * `m2m-gateway collect --config FILE`: the payee's side (docs/settlement.md,
 * "Payees collect"). Pulls vouchers from gateways (GET /api/vouchers with a
 * payee token) and/or receives them over MQTT (`<prefix>/+/vouchers/+`,
 * as an MQTT 5 shared subscription `$share/<group>/…` when `mqtt.group` is
 * set, so several collectors split one stream), verifies and keeps them
 * (settle/collector-store.ts), and serves with a bearer token:
 *
 *   GET /api/receivables   [{channel, payer, payee, seq, amount, currency, receivedAt}]
 *   GET /api/vouchers      every voucher kept (?channel=)
 *   GET /api/gaps          channels whose seqs have a gap: [{channel, after, afterIssuedAt, next, pending, sinceMs}]
 *   GET /api/events        double-issue, voucher-refused and seq-gap events (?kind=)
 *   GET /api/health        {status, payees, receivables, gaps}  (no token)
 *
 * Collectors of one group agree: each voucher a collector takes from a
 * gateway or the broker it passes on, retained, on
 * `<prefix>/collect/<group>/vouchers/<channel>`, which every member reads
 * (not shared); a voucher proves itself by its payer signature, whoever
 * forwards it. Receivables advance by seq +1 only (settle/collector-store.ts):
 * while a channel has a gap, every `gapRetryMs` the collector asks its
 * siblings on `<prefix>/collect/<group>/gaps` (`{channel, after, before,
 * from}`; a member holding any of those seqs answers on the voucher topic,
 * not retained) and pulls the channel from each configured gateway; a gap
 * open `gapEventMs` raises a `seq-gap` event (docs/settlement.md, "Gaps").
 * The token is `<dataDir>/token` (0600), made at first start.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { connect, type MqttClient } from 'mqtt';
import { createLogger, type Logger } from '../base/log';
import { writePrivateFileAtomic } from '../base/private-files';
import { GAP_EVENT_MS, GAP_RETRY_MS, parseCollectConfig, type CollectConfig, type CollectSettings } from '../config/collect-schema';
import { CollectorStore, type Offered } from '../settle/collector-store';
import type { SignedVoucher } from '../settle/voucher';
import { topicLevel } from '../uplink/messages';
import { untilSignal } from './start';

export interface CollectorHandle {
  url: string;
  token: string;
  store: CollectorStore;
  stop(): Promise<void>;
}

/** Vouchers one answer to a sibling's gap request carries at most (it asks again for the rest). */
export const GAP_ANSWER_MAX = 256;
/** Ranges of missing seqs one gap request names at most (it asks again for the rest). */
export const GAP_HOLES_MAX = 64;
/** Every this often a member re-sends the latest voucher of up to SYNC_MAX channels to its siblings, ms. */
export const SYNC_MS = 5000;
export const SYNC_MAX = 256;

type GatewaySource = CollectConfig['gateways'][number];

/** GET <gateway>/api/vouchers<query> with the payee token. */
async function fetchVouchers(g: GatewaySource, query: string): Promise<unknown[]> {
  const t = fs.readFileSync(g.tokenFile, 'utf8').trim();
  const res = await fetch(`${g.url}/api/vouchers${query}`, {
    headers: { authorization: `Bearer ${t}` },
    signal: AbortSignal.timeout(10_000),
  });
  if (!res.ok) throw new Error(`HTTP ${res.status}`);
  const list = (await res.json()) as unknown;
  if (!Array.isArray(list)) throw new Error('the answer is not a list');
  return list;
}

function loadToken(dataDir: string): { token: string; created: boolean } {
  const file = path.join(dataDir, 'token');
  if (fs.existsSync(file)) return { token: fs.readFileSync(file, 'utf8').trim(), created: false };
  const token = crypto.randomBytes(32).toString('base64url');
  writePrivateFileAtomic(file, `${token}\n`);
  return { token, created: true };
}

export async function startCollector(
  cfg: CollectSettings,
  log: Logger,
  opts: { port?: number; reconnectMs?: number } = {},
): Promise<CollectorHandle> {
  const store = new CollectorStore(cfg.dataDir, new Set(cfg.payees), cfg.payers);
  const { token } = loadToken(cfg.dataDir);
  let mqtt: MqttClient | null = null;
  const timers = new Set<NodeJS.Timeout>();
  let stopped = false;
  const clientId = cfg.mqtt?.clientId ?? `collect-${crypto.randomBytes(4).toString('hex')}`;
  const groupBase = cfg.mqtt?.group ? `${cfg.mqtt.topicPrefix}/collect/${cfg.mqtt.group}` : null;
  const gossipBase = groupBase ? `${groupBase}/vouchers` : null;
  const gapTopic = groupBase ? `${groupBase}/gaps` : null;
  // Only while connected: what a member takes while the broker is away reaches its siblings
  // through anti-entropy and their gap requests once it is back. Queued instead, the backlog
  // goes out one message per round trip after the reconnect (mqtt.js resends its store before
  // anything else), and the member subscribes again only when all of it is acknowledged.
  const toSiblings = (v: SignedVoucher, retain: boolean): void => {
    if (mqtt?.connected && gossipBase) mqtt.publish(`${gossipBase}/${topicLevel(v.channel)}`, JSON.stringify(v), { qos: 1, retain });
  };

  const take = (value: unknown, source: string): Offered => {
    const r = store.offer(value, source);
    if (r.status === 'accepted' || r.status === 'held') {
      const v = r.voucher;
      if (r.status === 'accepted')
        log.info({ channel: v.channel, seq: v.seq, amount: v.amount, source, joined: r.joined }, 'voucher received');
      else log.debug({ channel: v.channel, seq: v.seq, after: r.after, next: r.next, source }, 'voucher held: an earlier seq is missing');
      if (source !== 'peer') toSiblings(v, true);
    } else if (r.status === 'double-issue') log.error({ source, reason: r.reason }, 'double-issue: two different vouchers carry one seq');
    else if (r.status === 'refused') log.warn({ source, field: r.field, reason: r.reason }, 'voucher refused');
    return r;
  };

  const every = (ms: number, job: () => void | Promise<void>): void => {
    const loop = (): void => {
      void Promise.resolve()
        .then(job)
        .catch((err: unknown) =>
          log.error({ err: err instanceof Error ? err.message : String(err) }, 'collector task failed; it runs again'),
        )
        .finally(() => {
          if (stopped) return;
          const t = setTimeout(() => {
            timers.delete(t);
            loop();
          }, ms).unref();
          timers.add(t);
        });
    };
    loop();
  };

  // Pull from gateways.
  for (const g of cfg.gateways) {
    let since = 0;
    let failing = false;
    every(g.pollMs, async () => {
      try {
        const list = await fetchVouchers(g, since > 0 ? `?since=${since}` : '');
        if (stopped) return;
        for (const v of list) {
          const r = take(v, g.url);
          if (r.status === 'accepted' || r.status === 'duplicate') since = Math.max(since, Date.parse(r.voucher.issuedAt));
        }
        if (failing) log.info({ gateway: g.url }, 'gateway reachable again');
        failing = false;
      } catch (err) {
        if (!failing) log.warn({ gateway: g.url, err: (err as Error).message }, 'cannot pull vouchers; retrying');
        failing = true;
      }
    });
  }

  // Fill gaps: ask the siblings, pull the channel from each gateway; flag the old ones.
  every(cfg.gapRetryMs ?? GAP_RETRY_MS, async () => {
    for (const gap of store.gaps()) {
      if (stopped) return;
      // Every hole below the highest held seq, not only the lowest: a shared subscription leaves
      // every other seq missing, and one answer then fills them all instead of one a round. The
      // holes are named, so siblings send only what is missing (`before` for older members).
      if (mqtt?.connected && gapTopic) {
        const holes = store.holes(gap.channel, GAP_HOLES_MAX);
        log.debug(
          { channel: gap.channel, after: gap.after, before: gap.last, holes: holes.length },
          'asking the siblings for missing seqs',
        );
        mqtt.publish(gapTopic, JSON.stringify({ channel: gap.channel, after: gap.after, before: gap.last, holes, from: clientId }), {
          qos: 1,
        });
      }
      for (const g of cfg.gateways) {
        try {
          const list = await fetchVouchers(g, `?channel=${encodeURIComponent(gap.channel)}&since=${Date.parse(gap.afterIssuedAt)}`);
          if (stopped) return;
          for (const v of list) take(v, g.url);
        } catch {
          // the regular pull says when a gateway cannot be reached
        }
      }
    }
    if (stopped) return;
    for (const gap of store.flagGaps(Date.now(), cfg.gapEventMs ?? GAP_EVENT_MS))
      log.warn(
        { channel: gap.channel, after: gap.after, next: gap.next, pending: gap.pending },
        'seq-gap: vouchers wait for missing seqs (receivables stay at the last contiguous one); still asking',
      );
  });

  // Anti-entropy (docs/settlement.md, "Gaps"): a member that missed a voucher and sees no
  // later one cannot know it is behind (its sibling took the last one from the shared
  // subscription, or the gossip of it was lost with a kill -9). Every SYNC_MS each member
  // re-sends the latest voucher of up to SYNC_MAX channels, round robin; a sibling behind
  // holds it as pending, which opens the gap it then asks for. Also at each (re)connect: what
  // a member took while the broker was away was not passed on (toSiblings).
  let syncFrom = 0;
  const syncSiblings = (): void => {
    if (!mqtt?.connected || !gossipBase) return;
    const latest = store.receivables();
    for (let i = 0; i < Math.min(SYNC_MAX, latest.length); i++) {
      const r = latest[(syncFrom + i) % latest.length]!;
      for (const v of store.between(r.channel, r.seq - 1, r.seq + 1, 1)) toSiblings(v, true);
    }
    syncFrom = latest.length > 0 ? (syncFrom + SYNC_MAX) % latest.length : 0;
  };
  if (gossipBase) every(SYNC_MS, syncSiblings);

  // Subscribe over MQTT 5.
  if (cfg.mqtt) {
    const m = cfg.mqtt;
    const topic = `${m.topicPrefix}/+/vouchers/+`;
    const shared = m.group ? `$share/${m.group}/${topic}` : topic;
    mqtt = connect(m.url, {
      protocolVersion: 5,
      clientId,
      clean: false,
      properties: { sessionExpiryInterval: 3600 },
      reconnectPeriod: opts.reconnectMs ?? 1000,
      username: m.username,
      password: m.passwordFile ? fs.readFileSync(m.passwordFile, 'utf8').trim() : undefined,
    });
    const subs: Record<string, { qos: 1 }> = { [shared]: { qos: 1 } };
    if (gossipBase) subs[`${gossipBase}/+`] = { qos: 1 };
    if (gapTopic) subs[gapTopic] = { qos: 1 };
    mqtt.on('connect', (ack) => {
      log.info({ url: m.url, sessionPresent: ack.sessionPresent }, 'collector connected to the broker');
      mqtt?.subscribe(subs);
      syncSiblings();
    });
    mqtt.on('error', (err) => log.debug({ err: err.message }, 'collector MQTT error'));
    mqtt.on('message', (t, payload) => {
      let msg: unknown;
      try {
        msg = JSON.parse(payload.toString('utf8'));
      } catch {
        return log.warn({ topic: t }, 'not JSON; ignored');
      }
      if (t === gapTopic) return answerGap(msg);
      const fromPeer = gossipBase !== null && t.startsWith(`${gossipBase}/`);
      const v = !fromPeer && typeof msg === 'object' && msg !== null && 'voucher' in msg ? (msg as { voucher: unknown }).voucher : msg;
      take(v, fromPeer ? 'peer' : `mqtt:${t}`);
    });
  }

  /**
   * A sibling misses seqs of a channel: the inclusive ranges `holes` (or, from a member that
   * does not name them, every seq after < s < before). Send what is held of them, not retained,
   * GAP_ANSWER_MAX at most.
   */
  function answerGap(msg: unknown): void {
    const q = (typeof msg === 'object' && msg !== null ? msg : {}) as Record<string, unknown>;
    const { channel, after, before, from } = q;
    if (from === clientId || typeof channel !== 'string' || !Number.isSafeInteger(after) || !Number.isSafeInteger(before)) return;
    const holes = validHoles(q.holes);
    const held: SignedVoucher[] = [];
    for (const [lo, hi] of holes ?? [[(after as number) + 1, (before as number) - 1]]) {
      if (held.length >= GAP_ANSWER_MAX) break;
      held.push(...store.between(channel, lo - 1, hi + 1, GAP_ANSWER_MAX - held.length));
    }
    log.debug({ channel, after, before, from, answer: held.length, connected: mqtt?.connected }, "answering a sibling's gap request");
    for (const v of held) toSiblings(v, false);
  }

  /** `holes` of a gap request: at most GAP_HOLES_MAX ranges [from, to] of safe integers, from ≤ to; null when absent or malformed. */
  function validHoles(x: unknown): Array<[number, number]> | null {
    if (!Array.isArray(x) || x.length > GAP_HOLES_MAX) return null;
    const ok = x.every(
      (h) =>
        Array.isArray(h) &&
        h.length === 2 &&
        Number.isSafeInteger(h[0]) &&
        Number.isSafeInteger(h[1]) &&
        (h[0] as number) <= (h[1] as number),
    );
    return ok ? (x as Array<[number, number]>) : null;
  }

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://collector');
    const send = (status: number, body: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.method !== 'GET') return send(405, { error: { code: 'GW_ERR_METHOD_NOT_ALLOWED', message: 'GET only' } });
    if (url.pathname === '/api/health')
      return send(200, { status: 'ok', payees: cfg.payees, receivables: store.receivables().length, gaps: store.gaps().length });
    const auth = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '')?.[1];
    const ok =
      auth !== undefined &&
      crypto.timingSafeEqual(crypto.createHash('sha256').update(auth).digest(), crypto.createHash('sha256').update(token).digest());
    if (!ok) return send(401, { error: { code: 'GW_ERR_UNAUTHORIZED', message: 'missing or invalid bearer token' } });
    if (url.pathname === '/api/receivables') return send(200, store.receivables());
    if (url.pathname === '/api/vouchers') return send(200, store.vouchers(url.searchParams.get('channel') ?? undefined));
    if (url.pathname === '/api/gaps') return send(200, store.gaps());
    if (url.pathname === '/api/events') return send(200, store.events(url.searchParams.get('kind') ?? undefined));
    return send(404, { error: { code: 'GW_ERR_NOT_FOUND', message: 'no such route' } });
  });
  const i = cfg.listen.lastIndexOf(':');
  const host = cfg.listen.slice(0, i).replace(/^\[(.*)\]$/, '$1');
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? Number(cfg.listen.slice(i + 1)), host, () => resolve());
  });
  const addr = server.address() as { port: number };
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${addr.port}`,
    token,
    store,
    async stop() {
      stopped = true;
      for (const t of timers) clearTimeout(t);
      await new Promise<void>((resolve) => (mqtt ? mqtt.end(false, {}, () => resolve()) : resolve()));
      await new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      store.close();
    },
  };
}

export async function collectCommand(opts: { config: string }): Promise<void> {
  const cfg = parseCollectConfig(fs.readFileSync(opts.config, 'utf8'), opts.config);
  const log = createLogger('m2m-collect');
  const c = await startCollector(cfg, log);
  process.stdout.write(
    `m2m-gateway collect for ${cfg.payees.join(', ')} running; API ${c.url} (token in ${path.join(cfg.dataDir, 'token')})\n`,
  );
  await untilSignal();
  await c.stop();
}
