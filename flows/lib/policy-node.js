'use strict';
/**
 * What every m2m-* node does at run time. It finds its bridge to the gateway:
 *
 * - inside the gateway's embedded editor, the daemon hands Node-RED a bridge
 *   as `settings.m2mGateway` (gateway/policy/node-red-bridge.ts);
 * - in a user's own Node-RED, the node names an `m2m-gateway` config node,
 *   whose RemoteBridge (lib/remote-bridge.js) talks to the gateway's API.
 *
 * The bridge re-checks a node's properties, tells the node whether the last
 * deploy was compiled into the metering core, and gives m2m-in/m2m-write the
 * stream and the point writer. Policies run inside the core and the daemon,
 * these nodes only mirror them; m2m-in listens like any stream client, never
 * in the metering path.
 */

const NO_BRIDGE_TEXT = 'no gateway: choose an m2m-gateway config node';
const NO_BRIDGE = { fill: 'red', shape: 'ring', text: NO_BRIDGE_TEXT };

/** The gateway config node the node names, else the embedded gateway's bridge, else null. */
function findBridge(RED, config) {
  if (config.gateway) {
    const gw = RED.nodes.getNode(config.gateway);
    return (gw && gw.bridge) || null;
  }
  return RED.settings.m2mGateway || null;
}

/** The status text Node-RED shows under a node is one line: keep it readable. */
function oneLine(text, max) {
  const s = String(text).replace(/\s+/g, ' ').trim();
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

/**
 * Wire a node to the gateway: check its config, show the policy status now and
 * after every compile, and detach on close. `detail()` (optional) adds a live
 * line to a green status (e.g. the last control write). Returns {bridge,
 * problems, show}; bridge is null when the node runs outside m2m-gateway.
 */
function attachPolicyNode(RED, node, config, detail) {
  const bridge = findBridge(RED, config);
  if (!bridge) {
    node.status(NO_BRIDGE);
    node.on('close', (_removed, done) => done());
    return { bridge: null, problems: [NO_BRIDGE_TEXT] };
  }
  let problems;
  try {
    problems = bridge.check(config);
  } catch (err) {
    problems = [`cannot check the node: ${err.message}`];
  }
  const show = () => {
    if (problems.length > 0) node.status({ fill: 'red', shape: 'dot', text: oneLine(problems.join('; '), 300) });
    else {
      const s = bridge.statusOf(node.id);
      const extra = s.fill === 'green' && detail ? detail() : '';
      node.status({ fill: s.fill, shape: s.shape, text: oneLine(extra ? `${s.text} · ${extra}` : s.text, 300) });
    }
  };
  if (typeof bridge.register === 'function' && problems.length === 0) bridge.register(node.id, config);
  show();
  bridge.on('status', show);
  node.on('close', (_removed, done) => {
    bridge.off('status', show);
    if (typeof bridge.unregister === 'function') bridge.unregister(node.id);
    done();
  });
  return { bridge, problems, show };
}

/**
 * Send each committed event of this node whose kind is in `kinds` to its
 * output (msg.topic = kind), calling `seen(e)` first; detaches on close.
 */
function forwardOwnEvents(node, bridge, kinds, seen) {
  const onEvent = (e) => {
    if (!kinds.has(e.kind) || !e.data || e.data.policy !== node.id) return;
    if (seen) seen(e);
    node.send({ topic: e.kind, device: e.device, point: e.point, payload: e });
  };
  bridge.stream.on('event', onEvent);
  node.on('close', (_removed, done) => {
    bridge.stream.off('event', onEvent);
    done();
  });
}

module.exports = { attachPolicyNode, forwardOwnEvents, oneLine };
