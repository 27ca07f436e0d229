/**
 * The config of `m2m-gateway collect` (docs/settlement.md, "Payees
 * collect"): its own small YAML file, apart from the gateway's.
 *
 *   payees: [waterworks]                 # the accounts it collects for
 *   dataDir: ./collect-data              # collect.db (SQLite), token
 *   listen: 127.0.0.1:8090               # GET /api/receivables, /api/vouchers, /api/events
 *   gateways:                            # pull: GET <url>/api/vouchers with a payee token
 *     - { url: http://127.0.0.1:8080, tokenFile: ./gw-1.token, pollMs: 2000 }
 *   mqtt:                                # and/or subscribe
 *     url: mqtt://127.0.0.1:1883
 *     topicPrefix: m2m
 *     group: waterworks                  # MQTT 5 shared subscription $share/<group>/…
 *     clientId: collect-a
 *   payers:                              # pinned payer keys (others are pinned on first use)
 *     purifier-1: "<base64url raw ed25519 public key>"
 *   gapRetryMs: 1000                     # while a channel's seqs have a gap: ask siblings and gateways this often
 *   gapEventMs: 60000                    # a gap open this long raises a `seq-gap` event
 */
import path from 'node:path';
import { z } from 'zod';
import { parse } from 'yaml';
import { ConfigError } from './errors';
import { idSchema } from './schema';

/** Defaults: how often a gap is asked about, and how long it stays open before a `seq-gap` event. */
export const GAP_RETRY_MS = 1000;
export const GAP_EVENT_MS = 60_000;

const listen = z.string().regex(/^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, { error: 'expected host:port like "127.0.0.1:8090"' });

export const collectSchema = z.strictObject({
  payees: z.array(idSchema).min(1),
  dataDir: z.string().min(1).default('./collect-data'),
  listen: listen.default('127.0.0.1:8090'),
  gateways: z
    .array(
      z.strictObject({
        url: z.string().regex(/^https?:\/\/\S+$/, { error: 'expected a gateway base URL like "http://127.0.0.1:8080"' }),
        tokenFile: z.string().min(1),
        pollMs: z.int().min(100).max(3_600_000).default(2000),
      }),
    )
    .default([]),
  mqtt: z
    .strictObject({
      url: z.string().regex(/^(?:mqtts?|wss?|tcp):\/\/\S+$/, { error: 'expected a broker URL like "mqtt://127.0.0.1:1883"' }),
      topicPrefix: z
        .string()
        .regex(/^[A-Za-z0-9_.-]+(?:\/[A-Za-z0-9_.-]+)*$/)
        .default('m2m'),
      group: z
        .string()
        .regex(/^[A-Za-z0-9_.-]{1,64}$/)
        .optional(),
      clientId: z
        .string()
        .regex(/^[^\s+#/]{1,128}$/)
        .optional(),
      username: z.string().min(1).optional(),
      passwordFile: z.string().min(1).optional(),
    })
    .optional(),
  payers: z
    .record(idSchema, z.string().regex(/^[A-Za-z0-9_-]{43}$/, { error: 'expected a base64url raw ed25519 public key (43 characters)' }))
    .default({}),
  gapRetryMs: z.int().min(100).max(3_600_000).default(GAP_RETRY_MS),
  gapEventMs: z.int().min(1000).max(86_400_000).default(GAP_EVENT_MS),
});

export type CollectConfig = z.output<typeof collectSchema> & { configFile: string };
/** What `startCollector` takes: a parsed config, or one built in code (the gap timings then default). */
export type CollectSettings = Omit<CollectConfig, 'gapRetryMs' | 'gapEventMs'> & Partial<Pick<CollectConfig, 'gapRetryMs' | 'gapEventMs'>>;

export function parseCollectConfig(text: string, file: string): CollectConfig {
  let raw: unknown;
  try {
    raw = parse(text, { uniqueKeys: true });
  } catch (err) {
    throw new ConfigError([{ path: '', message: `YAML syntax error: ${(err as Error).message.split('\n')[0]}` }]);
  }
  const r = collectSchema.safeParse(raw);
  if (!r.success) throw new ConfigError(r.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })));
  const base = path.dirname(path.resolve(file));
  const c = r.data;
  if (c.gateways.length === 0 && !c.mqtt)
    throw new ConfigError([{ path: 'gateways', message: 'give gateways to pull from, an mqtt broker, or both' }]);
  return {
    ...c,
    dataDir: path.resolve(base, c.dataDir),
    gateways: c.gateways.map((g) => ({ ...g, url: g.url.replace(/\/+$/, ''), tokenFile: path.resolve(base, g.tokenFile) })),
    ...(c.mqtt ? { mqtt: { ...c.mqtt, ...(c.mqtt.passwordFile ? { passwordFile: path.resolve(base, c.mqtt.passwordFile) } : {}) } } : {}),
    configFile: path.resolve(file),
  };
}
