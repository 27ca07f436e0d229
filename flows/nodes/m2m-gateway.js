'use strict';
/**
 * m2m-gateway (config node): how a Node-RED outside the gateway reaches it —
 * the API's URL and an admin token (a credential, never exported with the
 * flows). The m2m-* nodes that name this config node deploy their policies to
 * that gateway (POST /api/policies), receive its stream (m2m-in) and write its
 * points (m2m-write). Inside the gateway's own editor, leave it unset.
 */
const { RemoteBridge } = require('../lib/remote-bridge');

module.exports = function (RED) {
  function M2mGatewayNode(config) {
    RED.nodes.createNode(this, config);
    const node = this;
    node.bridge = new RemoteBridge({
      url: String(config.url || '').trim(),
      token: (node.credentials && node.credentials.token) || '',
      log: (text) => node.warn(text),
    });
    node.on('close', (_removed, done) => {
      node.bridge.close().then(
        () => done(),
        () => done(),
      );
    });
  }
  RED.nodes.registerType('m2m-gateway', M2mGatewayNode, { credentials: { token: { type: 'password' } } });
};
