'use strict';
/**
 * m2m-write: writes msg.payload to the node's writable point through the
 * gateway (the device's own bus queue, read back to confirm), like
 * POST /api/devices/:id/points/:point. A number or a decimal string for
 * registers, true/false for coils.
 *
 * Output 1 (written): msg.payload = the confirmed value, msg.device,
 * msg.point, msg.requested. Output 2 (failed): the input msg with
 * msg.error = {code, message}. done() is always called; writes still
 * running at close are awaited, their result is not sent on.
 */
const { attachPolicyNode, oneLine } = require('../lib/policy-node');

function writeValue(v) {
  if (typeof v === 'boolean' || typeof v === 'string') return v;
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  if (typeof v === 'bigint') return v.toString();
  return undefined;
}

module.exports = function (RED) {
  function M2mWriteNode(config) {
    RED.nodes.createNode(this, config);
    const node = this;
    const { bridge, problems } = attachPolicyNode(RED, node, config);
    const device = String(config.device || '').trim();
    const point = String(config.point || '').trim();
    const running = new Set();
    let closed = false;

    const fail = (msg, send, done, code, message) => {
      msg.error = { code, message };
      if (!closed) {
        node.status({ fill: 'red', shape: 'dot', text: oneLine(`${point}: ${message}`, 200) });
        send([null, msg]);
      }
      done();
    };

    node.on('input', (msg, send, done) => {
      if (!bridge || problems.length > 0) return fail(msg, send, done, 'GW_ERR_POLICY', problems.join('; '));
      const value = writeValue(msg.payload);
      if (value === undefined) {
        return fail(msg, send, done, 'GW_ERR_INVALID_VALUE', 'msg.payload must be a number, a decimal string or a boolean');
      }
      node.status({ fill: 'blue', shape: 'ring', text: `writing ${oneLine(value, 40)}` });
      const p = Promise.resolve()
        .then(() => bridge.write(device, point, value))
        .then(
          (r) => {
            if (closed) return done();
            msg.payload = r.value;
            msg.device = device;
            msg.point = point;
            msg.requested = value;
            node.status({ fill: 'green', shape: 'dot', text: oneLine(`${point} = ${r.value}`, 60) });
            send([msg, null]);
            done();
          },
          (err) => fail(msg, send, done, (err && err.code) || 'GW_ERR_WRITE_FAILED', (err && err.message) || String(err)),
        )
        .finally(() => running.delete(p));
      running.add(p);
    });

    node.on('close', (_removed, done) => {
      closed = true;
      Promise.allSettled([...running]).then(() => done());
    });
  }
  RED.nodes.registerType('m2m-write', M2mWriteNode);
};
