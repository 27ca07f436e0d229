'use strict';
/**
 * m2m-in: gateway messages into a flow. Listens to the same emitter as the
 * API's WebSocket stream (readings after decode, events and vouchers after
 * their ledger commit), like one more stream client: the gateway never waits
 * for the flow. The device glob filters readings and device events; vouchers
 * and account-level events carry no device and always pass.
 *
 * Output msg: {topic: 'readings'|'events'|'vouchers', device?, payload} with
 * the payload exactly as on WS /api/stream (money and quantities are decimal strings).
 */
const { attachPolicyNode } = require('../lib/policy-node');

const TOPICS = ['readings', 'events', 'vouchers'];

function topicList(v) {
  const list = Array.isArray(v) ? v : typeof v === 'string' ? v.split(',') : [];
  const out = list.map((s) => String(s).trim()).filter((s) => TOPICS.includes(s));
  return out.length > 0 ? out : TOPICS;
}

module.exports = function (RED) {
  function M2mInNode(config) {
    RED.nodes.createNode(this, config);
    const node = this;
    const { bridge, problems } = attachPolicyNode(RED, node, config);
    if (!bridge || problems.length > 0) return;
    const topics = new Set(topicList(config.topics));
    const glob = typeof config.devices === 'string' && config.devices.trim() ? config.devices.trim() : '*';
    const matches = bridge.deviceMatcher(glob);
    const emit = (topic, device, payload) => {
      try {
        const msg = { topic, payload };
        if (device !== undefined) msg.device = device;
        node.send(msg);
      } catch (err) {
        node.error(err); // a failure inside the flow never reaches the gateway
      }
    };
    const listeners = {
      reading: (m) => {
        if (topics.has('readings') && matches(m.device)) emit('readings', m.device, m);
      },
      event: (e) => {
        if (topics.has('events') && (e.device === undefined || matches(e.device))) emit('events', e.device, e);
      },
      voucher: (v) => {
        if (topics.has('vouchers')) emit('vouchers', undefined, v);
      },
    };
    // Readings only when this node emits them, and only for its devices: the gateway then
    // builds no reading message for a device no flow looks at (EventBus.onReadings).
    const offs = [];
    if (topics.has('readings')) {
      if (typeof bridge.stream.onReadings === 'function') offs.push(bridge.stream.onReadings(listeners.reading, { devices: matches }));
      else {
        bridge.stream.on('reading', listeners.reading);
        offs.push(() => bridge.stream.off('reading', listeners.reading));
      }
    }
    for (const name of ['event', 'voucher']) {
      bridge.stream.on(name, listeners[name]);
      offs.push(() => bridge.stream.off(name, listeners[name]));
    }
    node.on('close', (_removed, done) => {
      for (const off of offs) off();
      done();
    });
  }
  RED.nodes.registerType('m2m-in', M2mInNode);
};
