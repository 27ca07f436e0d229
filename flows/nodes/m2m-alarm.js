'use strict';
/**
 * m2m-alarm: a policy node. The gateway evaluates the thresholds on every
 * reading (exact decimals, with hysteresis) and records 'alarm' and
 * 'alarm-clear' events in the ledger; this node re-checks its properties,
 * shows whether its policy version is active, and sends each of its own
 * events, once committed, to its output (e.g. to order a cartridge).
 */
const { attachPolicyNode, forwardOwnEvents } = require('../lib/policy-node');

const KINDS = new Set(['alarm', 'alarm-clear']);

module.exports = function (RED) {
  function M2mAlarmNode(config) {
    RED.nodes.createNode(this, config);
    const node = this;
    const { bridge, problems } = attachPolicyNode(RED, node, config);
    if (!bridge || problems.length > 0) return;
    forwardOwnEvents(node, bridge, KINDS);
  }
  RED.nodes.registerType('m2m-alarm', M2mAlarmNode);
};
