/**
 * The configuration schema: the single source of truth for `m2m-gateway.yaml`.
 * TypeScript types are derived from it (z.input / z.output); the JSON Schema
 * for editors is generated from it (json-schema.ts). Checks that span several
 * fields (links referenced by devices, profile merging, Modicon registers,
 * widths) live in resolve.ts; the schema holds what one field can say alone.
 *
 * Point fields carry no zod defaults on purpose: a device point may override a
 * profile point field by field, so "not given" must stay visible until merged.
 */
import { z } from 'zod';
import { isDecimal } from '../base/decimal';
import type { ResolvedPoint } from '../devices/point';

export const CURRENT_VERSION = 1;

export const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const ID_HINT = 'expected 1-64 characters of letters, digits, "_", "." or "-", starting with a letter or digit';
export const idSchema = z.string().regex(ID_PATTERN, { error: ID_HINT });

export const POINT_KINDS = ['counter', 'gauge', 'setpoint', 'switch'] as const;
export const AREAS = ['holding', 'input', 'coil', 'discrete'] as const;
export const WORD_ORDERS = ['ABCD', 'CDAB', 'BADC', 'DCBA'] as const;
export const NUMERIC_TYPES = ['int16', 'uint16', 'int32', 'uint32', 'int64', 'uint64', 'float32', 'float64'] as const;
export const MAX_STRING_LENGTH = 250;
/** `bool`, a numeric type, or `string(N)`; N is range-checked in resolve.ts. */
export const POINT_TYPE_PATTERN = /^(?:bool|u?int(?:16|32|64)|float(?:32|64)|string\(\d+\))$/;
export const POINT_TYPE_HINT = `expected one of bool, ${NUMERIC_TYPES.join(', ')}, string(N)`;
/** An OBIS code as written in DSMR telegrams: `1-0:1.8.1`, `0-1:24.2.1`. */
export const OBIS_PATTERN = /^\d{1,3}-\d{1,3}:\d{1,3}\.\d{1,3}\.\d{1,3}$/;
export const PROFILE_NAME_PATTERN = /^[a-z0-9][a-z0-9_.-]{0,63}$/;
export const CURRENCY_PATTERN = /^[A-Z0-9]{3,12}$/;
const LISTEN_PATTERN = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/;
const TOPIC_PREFIX_PATTERN = /^[A-Za-z0-9_.-]+(?:\/[A-Za-z0-9_.-]+)*$/;
const MQTT_URL_PATTERN = /^(?:mqtts?|wss?|tcp|ssl|tls):\/\/[^\s/]+/;

/** True when `tz` is an IANA time zone this runtime knows (`Europe/Oslo`, `UTC`). */
export function isValidTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

/** A decimal given as a quoted string ("0.1") or a YAML integer (10). */
const decimalSchema = (frac: number) =>
  z
    .union([z.string().meta({ pattern: `^[+-]?\\d+(?:\\.\\d{1,${frac}})?$` }), z.int()], {
      error: `expected a decimal string like "0.1"`,
    })
    .refine((v) => isDecimal(String(v), frac), {
      error: `expected a decimal string with at most ${frac} fraction digits, like "0.1"`,
    });

const timeoutMs = z.int().min(1).max(600_000).default(1000).meta({ description: 'Request timeout in ms (default 1000)' });
const hostSchema = z.string().min(1);
const portSchema = z.int().min(1).max(65535);
const serialFields = {
  path: z.string().min(1).meta({ description: 'Serial device, e.g. /dev/ttyUSB0' }),
  parity: z.enum(['none', 'even', 'odd']).default('none'),
  dataBits: z.literal([7, 8]).default(8),
  stopBits: z.literal([1, 2]).default(1),
  timeoutMs,
};
const baudRate = (dflt: number) => z.int().min(50).max(4_000_000).default(dflt);

