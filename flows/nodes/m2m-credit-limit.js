'use strict';
/**
 * m2m-credit-limit: a policy node. The metering core watches the account's
 * unsettled amount and raises 'credit-over' / 'credit-under'; with action
 * cutoff the gateway writes the switch point (read-back confirmed) and records
 * 'cutoff' or 'cutoff-failed'. This node re-checks its properties, shows
 * whether its policy version is active, and sends those events, once
 * committed, to its output.
 */
const { attachPolicyNode } = require('../lib/policy-node');

const ACCOUNT_KINDS = new Set(['credit-over', 'credit-under']);
const CUTOFF_KINDS = new Set(['cutoff', 'cutoff-failed']);

module.exports = function (RED) {
  function M2mCreditLimitNode(config) {
    RED.nodes.createNode(this, config);
    const node = this;
    const { bridge, problems } = attachPolicyNode(RED, node, config);
    if (!bridge || problems.length > 0) return;
    const account = String(config.account).trim();
    const onEvent = (e) => {
      const mine =
        (ACCOUNT_KINDS.has(e.kind) && e.account === account) || (CUTOFF_KINDS.has(e.kind) && e.data && e.data.policy === node.id);
      if (!mine) return;
      node.send({ topic: e.kind, account: e.account, device: e.device, point: e.point, payload: e });
    };
    bridge.stream.on('event', onEvent);
    node.on('close', (_removed, done) => {
      bridge.stream.off('event', onEvent);
      done();
    });
  }
  RED.nodes.registerType('m2m-credit-limit', M2mCreditLimitNode);
};
