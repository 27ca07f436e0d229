/**
 * The uplink outbox: the one contract suite (outbox-contract.ts) against the
 * SQLite and the in-memory implementation, then what only the disk outbox
 * promises: order, content and the seq counter survive a reopen; the file is
 * 0600 in WAL mode; an unknown schema is refused. Also the uplink's wire
 * payload and topics, and the password-file check.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { readPasswordFile } from '../../gateway/uplink/credentials';
import { MqttPasswordFileError, OutboxOpenError } from '../../gateway/uplink/errors';
import { UplinkTopics, eventMessage, readingMessage, voucherMessage, wirePayload } from '../../gateway/uplink/messages';
import { MemoryOutbox, type Outbox } from '../../gateway/uplink/outbox';
import { OUTBOX_FILE, SqliteOutbox } from '../../gateway/uplink/sqlite-outbox';
import { outboxContract } from './outbox-contract';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'm2m-outbox-'));
let n = 0;
const freshDir = () => path.join(root, `d${++n}`);
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

outboxContract('SqliteOutbox', { open: (opts) => SqliteOutbox.open(freshDir(), opts) });
outboxContract('MemoryOutbox', { open: (opts) => new MemoryOutbox(opts) });

describe('SqliteOutbox on disk', () => {
  it('keeps entries, their order and the seq counter across a reopen', () => {
    const dir = freshDir();
    let o: Outbox = SqliteOutbox.open(dir);
    for (let i = 1; i <= 20; i++) o.put(`m2m/gw/readings/d${i % 3}`, JSON.stringify({ i }));
    for (const s of [1, 2, 3, 7]) o.del(s);
    o.close();
    o = SqliteOutbox.open(dir);
    expect(o.count()).toBe(16);
    expect(o.lastSeq()).toBe(20);
    const entries = o.peek(100);
    expect(entries.map((e) => e.seq)).toEqual([4, 5, 6, ...Array.from({ length: 13 }, (_, k) => k + 8)]);
    expect(entries[0]).toEqual({ seq: 4, topic: 'm2m/gw/readings/d1', body: '{"i":4}' });
    expect(o.put('t', '{}').seq).toBe(21);
    o.close();
  });

  it('never repeats a seq after a reopen of an emptied outbox', () => {
    const dir = freshDir();
    let o: Outbox = SqliteOutbox.open(dir);
    o.put('t', '{}');
    o.put('t', '{}');
    o.del(1);
    o.del(2);
    o.close();
    o = SqliteOutbox.open(dir);
    expect(o.count()).toBe(0);
    expect(o.put('t', '{}').seq).toBe(3);
    o.close();
  });

  it('applies a smaller bound given at reopen on the next put', () => {
    const dir = freshDir();
    let o: Outbox = SqliteOutbox.open(dir, { maxQueued: 10 });
    for (let i = 0; i < 10; i++) o.put('t', '{}');
    o.close();
    o = SqliteOutbox.open(dir, { maxQueued: 4 });
    expect(o.put('t', '{}')).toEqual({ seq: 11, dropped: 7 });
    expect(o.peek(10).map((e) => e.seq)).toEqual([8, 9, 10, 11]);
    o.close();
  });

  it('is <dataDir>/outbox.db, mode 0600, in WAL mode; the data dir is created 0700', () => {
    const dir = path.join(freshDir(), 'nested');
    const o = SqliteOutbox.open(dir);
    o.put('t', '{}');
    const file = path.join(dir, OUTBOX_FILE);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(fs.statSync(dir).mode & 0o777).toBe(0o700);
    o.close();
    const db = new Database(file, { readonly: true });
    expect(String(db.pragma('journal_mode', { simple: true }))).toBe('wal');
    db.close();
  });

  it('refuses a database with an unknown schema version, and an unusable path', () => {
    const dir = freshDir();
    fs.mkdirSync(dir);
    const db = new Database(path.join(dir, OUTBOX_FILE));
    db.pragma('user_version = 9');
    db.close();
    expect(() => SqliteOutbox.open(dir)).toThrow(OutboxOpenError);
    expect(() => SqliteOutbox.open(dir)).toThrow(/schema version 9/);
    const file = path.join(freshDir());
    fs.writeFileSync(file, 'not a directory');
    expect(() => SqliteOutbox.open(file)).toThrow(OutboxOpenError);
  });
});

describe('uplink messages', () => {
  const t = new UplinkTopics('m2m/site', 'gw-1');

  it('builds the topics of docs/architecture.md §8', () => {
    expect(t.readings('purifier-1')).toBe('m2m/site/gw-1/readings/purifier-1');
    expect(t.events).toBe('m2m/site/gw-1/events');
    expect(t.vouchers('purifier-1>waterworks')).toBe('m2m/site/gw-1/vouchers/purifier-1>waterworks');
    expect(t.status).toBe('m2m/site/gw-1/status');
    expect(new UplinkTopics('m2m', 'a/b+#').readings('x/y')).toBe('m2m/a_b__/readings/x_y');
  });

  it('puts seq first in the payload and keeps decimal strings as they are', () => {
    const r = readingMessage(t, 'gw-1', {
      device: 'p',
      at: '2026-01-01T00:00:00.000Z',
      points: { water: { value: '12.345000', unit: 'L' }, valve: { value: true, unit: '' } },
    });
    const wire = wirePayload({ seq: 42, ...r });
    expect(wire.startsWith('{"seq":42,"type":"reading"')).toBe(true);
    expect(JSON.parse(wire)).toEqual({
      seq: 42,
      type: 'reading',
      gateway: 'gw-1',
      device: 'p',
      at: '2026-01-01T00:00:00.000Z',
      points: { water: { value: '12.345000', unit: 'L' }, valve: { value: true, unit: '' } },
    });
    const e = eventMessage(t, 'gw-1', {
      id: '7',
      kind: 'credit-over',
      at: '2026-01-01T00:00:00.000Z',
      account: 'a',
      data: { unsettled: '10.000000000' },
    });
    expect(JSON.parse(wirePayload({ seq: 1, ...e }))).toEqual({
      seq: 1,
      type: 'event',
      gateway: 'gw-1',
      id: '7',
      kind: 'credit-over',
      at: '2026-01-01T00:00:00.000Z',
      account: 'a',
      data: { unsettled: '10.000000000' },
    });
    expect(wirePayload({ seq: 3, topic: 'x', body: '{}' })).toBe('{"seq":3}');
  });

  it('nests a voucher unchanged (it has its own seq and signature)', () => {
    const v = {
      v: 1 as const,
      channel: 'a>b',
      payer: 'a',
      payee: 'b',
      payerKey: 'k',
      seq: 17,
      amount: '12.345000000',
      currency: 'NOK',
      ledgerHead: 'h',
      issuedAt: '2026-01-01T00:00:00.000Z',
      sig: 's',
    };
    const m = voucherMessage(t, 'gw-1', v);
    expect(m.topic).toBe('m2m/site/gw-1/vouchers/a>b');
    expect(JSON.parse(wirePayload({ seq: 5, ...m }))).toEqual({ seq: 5, type: 'voucher', gateway: 'gw-1', voucher: v });
  });
});

describe('mqtt.passwordFile', () => {
  it('reads a 0600 file without its trailing newline', () => {
    const f = path.join(root, 'pw-ok');
    fs.writeFileSync(f, 's3cret\n', { mode: 0o600 });
    expect(readPasswordFile(f)).toBe('s3cret');
  });

  it('refuses a file other users can read, an empty one and a missing one', () => {
    const f = path.join(root, 'pw-open');
    fs.writeFileSync(f, 's3cret\n');
    fs.chmodSync(f, 0o644);
    expect(() => readPasswordFile(f)).toThrow(MqttPasswordFileError);
    expect(() => readPasswordFile(f)).toThrow(/mode 0644.*chmod 600/);
    const e = path.join(root, 'pw-empty');
    fs.writeFileSync(e, '', { mode: 0o600 });
    expect(() => readPasswordFile(e)).toThrow(/is empty/);
    expect(() => readPasswordFile(path.join(root, 'nope'))).toThrow(MqttPasswordFileError);
  });
});