export const modbusTcpLinkSchema = z.strictObject({
  id: idSchema,
  type: z.literal('modbus-tcp'),
  host: hostSchema,
  port: portSchema.default(502),
  timeoutMs,
});
export const modbusRtuLinkSchema = z.strictObject({
  id: idSchema,
  type: z.literal('modbus-rtu'),
  baudRate: baudRate(9600),
  ...serialFields,
});
export const rtuOverTcpLinkSchema = z.strictObject({
  id: idSchema,
  type: z.literal('rtu-over-tcp'),
  host: hostSchema,
  port: portSchema,
  timeoutMs,
});
export const dsmrP1LinkSchema = z.strictObject({
  id: idSchema,
  type: z.literal('dsmr-p1'),
  /** DSMR 4/5 meters send at 115200 8N1 (DSMR 2.2 used 9600 7E1). */
  baudRate: baudRate(115200).meta({ description: 'default 115200 (DSMR 4/5)' }),
  ...serialFields,
});
export const LINK_TYPES = ['modbus-tcp', 'modbus-rtu', 'rtu-over-tcp', 'dsmr-p1'] as const;
export const linkSchema = z.discriminatedUnion('type', [modbusTcpLinkSchema, modbusRtuLinkSchema, rtuOverTcpLinkSchema, dsmrP1LinkSchema]);

export const pointSchema = z.strictObject({
  name: idSchema,
  kind: z.enum(POINT_KINDS).optional().meta({ description: 'counter (billed on delta) | gauge | setpoint | switch' }),
  area: z.enum(AREAS).optional(),
  address: z.int().min(0).max(65535).optional().meta({ description: '0-based protocol address' }),
  register: z
    .union([z.string(), z.int()], { error: 'expected a Modicon register string like "40001"' })
    .optional()
    .meta({ description: 'Modicon register instead of area+address: "40001" = holding 0, "30001" = input 0' }),
  type: z
    .string()
    .regex(POINT_TYPE_PATTERN, { error: POINT_TYPE_HINT })
    .optional()
    .meta({ description: 'default bool for coil/discrete, uint16 for registers' }),
  wordOrder: z.enum(WORD_ORDERS).optional().meta({ description: 'default ABCD' }),
  scale: decimalSchema(6).optional().meta({ description: 'value = raw × scale + offset; default "1"' }),
  offset: decimalSchema(6).optional().meta({ description: 'default "0"' }),
  unit: z.string().max(32).optional(),
  writable: z.boolean().optional().meta({ description: 'holding and coil points only; default false' }),
  maxRate: z
    .union([z.literal(''), decimalSchema(6)])
    .optional()
    .meta({ description: 'counters: largest plausible rate in units per second; "" = no limit' }),
  scaleFactorOffset: z.int().min(1).max(124).optional().meta({
    description:
      'SunSpec scale factor: the int16 power of ten (sunssf) this many registers after the point; value = raw × scale × 10^sf + offset',
  }),
  obis: z
    .string()
    .regex(OBIS_PATTERN, { error: 'expected an OBIS code like "1-0:1.8.1"' })
    .optional()
    .meta({ description: 'dsmr-p1 points: the OBIS code of the telegram line' }),
});

export const deviceSchema = z.strictObject({
  id: idSchema,
  link: z.string().min(1).meta({ description: 'id of a link in `links`' }),
  unitId: z.int().min(0).max(247).optional().meta({ description: 'Modbus unit id 1..247 (not for dsmr-p1 devices)' }),
  pollMs: z.int().min(10).max(86_400_000).optional().meta({ description: 'default 1000 (not for dsmr-p1 devices)' }),
  account: idSchema.optional().meta({ description: 'payer account; default: the device id' }),
  profile: z.string().regex(PROFILE_NAME_PATTERN, { error: 'expected a profile name like "eastron-sdm630"' }).default('generic'),
  points: z.array(pointSchema).default([]),
  maxRegisters: z.int().min(1).max(125).default(125).meta({ description: 'largest register read per request' }),
  maxBits: z.int().min(1).max(2000).default(2000).meta({ description: 'largest coil/discrete read per request' }),
});

