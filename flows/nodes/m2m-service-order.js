'use strict';
/**
 * m2m-service-order: a policy node. The gateway opens, delivers and closes
 * the orders itself (gateway/policy/service-orders.ts): one durable order per
 * device while the condition holds, delivered until the provider
 * acknowledges, closed when the condition clears, the fee billed on close.
 * This node re-checks its properties, shows whether its policy version is
 * active and the last order's state, and sends its own order events, once
 * committed, to its output.
 */
const { attachPolicyNode, forwardOwnEvents } = require('../lib/policy-node');

const KINDS = new Set(['service-order', 'service-order-ack', 'service-order-closed', 'service-order-undelivered']);
const SAY = {
  'service-order': 'opened',
  'service-order-ack': 'acknowledged',
  'service-order-closed': 'closed',
  'service-order-undelivered': 'not delivered yet, retrying',
};

module.exports = function (RED) {
  function M2mServiceOrderNode(config) {
    RED.nodes.createNode(this, config);
    const node = this;
    let last = '';
    const { bridge, problems, show } = attachPolicyNode(RED, node, config, () => last);
    if (!bridge || problems.length > 0) return;
    forwardOwnEvents(node, bridge, KINDS, (e) => {
      last = `${e.device}: order ${SAY[e.kind]}`;
      show();
    });
  }
  RED.nodes.registerType('m2m-service-order', M2mServiceOrderNode);
};
