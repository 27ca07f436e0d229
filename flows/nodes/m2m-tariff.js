'use strict';
/**
 * m2m-tariff: a policy node. Its properties are compiled into the metering core
 * by the gateway on every deploy (docs/architecture.md §5); at run time the node only
 * re-checks them and shows whether its policy version is active.
 */
const { attachPolicyNode } = require('../lib/policy-node');

module.exports = function (RED) {
  function M2mTariffNode(config) {
    RED.nodes.createNode(this, config);
    attachPolicyNode(RED, this, config);
  }
  RED.nodes.registerType('m2m-tariff', M2mTariffNode);
};