const gatewayObject = z.strictObject({
  id: idSchema.optional().meta({ description: "default: this machine's hostname" }),
  dataDir: z.string().min(1).default('./m2m-data').meta({ description: 'relative to the config file' }),
  currency: z.string().regex(CURRENCY_PATTERN, { error: 'expected 3-12 characters A-Z or 0-9, like "NOK"' }).default('NOK'),
  timezone: z
    .string()
    .refine(isValidTimeZone, { error: 'expected an IANA time zone like "Europe/Oslo"' })
    .optional()
    .meta({ description: "default: the system's time zone" }),
  profilesDir: z.string().min(1).optional().meta({ description: 'extra device profiles (*.json), relative to the config file' }),
  readingsRetentionDays: z
    .int()
    .min(1)
    .max(36_500)
    .optional()
    .meta({ description: 'deprecated and ignored: the ledger no longer keeps raw readings (see ledger.history)', deprecated: true }),
});
export const gatewaySchema = gatewayObject.prefault({});

/** "1m", "30s", "1h", "500ms", or a number of milliseconds. */
export const DURATION_PATTERN = /^(\d+)(ms|s|m|h)$/;
/** "200MB", "1GB", "512KiB", "100000B", or a number of bytes. */
export const SIZE_PATTERN = /^(\d+)(B|KB|MB|GB|KiB|MiB|GiB)$/;
const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const SIZE_UNITS: Record<string, number> = { B: 1, KB: 1e3, MB: 1e6, GB: 1e9, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3 };

/** Milliseconds of a duration as the schema accepts it. */
export function durationMs(v: string | number): number {
  if (typeof v === 'number') return v;
  const m = DURATION_PATTERN.exec(v.trim())!;
  return Number(m[1]) * DURATION_UNITS[m[2]!]!;
}

/** Bytes of a size as the schema accepts it. */
export function sizeBytes(v: string | number): number {
  if (typeof v === 'number') return v;
  const m = SIZE_PATTERN.exec(v.trim())!;
  return Number(m[1]) * SIZE_UNITS[m[2]!]!;
}

const durationSchema = (min: number, max: number) =>
  z
    .union([
      z.string().regex(DURATION_PATTERN, { error: 'expected a duration like "1m", "30s", "1h" or a number of ms' }),
      z.int().min(min).max(max),
    ])
    .refine((v) => (typeof v === 'string' && !DURATION_PATTERN.test(v)) || (durationMs(v) >= min && durationMs(v) <= max), {
      error: `expected a duration between ${min / 1000} s and ${max / 3_600_000} h`,
    });
const sizeSchema = z
  .union([
    z.string().regex(SIZE_PATTERN, { error: 'expected a size like "200MB", "1GB" or a number of bytes' }),
    z.int().min(1e6).max(1e12),
  ])
  .refine((v) => (typeof v === 'string' && !SIZE_PATTERN.test(v)) || (sizeBytes(v) >= 1e6 && sizeBytes(v) <= 1e12), {
    error: 'expected a size between 1MB and 1000GB',
  });

export const historySchema = z.strictObject({
  every: durationSchema(1000, 86_400_000)
    .default('1m')
    .meta({ description: 'one sample per point per interval: last, min, max, mean (default "1m")' }),
  maxBytes: sizeSchema.default('200MB').meta({ description: 'the oldest intervals are dropped beyond this size (default "200MB")' }),
});

/** The ledger (docs/ledger.md): commit cadence, checkpoints, reading history. */
const ledgerObject = z.strictObject({
  commitMs: z
    .union([z.literal('auto'), z.int().min(100).max(3_600_000)])
    .default('auto')
    .meta({
      description:
        'commit cadence in ms, or "auto" (default): 1 ms per counter point, between 5000 and 30000; events, vouchers and credit crossings commit at once',
    }),
  checkpointMs: z.int().min(1000).max(86_400_000).default(60_000).meta({
    description: 'sign the ledger head with the gateway key this often (ms, default 60000): GET /api/checkpoints, MQTT …/checkpoints',
  }),
  history: z
    .union([z.literal('off'), z.literal(false), historySchema])
    .default('off')
    .meta({ description: 'raw reading history: off (default), or { every: 1m, maxBytes: 200MB } for downsampled readings' }),
});
export const ledgerSchema = ledgerObject.prefault({});

