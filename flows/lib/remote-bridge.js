'use strict';
/**
 * The bridge of the m2m-* nodes when they run in a Node-RED outside the
 * gateway (node-red-contrib-m2m-gateway in a user's own Node-RED): the same
 * interface as the gateway's in-process bridge (gateway/policy/node-red-bridge.ts),
 * over the gateway's HTTP API and WebSocket stream with an admin token.
 *
 * - Policy nodes register their config; shortly after the last registration
 *   (a deploy starts every node within one tick) the whole set is sent as
 *   POST /api/policies. The gateway compiles it, keeps it in its flows.json,
 *   and answers the new version or the problems by node, which each node shows.
 *   An unreachable gateway is retried with a capped backoff.
 * - `stream` is an EventEmitter of 'reading', 'event', 'voucher', fed by
 *   /api/stream once a listener is attached; it reconnects by itself.
 * - `write` is POST /api/devices/:id/points/:point (read back by the gateway).
 */
const { EventEmitter } = require('node:events');
const { globMatcher } = require('./glob');

const POLICY_TYPES = new Set(['m2m-tariff', 'm2m-credit-limit', 'm2m-alarm', 'm2m-offer', 'm2m-control', 'm2m-service-order']);
/** Node-RED's editor fields that mean nothing to the gateway. */
const EDITOR_FIELDS = new Set(['gateway', 'credentials', 'x', 'y', 'g', '_users']);
const RETRY_MIN_MS = 1000;
const RETRY_MAX_MS = 30000;
const REQUEST_TIMEOUT_MS = 10000;

function loadWebSocket() {
  // the package's own dependency; Node 22+ also has a global WebSocket, but without custom headers
  return require('ws');
}

class RemoteBridge extends EventEmitter {
  /** @param {{url: string, token: string, debounceMs?: number, log?: (text: string) => void}} opts */
  constructor(opts) {
    super();
    this.setMaxListeners(0); // one listener per running m2m-* node
    this.url = String(opts.url || '').replace(/\/+$/, '');
    this.token = String(opts.token || '');
    this.debounceMs = opts.debounceMs ?? 200;
    this.log = opts.log || (() => undefined);
    this.policies = new Map();
    this.outcome = { state: 'pending' };
    this.pushTimer = null;
    this.retryMs = RETRY_MIN_MS;
    this.closed = false;
    this.streamEmitter = new EventEmitter();
    this.streamEmitter.setMaxListeners(0);
    this.ws = null;
    this.wsRetryMs = RETRY_MIN_MS;
    this.wsTimer = null;
  }

  /** What is wrong with the connection settings themselves ([] when usable). */
  configProblems() {
    const out = [];
    if (!/^https?:\/\/[^/\s]+/.test(this.url)) out.push('gateway URL: expected http(s)://host:port');
    if (this.token === '') out.push('gateway token: missing (m2m-gateway token --config …)');
    return out;
  }

  /** The gateway checks policy nodes when they are deployed to it; nothing to check here. */
  check() {
    return this.configProblems();
  }

  register(nodeId, config) {
    if (!POLICY_TYPES.has(config.type)) return;
    const clean = {};
    for (const [k, v] of Object.entries(config)) if (!EDITOR_FIELDS.has(k)) clean[k] = v;
    this.policies.set(nodeId, clean);
    this.schedulePush(this.debounceMs);
  }

  unregister(nodeId) {
    // a removed node leaves the set at the next push; a node restarted by a deploy registers again first
    if (this.policies.delete(nodeId)) this.schedulePush(this.debounceMs);
  }

  schedulePush(ms) {
    if (this.closed) return;
    if (this.pushTimer) clearTimeout(this.pushTimer);
    this.outcome = { state: 'pending' };
    this.emit('status');
    this.pushTimer = setTimeout(() => {
      this.pushTimer = null;
      this.push();
    }, ms);
  }

  async push() {
    const nodes = [...this.policies.values()];
    let res;
    try {
      res = await this.request('POST', '/api/policies', { nodes });
    } catch (err) {
      if (this.closed) return;
      this.outcome = { state: 'unreachable', error: err.message };
      this.emit('status');
      this.schedulePushRetry();
      return;
    }
    if (this.closed) return;
    this.retryMs = RETRY_MIN_MS;
    if (res.status === 200 && res.json && typeof res.json.version === 'number') {
      this.outcome = { state: 'active', version: res.json.version };
    } else {
      const error = (res.json && res.json.error) || { code: `HTTP_${res.status}`, message: res.text.slice(0, 300) };
      const problems = new Map();
      for (const p of error.problems || []) {
        if (typeof p.nodeId === 'string') problems.set(p.nodeId, [...(problems.get(p.nodeId) || []), String(p.message)]);
      }
      this.outcome = { state: 'rejected', error, problems };
      this.log(`gateway ${this.url} rejected the policies: ${error.message}`);
    }
    this.emit('status');
  }

