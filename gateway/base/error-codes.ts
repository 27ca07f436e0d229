/**
 * Every error code the gateway raises, declared once, as data (as fastify's
 * lib/errors.js does). A code is the contract: scripts, dashboards and the
 * HTTP API match on it, never on message text. Each code has one row in
 * docs/errors.md, under the section of its `area`; test/unit/error-codes.test.ts
 * checks the table and that page list the same codes.
 *
 * The coded classes stay in their areas (`<area>/errors.ts`); their
 * constructors pass a key of this table to GatewayError, so a code that is
 * not declared here does not compile. An HTTP error's status is declared
 * here too, and ApiError takes it from the table.
 */

/** The section of docs/errors.md a code is listed under. */
export type ErrorArea =
  'daemon' | 'base' | 'config' | 'cli' | 'policy' | 'core' | 'ledger' | 'links' | 'p1' | 'devices' | 'poll' | 'api' | 'settle' | 'uplink';

export interface ErrorCodeInfo {
  readonly area: ErrorArea;
  /** The HTTP status the API answers with (API errors only). */
  readonly status?: number;
  /** One line: when the code is raised. docs/errors.md says more, and what to do. */
  readonly summary: string;
}

export const ERROR_CODES = {
  // daemon
  GW_ERR_START: { area: 'daemon', summary: 'the daemon could not start (a port taken, the editor failing to load)' },

  // ground floor (gateway/base)
  GW_ERR_DECIMAL: { area: 'base', summary: 'a string that should be an exact decimal is not one, or has too many fraction digits' },
  GW_ERR_METRICS: { area: 'base', summary: 'a metric declared wrongly or updated with the wrong labels' },

  // configuration
  GW_ERR_CONFIG: { area: 'config', summary: 'the config file is missing, not YAML, or breaks the schema' },
  GW_ERR_PROFILE: { area: 'config', summary: 'a device profile is unknown or malformed' },

  // command line
  GW_ERR_USAGE: { area: 'cli', summary: 'a command-line option is missing, malformed, out of range or conflicts with another' },

  // policies
  GW_ERR_POLICY: { area: 'policy', summary: 'the flows file cannot be read or its m2m-* nodes are invalid' },

  // metering core
  GW_ERR_CORE_LOAD: { area: 'core', summary: 'build/core.wasm is missing, does not instantiate, or does not match this loader' },
  GW_ERR_CORE_CONFIG: { area: 'core', summary: 'a slot configuration that cannot be metered' },
  GW_ERR_CORE_POLICY: { area: 'core', summary: 'policy tables that do not fit the core; the previous tables stay active' },
  GW_ERR_CORE_STATE: { area: 'core', summary: 'a restored core state that is malformed or out of range' },
  GW_ERR_CORE_SETTLE: { area: 'core', summary: 'a settlement of an unknown account, a negative amount, or more than is unsettled' },

  // ledger
  GW_ERR_LEDGER_OPEN: { area: 'ledger', summary: 'the ledger file could not be opened or created' },
  GW_ERR_LEDGER_SCHEMA: { area: 'ledger', summary: 'the database has a schema this build does not know' },
  GW_ERR_LEDGER_BATCH: { area: 'ledger', summary: 'a batch with a malformed field; nothing was committed' },
  GW_ERR_LEDGER_VOUCHER: {
    area: 'ledger',
    summary: 'a voucher whose seq does not increase or whose amount decreases; nothing was committed',
  },
  GW_ERR_LEDGER_POLICY: { area: 'ledger', summary: 'a policy version that does not increase; nothing was committed' },
  GW_ERR_LEDGER_QUERY: { area: 'ledger', summary: 'a ledger query with a malformed filter' },
  GW_ERR_LEDGER_CLOSED: { area: 'ledger', summary: 'a call on a closed ledger' },
  GW_ERR_LEDGER_DAMAGED: { area: 'ledger', summary: 'a row names a batch body that does not hold what it should' },

  // links: Modbus
  GW_ERR_MODBUS_EXCEPTION: { area: 'links', summary: 'the device answered with a Modbus exception' },
  GW_ERR_MODBUS_TIMEOUT: { area: 'links', summary: "no answer within the link's timeoutMs" },
  GW_ERR_MODBUS_PROTOCOL: { area: 'links', summary: 'an answer that is not a valid reply (CRC, length, function)' },
  GW_ERR_MODBUS_REQUEST: { area: 'links', summary: 'a request Modbus cannot carry' },
  GW_ERR_LINK_DOWN: { area: 'links', summary: 'the link is not connected, or dropped mid-request' },
  GW_ERR_LINK_OPTIONS: { area: 'links', summary: 'a link built with options it cannot use (serial framing, baud)' },

  // links: DSMR P1
  GW_ERR_P1_PORT: { area: 'p1', summary: 'the P1 serial port could not be opened' },
  GW_ERR_P1_OPTIONS: { area: 'p1', summary: 'bad options given to the P1 parser or link' },
  GW_ERR_P1_TELEGRAM: { area: 'p1', summary: 'text handed to the telegram parser is not a P1 telegram' },
  GW_ERR_P1_CLOSED: { area: 'p1', summary: 'the P1 link was closed while it was still opening' },

  // devices: decoding and encoding
  GW_ERR_DECODE: { area: 'devices', summary: 'registers could not be turned into a value' },
  GW_ERR_COUNTER_TYPE: { area: 'devices', summary: 'a counter point whose type cannot be metered' },
  GW_ERR_ENCODE_VALUE: { area: 'devices', summary: 'a value to write is not of a usable form for the point' },
  GW_ERR_ENCODE_RANGE: { area: 'devices', summary: "a value to write falls outside what the point's type can hold" },
  GW_ERR_ENCODE_INEXACT: { area: 'devices', summary: 'a value to write the point would not store exactly' },

  // polling and writes
  GW_ERR_POINT_NOT_FOUND: { area: 'poll', summary: 'a write names a point the device does not have' },
  GW_ERR_POLL_NOT_WRITABLE: { area: 'poll', summary: 'the poller was asked to write a point it cannot write' },
  GW_ERR_WRITE_READBACK: { area: 'poll', summary: 'the value read back after a write is not the value written' },
  GW_ERR_QUEUE_CLOSED: { area: 'poll', summary: 'the bus queue was closed while the transaction waited' },
  GW_ERR_QUEUE_FULL: { area: 'poll', summary: 'the bus queue held its bound of waiting transactions: the request was shed' },
  GW_ERR_POLLER_STOPPED: { area: 'poll', summary: 'the poller is stopped (or stopping)' },

  // HTTP API
  GW_ERR_BAD_REQUEST: { area: 'api', status: 400, summary: 'a query parameter, path parameter, body field or stream message is wrong' },
  GW_ERR_MALFORMED_JSON: { area: 'api', status: 400, summary: 'the request body is not valid JSON' },
  GW_ERR_INVALID_VALUE: { area: 'api', status: 400, summary: 'the value to write does not fit the point' },
  GW_ERR_UNAUTHORIZED: { area: 'api', status: 401, summary: 'no bearer token, or a token nobody knows' },
  GW_ERR_FORBIDDEN: { area: 'api', status: 403, summary: 'a valid token whose principal may not do this' },
  GW_ERR_NOT_FOUND: { area: 'api', status: 404, summary: 'no route at this path' },
  GW_ERR_UNKNOWN_DEVICE: { area: 'api', status: 404, summary: 'a device id the gateway does not know' },
  GW_ERR_UNKNOWN_POINT: { area: 'api', status: 404, summary: 'a point the device does not have' },
  GW_ERR_METHOD_NOT_ALLOWED: { area: 'api', status: 405, summary: 'the path exists, the method does not' },
  GW_ERR_POINT_NOT_WRITABLE: { area: 'api', status: 409, summary: 'the point exists but is not writable: true' },
  GW_ERR_BODY_TOO_LARGE: { area: 'api', status: 413, summary: 'the request body passed the limit' },
  GW_ERR_UNSUPPORTED_MEDIA_TYPE: { area: 'api', status: 415, summary: 'a body that is not application/json' },
  GW_ERR_UPGRADE_REQUIRED: { area: 'api', status: 426, summary: 'a plain GET on the WebSocket route' },
  GW_ERR_EDITOR_OWNS_FLOWS: { area: 'api', status: 409, summary: 'policies pushed over the API while the embedded editor owns flows.json' },
  GW_ERR_POLICY_REJECTED: { area: 'api', status: 400, summary: 'a pushed policy set does not compile; the previous policies stay active' },
  GW_ERR_INTERNAL: { area: 'api', status: 500, summary: 'anything unexpected; the message carries only the request id' },
  GW_ERR_WRITE_FAILED: { area: 'api', status: 502, summary: 'the device did not confirm a write' },
  GW_ERR_UNAVAILABLE: { area: 'api', status: 503, summary: 'the gateway cannot answer now' },
  GW_ERR_SECRETS: { area: 'api', summary: 'the secrets or buyer tokens file is unreadable, malformed or unsafe (at start-up)' },

  // settlement
  GW_ERR_SETTLE_KEY: { area: 'settle', summary: 'a payer key file cannot be created, read, parsed, or made private' },
  GW_ERR_SETTLE_VOUCHER: { area: 'settle', summary: 'a voucher cannot be issued: a field would break the voucher format' },

  // MQTT uplink
  GW_ERR_OUTBOX_OPEN: { area: 'uplink', summary: 'the on-disk outbox cannot be created or opened' },
  GW_ERR_OUTBOX_CLOSED: { area: 'uplink', summary: 'the outbox was used after close()' },
  GW_ERR_MQTT_PASSWORD_FILE: { area: 'uplink', summary: 'mqtt.passwordFile cannot be read, is empty, or is readable by others' },
} as const satisfies Readonly<Record<`GW_ERR_${string}`, ErrorCodeInfo>>;

/** A code of the table: `GW_ERR_CONFIG`, `GW_ERR_MODBUS_TIMEOUT`, … */
export type ErrorCode = keyof typeof ERROR_CODES;

/** The codes that carry an HTTP status (the API's errors). */
export type HttpErrorCode = {
  [C in ErrorCode]: (typeof ERROR_CODES)[C] extends { readonly status: number } ? C : never;
}[ErrorCode];

/** The codes of one area, in table order. */
export function errorCodesOf(area: ErrorArea): ErrorCode[] {
  return (Object.keys(ERROR_CODES) as ErrorCode[]).filter((c) => ERROR_CODES[c].area === area);
}

/** The HTTP status declared for an API error code. */
export function httpStatusOf(code: HttpErrorCode): number {
  return ERROR_CODES[code].status;
}