const httpObject = z.strictObject({
  listen: z
    .string()
    .regex(LISTEN_PATTERN, { error: 'expected host:port like "127.0.0.1:8080"' })
    .refine((s) => !LISTEN_PATTERN.test(s) || Number(s.slice(s.lastIndexOf(':') + 1)) <= 65535, {
      error: 'port must be 0..65535',
    })
    .default('127.0.0.1:8080'),
  editor: z
    .boolean()
    .default(true)
    .meta({ description: 'serve the Node-RED policy editor at /admin; when false flows.json is still compiled at start' }),
});
export const httpSchema = httpObject.prefault({});

/** What the policy editor may do beyond the m2m-* nodes (docs/policies.md "Who may edit policies"). */
const policyObject = z.strictObject({
  hostNodes: z
    .boolean()
    .default(false)
    .meta({
      description:
        "load Node-RED's host-access nodes (exec, function, file, watch, tcp, udp, http, websocket, mqtt): " +
        "whoever has the editor password can then run code and reach files and the network as the gateway's user",
    }),
});
export const policySchema = policyObject.prefault({});

export const mqttSchema = z.strictObject({
  url: z.string().regex(MQTT_URL_PATTERN, { error: 'expected a broker URL like "mqtt://127.0.0.1:1883"' }),
  topicPrefix: z.string().regex(TOPIC_PREFIX_PATTERN, { error: 'expected topic levels without wildcards, like "m2m"' }).default('m2m'),
  clientId: z
    .string()
    .regex(/^[^\s+#/]{1,128}$/, { error: 'expected 1-128 characters without spaces, "/", "+" or "#"' })
    .optional()
    .meta({ description: 'MQTT client id; default m2m-<gateway id>' }),
  username: z.string().min(1).max(256).optional(),
  passwordFile: z
    .string()
    .min(1)
    .optional()
    .meta({ description: 'file holding the MQTT password (mode 0600), relative to the config file; needs username' }),
  maxQueued: z
    .int()
    .min(1)
    .max(10_000_000)
    .default(100_000)
    .meta({ description: 'outbox bound in messages; when full the oldest are dropped (default 100000)' }),
  qos: z.literal(1, { error: 'only QoS 1 is supported' }).default(1).meta({ description: 'fixed at 1' }),
});

/** Signed cumulative vouchers (docs/architecture.md §6); absent = no vouchers are issued. */
export const settlementSchema = z.strictObject({
  threshold: decimalSchema(9)
    .refine((v) => !isDecimal(String(v), 9) || (/[1-9]/.test(String(v)) && !String(v).trim().startsWith('-')), { error: 'must be above 0' })
    .default('1')
    .meta({ description: 'issue a voucher once a channel\'s unvouchered amount reaches this (currency units; default "1")' }),
  intervalS: z
    .int()
    .min(1)
    .max(31_536_000)
    .default(3600)
    .meta({ description: 'and at the end of every interval, for each channel with anything unvouchered (seconds; default 3600)' }),
  payees: z
    .record(
      idSchema,
      z.strictObject({
        deposit: decimalSchema(9).optional().meta({
          description: 'cap of every channel from an account of this gateway to this payee: vouchers never exceed it (currency units)',
        }),
        receivables: z
          .string()
          .regex(/^https?:\/\/[^\s]+$/, { error: 'expected the payee collector\'s base URL like "http://127.0.0.1:8090"' })
          .optional()
          .meta({
            description:
              "the payee's `m2m-gateway collect` API: what it has received lowers what is owed, and resyncs seqs after a restore",
          }),
        tokenFile: z
          .string()
          .min(1)
          .optional()
          .meta({ description: "file holding the bearer token for the payee's collector (relative to the config file)" }),
        pollMs: z
          .int()
          .min(100)
          .max(3_600_000)
          .default(5000)
          .meta({ description: "how often the payee's receivables are asked (ms, default 5000)" }),
      }),
    )
    .default({})
    .meta({ description: 'per payee: channel cap (deposit) and where its collector reports what it received (docs/settlement.md)' }),
});

export const configSchema = z
  .strictObject({
    version: z.literal(CURRENT_VERSION),
    gateway: gatewaySchema,
    http: httpSchema,
    ledger: ledgerSchema,
    policy: policySchema,
    mqtt: mqttSchema.optional(),
    settlement: settlementSchema.optional(),
    links: z.array(linkSchema).default([]),
    devices: z.array(deviceSchema).default([]),
  })
  .meta({ title: 'm2m-gateway configuration' });

/** Every key the schema knows, for "did you mean" hints on unknown keys. */
export const KNOWN_KEYS: readonly string[] = [
  ...new Set(
    [
      configSchema,
      gatewayObject,
      httpObject,
      ledgerObject,
      historySchema,
      policyObject,
      mqttSchema,
      settlementSchema,
      deviceSchema,
      pointSchema,
      ...linkSchema.options,
    ].flatMap((o) => Object.keys(o.shape)),
  ),
];

/** What a user may write (defaults optional). */
export type ConfigInput = z.input<typeof configSchema>;
export type ConfigData = z.output<typeof configSchema>;
export type GatewaySection = z.output<typeof gatewaySchema>;
export type LedgerSection = z.output<typeof ledgerSchema>;
export type MqttConfig = z.output<typeof mqttSchema>;
export type SettlementSection = z.output<typeof settlementSchema>;
export type LinkConfig = z.output<typeof linkSchema>;
export type LinkType = LinkConfig['type'];
export type ModbusTcpLinkConfig = z.output<typeof modbusTcpLinkSchema>;
export type ModbusRtuLinkConfig = z.output<typeof modbusRtuLinkSchema>;
export type RtuOverTcpLinkConfig = z.output<typeof rtuOverTcpLinkSchema>;
export type DsmrP1LinkConfig = z.output<typeof dsmrP1LinkSchema>;
export type DeviceSection = z.output<typeof deviceSchema>;
export type PointConfig = z.output<typeof pointSchema>;

/** What the gateway knows of one payee (settlement.payees.<id>); paths absolute, deposit a decimal string. */
export interface PayeeSettlement {
  deposit?: string;
  receivables?: string;
  tokenFile?: string;
  pollMs: number;
}

/** A resolved point of a device; dsmr-p1 points carry their OBIS code (area/address are then unused: "input"/0). */
export interface DevicePoint extends ResolvedPoint {
  obis?: string;
}

export type LoadedDevice = Omit<DeviceSection, 'unitId' | 'pollMs' | 'account' | 'points'> & {
  /** 0 for dsmr-p1 devices (not polled). */
  unitId: number;
  /** 0 for dsmr-p1 devices (the meter pushes telegrams). */
  pollMs: number;
  account: string;
  /** Type of the link the device sits on. */
  linkType: LinkType;
  points: DevicePoint[];
};

/** The loaded configuration: migrated, validated, defaults filled, paths absolute. */
export interface LoadedConfig {
  version: typeof CURRENT_VERSION;
  gateway: Required<Omit<GatewaySection, 'profilesDir' | 'readingsRetentionDays'>> & Pick<GatewaySection, 'profilesDir'>;
  http: { host: string; port: number; editor: boolean };
  /** Durations in ms, sizes in bytes; history null when off. */
  ledger: { commitMs: number; checkpointMs: number; history: { everyMs: number; maxBytes: number } | null };
  policy: { hostNodes: boolean };
  /** clientId filled in (m2m-<gateway id>), passwordFile absolute. */
  mqtt?: MqttConfig & { clientId: string };
  /** Present when the config has a `settlement` section (vouchers are issued); threshold as a decimal string. */
  settlement?: { threshold: string; intervalS: number; payees?: Record<string, PayeeSettlement> };
  links: LinkConfig[];
  devices: LoadedDevice[];
  /** Absolute path of the file it was loaded from; "" when parsed from text. */
  configFile: string;
}
