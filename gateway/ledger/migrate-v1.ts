/**
 * Ledger schema 1 → 2 (docs/ledger.md, "Migration"): a ledger written by a
 * release that kept every reading moves, on the first start of this one, to
 * the ledger that keeps money, without losing a nano.
 *
 * Before anything changes, the v1 file is copied to `ledger.db.v1.bak` (its
 * WAL checkpointed into it first, so the copy is complete). Then, in the
 * migration's transaction:
 *  - totals → `lines` (one id per (device, point, account, payee), the totals
 *    as closed totals); hourly → `hours` (every v1 hour is a closed hour);
 *  - slot_state and line_state → the packed per-device state;
 *  - channels, vouchers (seqs included), events, policies, account_state and
 *    the chain (`batches`, v1 bodies and hashes) stay as they are;
 *  - the raised alarms are folded from every alarm event of the ledger;
 *  - the raw readings are dropped (the backup keeps them), and v1 tables go;
 *  - a commit is chained after the last v1 batch: its body declares every
 *    line and records the state digests, the last v1 seq and the readings
 *    dropped, with a 'ledger-migrated' event.
 * A kill -9 during the migration rolls it back; the next start runs it again.
 */
import * as fs from 'node:fs';
import type Database from 'better-sqlite3';
import { foldAlarmEvent } from './alarm-state';
import { DeviceState } from './device-state';
import { LedgerSchemaError } from './errors';
import { GENESIS_HASH, chainHash, encodeBody, packText, toBody } from './hash-chain';
import { tableDigests } from './state-digest';
import type { LedgerAlarm, LedgerEvent } from './store';

type Db = Database.Database;

export const V1_BACKUP_SUFFIX = '.v1.bak';

/** Copy a schema-1 ledger file to `<file>.v1.bak` (complete: the WAL is checkpointed first). */
export function backupV1(db: Db, file: string): void {
  const r = db.pragma('wal_checkpoint(TRUNCATE)', { simple: false }) as Array<{ busy: number }>;
  const backup = `${file}${V1_BACKUP_SUFFIX}`;
  const tmp = `${backup}.tmp`;
  if (r[0]?.busy) {
    fs.rmSync(tmp, { force: true });
    db.prepare('VACUUM INTO ?').run(tmp); // another connection holds the WAL: a consistent copy anyway
  } else {
    fs.copyFileSync(file, tmp);
  }
  fs.chmodSync(tmp, 0o600);
  const fd = fs.openSync(tmp, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, backup);
}