  schedulePushRetry() {
    const ms = this.retryMs;
    this.retryMs = Math.min(RETRY_MAX_MS, this.retryMs * 2);
    if (this.pushTimer) clearTimeout(this.pushTimer);
    this.pushTimer = setTimeout(() => {
      this.pushTimer = null;
      this.push();
    }, ms);
  }

  statusOf(nodeId) {
    const o = this.outcome;
    const registered = this.policies.has(nodeId);
    if (o.state === 'unreachable') return { fill: 'red', shape: 'ring', text: `gateway unreachable (${o.error}); retrying` };
    if (!registered) {
      if (this.ws && this.ws.readyState === 1) return { fill: 'green', shape: 'dot', text: `connected to ${this.url}` };
      return { fill: 'grey', shape: 'ring', text: this.url };
    }
    if (o.state === 'pending') return { fill: 'yellow', shape: 'ring', text: 'sending to the gateway' };
    if (o.state === 'active') return { fill: 'green', shape: 'dot', text: `v${o.version} active` };
    const own = o.problems.get(nodeId);
    if (own) return { fill: 'red', shape: 'dot', text: own.join('; ') };
    return { fill: 'red', shape: 'ring', text: `deploy rejected: ${o.error.message}` };
  }

  deviceMatcher(glob) {
    return globMatcher(glob);
  }

  async write(device, point, value) {
    const res = await this.request('POST', `/api/devices/${encodeURIComponent(device)}/points/${encodeURIComponent(point)}`, { value });
    if (res.status === 200 && res.json && 'value' in res.json) return { value: res.json.value };
    const e = (res.json && res.json.error) || { code: `HTTP_${res.status}`, message: res.text.slice(0, 300) };
    const err = new Error(e.message);
    err.code = e.code;
    throw err;
  }

  get stream() {
    this.ensureStream();
    return this.streamEmitter;
  }

  ensureStream() {
    if (this.closed || this.ws || this.wsTimer || this.configProblems().length > 0) return;
    const WebSocket = loadWebSocket();
    const ws = new WebSocket(`${this.url.replace(/^http/, 'ws')}/api/stream`, { headers: { Authorization: `Bearer ${this.token}` } });
    this.ws = ws;
    ws.on('message', (data) => {
      let m;
      try {
        m = JSON.parse(String(data));
      } catch {
        return;
      }
      if (m.type === 'ready') {
        ws.send(JSON.stringify({ type: 'subscribe', topics: ['readings', 'events', 'vouchers'] }));
        this.wsRetryMs = RETRY_MIN_MS;
        this.emit('status');
        return;
      }
      const { type, ...payload } = m;
      if (type === 'reading' || type === 'event' || type === 'voucher') this.streamEmitter.emit(type, payload);
      else if (type === 'error') this.log(`gateway stream: ${m.error && m.error.message}`);
    });
    ws.on('error', (err) => this.log(`gateway stream: ${err.message}`));
    ws.on('close', () => {
      this.ws = null;
      if (this.closed) return;
      this.emit('status');
      const ms = this.wsRetryMs;
      this.wsRetryMs = Math.min(RETRY_MAX_MS, this.wsRetryMs * 2);
      this.wsTimer = setTimeout(() => {
        this.wsTimer = null;
        this.ensureStream();
      }, ms);
    });
  }

  /** One JSON request to the gateway: {status, json, text}; rejects on network errors and timeouts. */
  async request(method, route, body) {
    const ctl = new AbortController();
    const timer = setTimeout(() => ctl.abort(new Error(`no answer within ${REQUEST_TIMEOUT_MS} ms`)), REQUEST_TIMEOUT_MS);
    try {
      const res = await fetch(`${this.url}${route}`, {
        method,
        headers: { Authorization: `Bearer ${this.token}`, 'Content-Type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: ctl.signal,
      });
      const text = await res.text();
      let json;
      try {
        json = text ? JSON.parse(text) : undefined;
      } catch {
        json = undefined;
      }
      return { status: res.status, json, text };
    } catch (err) {
      throw new Error((err.cause && err.cause.message) || err.message, { cause: err });
    } finally {
      clearTimeout(timer);
    }
  }

  async close() {
    this.closed = true;
    if (this.pushTimer) clearTimeout(this.pushTimer);
    if (this.wsTimer) clearTimeout(this.wsTimer);
    this.pushTimer = null;
    this.wsTimer = null;
    if (this.ws) {
      const ws = this.ws;
      await new Promise((resolve) => {
        ws.once('close', resolve);
        ws.terminate();
      });
    }
    this.removeAllListeners();
    this.streamEmitter.removeAllListeners();
  }
}

module.exports = { RemoteBridge, POLICY_TYPES };
