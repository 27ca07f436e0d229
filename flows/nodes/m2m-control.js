'use strict';
/**
 * m2m-control: a policy node. The gateway runs the loop itself
 * (gateway/policy/control-loop.ts): on every reading the setpoint follows the
 * input through the node's table or linear map, with hysteresis and a
 * minimum interval, written with read-back. This node re-checks its
 * properties, shows whether its policy version is active and the last write,
 * and sends its own `control` / `control-failed` events, once committed, to
 * its output.
 */
const { attachPolicyNode, forwardOwnEvents } = require('../lib/policy-node');

const KINDS = new Set(['control', 'control-failed']);

module.exports = function (RED) {
  function M2mControlNode(config) {
    RED.nodes.createNode(this, config);
    const node = this;
    let last = '';
    const { bridge, problems, show } = attachPolicyNode(RED, node, config, () => last);
    if (!bridge || problems.length > 0) return;
    forwardOwnEvents(node, bridge, KINDS, (e) => {
      const d = e.data;
      last =
        e.kind === 'control'
          ? `${e.device}: ${e.point} ${d.to} (${d.input} ${d.inputValue})`
          : `${e.device}: write of ${d.to} failed, retrying (${d.attempt})`;
      show();
    });
  }
  RED.nodes.registerType('m2m-control', M2mControlNode);
};