/** Inside the version 2 migration's transaction, after its tables exist. */
export function migrateV1Data(db: Db, nowMs: number): void {
  db.exec(`INSERT INTO lines (device, point, account, payee, quantity_micro, amount_nano, last_hour_ms)
           SELECT t.device, t.point, t.account, t.payee, t.quantity_micro, t.amount_nano,
             (SELECT max(h.hour_ms) FROM hourly h WHERE h.device = t.device AND h.point = t.point AND h.account = t.account AND h.payee = t.payee)
           FROM totals t ORDER BY t.device, t.point, t.account, t.payee`);
  db.exec(`INSERT INTO hours (hour_ms, line_id, quantity_micro, amount_nano)
           SELECT h.hour_ms, l.id, h.quantity_micro, h.amount_nano FROM hourly h
           JOIN lines l ON l.device = h.device AND l.point = h.point AND l.account = h.account AND l.payee = h.payee`);
  const counts = db.prepare('SELECT (SELECT count(*) FROM hourly) AS v1, (SELECT count(*) FROM hours) AS v2').get() as {
    v1: number;
    v2: number;
  };
  if (counts.v1 !== counts.v2)
    throw new LedgerSchemaError(
      `v1 ledger: ${counts.v1 - counts.v2} hourly rows have no totals row; not migrated (fix or restore, then start again)`,
    );

  const devices = new Map<string, DeviceState>();
  const device = (name: string): DeviceState => {
    let d = devices.get(name);
    if (!d) devices.set(name, (d = new DeviceState(name)));
    return d;
  };
  type SlotRow = {
    device: string;
    point: string;
    has_baseline: number;
    last_raw: string;
    last_ts_ms: number;
    held_raw: string | null;
    held_ts_ms: number;
  };
  for (const s of db.prepare('SELECT * FROM slot_state ORDER BY device, point').iterate() as Iterable<SlotRow>) {
    device(s.device).putSlot(s.point, {
      hasBaseline: s.has_baseline !== 0,
      lastRaw: BigInt(s.last_raw),
      lastTsMs: s.last_ts_ms,
      heldRaw: s.held_raw === null ? null : BigInt(s.held_raw),
      heldTsMs: s.held_ts_ms,
    });
  }
  type LineRow = { device: string; point: string; account: string; payee: string; remainder: string };
  for (const l of db.prepare('SELECT * FROM line_state ORDER BY device, point, account, payee').iterate() as Iterable<LineRow>) {
    device(l.device).putRemainder(l.point, l.account, l.payee, BigInt(l.remainder));
  }
  let id = 0;
  const putLayout = db.prepare('INSERT INTO device_layout (id, device, layout) VALUES (?, ?, ?)');
  const putState = db.prepare('INSERT INTO device_state (id, data) VALUES (?, ?)');
  for (const d of devices.values()) {
    id++;
    putLayout.run(id, d.device, d.layoutText());
    putState.run(id, d.encode());
  }

  const alarms = new Map<string, LedgerAlarm>();
  type EventRow = { kind: string; device: string | null; point: string | null; ts_ms: number; detail: string };
  for (const e of db
    .prepare("SELECT kind, device, point, ts_ms, detail FROM events WHERE kind IN ('alarm', 'alarm-clear') ORDER BY id")
    .iterate() as Iterable<EventRow>) {
    foldAlarmEvent(alarms, {
      kind: e.kind,
      device: e.device ?? undefined,
      point: e.point ?? undefined,
      tsMs: e.ts_ms,
      detail: JSON.parse(e.detail) as LedgerEvent['detail'],
    });
  }
  const putAlarm = db.prepare('INSERT INTO alarm_state (policy, device, point, since_ms) VALUES (?, ?, ?, ?)');
  for (const a of alarms.values()) putAlarm.run(a.policy, a.device, a.point, a.sinceMs);

  const dropped = (db.prepare('SELECT coalesce(sum(n_readings), 0) AS n FROM batch_readings').get() as { n: number }).n;
  db.exec(`DROP TABLE batch_readings; DROP TABLE totals; DROP TABLE hourly; DROP TABLE slot_state; DROP TABLE line_state;
           DROP INDEX batches_by_time; DELETE FROM meta WHERE key = 'readings_pruned_through_seq';`);

  const head = db.prepare('SELECT seq, hash FROM batches ORDER BY seq DESC LIMIT 1').get() as { seq: number; hash: string } | undefined;
  if (!head) return; // a new ledger: nothing to record
  const seq = head.seq + 1;
  const policyVersion = (db.prepare('SELECT coalesce(max(version), 0) AS v FROM policies').get() as { v: number }).v;
  const migration = { fromSchema: 1, readingsDropped: dropped, throughSeq: head.seq };
  const event: LedgerEvent = { kind: 'ledger-migrated', tsMs: nowMs, detail: { ...migration, backup: `ledger.db${V1_BACKUP_SUFFIX}` } };
  type Line = { id: number; device: string; point: string; account: string; payee: string };
  const body = encodeBody(
    toBody(seq, {
      atMs: nowMs,
      policyVersion,
      accruedQtyMicro: 0n,
      accruedNano: 0n,
      metered: { readings: 0, deltas: 0, accruals: 0 },
      closed: [],
      lines: db.prepare('SELECT id, device, point, account, payee FROM lines ORDER BY id').all() as Line[],
      events: [event],
      vouchers: [],
      policy: null,
      state: tableDigests(db),
      migration,
    }),
  );
  const hash = chainHash(head.hash ?? GENESIS_HASH, body);
  db.prepare('INSERT INTO events (batch_seq, kind, device, point, account, ts_ms, detail) VALUES (?, ?, NULL, NULL, NULL, ?, ?)').run(
    seq,
    event.kind,
    event.tsMs,
    JSON.stringify(event.detail),
  );
  db.prepare('INSERT INTO batches VALUES (?, ?, ?, 0, 0, 0, 1, 0, ?, ?, ?)').run(
    seq,
    nowMs,
    policyVersion,
    head.hash,
    hash,
    packText(body),
  );
}
