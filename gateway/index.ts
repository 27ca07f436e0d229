/**
 * The package's entry point (`require('m2m-gateway')`): the daemon to embed
 * in another Node.js program, its config loader, the voucher checks a payee
 * or buyer needs, and the version. The command line is the `m2m-gateway`
 * binary (cli/main.ts); the config's JSON Schema is `m2m-gateway/schema.json`.
 * Loading this module starts nothing.
 */
export { Gateway, type GatewayOptions } from './daemon/gateway';
export { DEFAULT_CONFIG_FILE, loadConfig, parseConfig, type LoadedConfig } from './config/load';
export { ConfigError, type ConfigIssue } from './config/errors';
export { GatewayError, isGatewayError } from './base/errors';
export { checkVoucher, checkVoucherList, type VoucherCheck, type VoucherListCheck } from './settle/voucher-check';
export type { SignedVoucher } from './settle/voucher';
export { createLogger, silentLogger, type Logger } from './base/log';
export { packageVersion } from './base/package-root';
