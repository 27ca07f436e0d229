'use strict';
/**
 * m2m-offer: a policy node. Its properties are compiled into the metering core
 * by the gateway on every deploy (docs/architecture.md §5); at run time the node only
 * re-checks them and shows whether its policy version is active.
 */
const { attachPolicyNode } = require('../lib/policy-node');

module.exports = function (RED) {
  function M2mOfferNode(config) {
    RED.nodes.createNode(this, config);
    attachPolicyNode(RED, this, config);
  }
  RED.nodes.registerType('m2m-offer', M2mOfferNode);
};
