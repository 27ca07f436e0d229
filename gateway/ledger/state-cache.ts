/**
 * The ledger's current state in memory, as of one head seq: every device's
 * packed core state (decoded), every line with its closed totals, channels,
 * accounts and raised alarms. Commits change it and write back only what
 * changed (commit-work.ts); queries answer from it.
 *
 * It is only trusted at the head it was loaded or last committed at
 * (`seq`): the store reloads it when another connection committed since, and
 * marks it stale (-1) while a commit is under way, so a commit that rolls back
 * leaves a cache that is reloaded before next use.
 */
import type Database from 'better-sqlite3';
import { alarmKey } from './alarm-state';
import { channelId } from './batch-aggregates';
import { DeviceState } from './device-state';
import { accountRowDigest, deviceRowDigest } from './state-digest';
import type { LedgerAlarm } from './store';

export interface ChannelRec {
  channel: string;
  payer: string;
  payee: string;
  /** Accrued in closed hours (the `channels` row). */
  closedNano: bigint;
  /** Accrued in the open hours of its lines (in device state). */
  openNano: bigint;
  voucheredNano: bigint;
  lastSeq: number;
}

export interface LineRec {
  id: number;
  device: string;
  point: string;
  account: string;
  payee: string;
  /** Totals of the closed hours (the `lines` row). */
  closedQty: bigint;
  closedNano: bigint;
  /** The channel it accrues on; null for untariffed consumption (payee ''). */
  channel: ChannelRec | null;
  /** The latest hour closed into `hours` (null: none); an hour after it has no row yet. */
  lastClosedHour: number | null;
}

export interface DeviceRec {
  id: number;
  state: DeviceState;
  /** deviceRowDigest of the stored rows. */
  digest: Buffer;
}

export interface AccountRec {
  unsettledNano: bigint;
  overLimit: boolean;
  digest: Buffer;
}

/**
 * device → account → payee → point → line: found without building a key
 * string. A commit's usage comes grouped by device and channel, so the last
 * (device, account, payee) level is remembered and most lookups are one Map.get.
 */
export class LineIndex {
  private readonly root = new Map<string, Map<string, Map<string, Map<string, LineRec>>>>();
  private last: { device: string; account: string; payee: string; points: Map<string, LineRec> } | null = null;

  private points(device: string, account: string, payee: string, create: boolean): Map<string, LineRec> | undefined {
    const l = this.last;
    if (l && l.device === device && l.account === account && l.payee === payee) return l.points;
    let a = this.root.get(device);
    if (!a && create) this.root.set(device, (a = new Map()));
    let b = a?.get(account);
    if (!b && a && create) a.set(account, (b = new Map()));
    let c = b?.get(payee);
    if (!c && b && create) b.set(payee, (c = new Map()));
    if (c) this.last = { device, account, payee, points: c };
    return c;
  }

  get(device: string, point: string, account: string, payee: string): LineRec | undefined {
    return this.points(device, account, payee, false)?.get(point);
  }

  set(l: LineRec): void {
    this.points(l.device, l.account, l.payee, true)!.set(l.point, l);
  }

  clear(): void {
    this.root.clear();
    this.last = null;
  }
}

export class StateCache {
  /** The head seq this state is at; -1 when it must be reloaded. */
  seq = -1;
  readonly devices = new Map<string, DeviceRec>();
  readonly lines = new LineIndex();
  readonly linesById = new Map<number, LineRec>();
  readonly channels = new Map<string, ChannelRec>();
  readonly accounts = new Map<string, AccountRec>();
  readonly alarms = new Map<string, LedgerAlarm>();
  nextLineId = 1;
  nextDeviceId = 1;
  /** The earliest open hour of any line (Infinity when none): hours before the current one are closed at the next commit. */
  minOpenHour = Infinity;

  clear(): void {
    this.devices.clear();
    this.lines.clear();
    this.linesById.clear();
    this.channels.clear();
    this.accounts.clear();
    this.alarms.clear();
    this.nextLineId = 1;
    this.nextDeviceId = 1;
    this.minOpenHour = Infinity;
    this.seq = -1;
  }

  /** Read everything from the tables (inside a transaction, or where no one else writes). */
  load(db: Database.Database, seq: number): void {
    this.clear();
    type ChannelRow = { channel: string; payer: string; payee: string; accrued_nano: string; vouchered_nano: string; last_seq: number };
    for (const c of db
      .prepare('SELECT channel, payer, payee, accrued_nano, vouchered_nano, last_seq FROM channels')
      .iterate() as Iterable<ChannelRow>) {
      this.channels.set(c.channel, {
        channel: c.channel,
        payer: c.payer,
        payee: c.payee,
        closedNano: BigInt(c.accrued_nano),
        openNano: 0n,
        voucheredNano: BigInt(c.vouchered_nano),
        lastSeq: c.last_seq,
      });
    }
    type LineRow = {
      id: number;
      device: string;
      point: string;
      account: string;
      payee: string;
      quantity_micro: string;
      amount_nano: string;
      last_hour_ms: number | null;
    };
    for (const l of db
      .prepare('SELECT id, device, point, account, payee, quantity_micro, amount_nano, last_hour_ms FROM lines')
      .iterate() as Iterable<LineRow>) {
      this.addLine({
        id: l.id,
        device: l.device,
        point: l.point,
        account: l.account,
        payee: l.payee,
        closedQty: BigInt(l.quantity_micro),
        closedNano: BigInt(l.amount_nano),
        channel: null,
        lastClosedHour: l.last_hour_ms,
      });
    }
    type DeviceRow = { id: number; device: string; layout: string; data: Buffer };
    const rows = db
      .prepare('SELECT l.id, l.device, l.layout, s.data FROM device_layout l JOIN device_state s ON s.id = l.id')
      .iterate() as Iterable<DeviceRow>;
    for (const r of rows) {
      const state = DeviceState.decode(r.device, r.layout, r.data);
      this.devices.set(r.device, { id: r.id, state, digest: deviceRowDigest(r.device, r.layout, r.data) });
      if (r.id >= this.nextDeviceId) this.nextDeviceId = r.id + 1;
      for (const [lineId, open] of state.open) {
        if (!open) continue;
        const line = this.linesById.get(lineId);
        if (!line) throw new RangeError(`device ${r.device} has an open hour on unknown line ${lineId}`);
        if (line.channel) line.channel.openNano += open.amountNano;
        if (open.hourMs < this.minOpenHour) this.minOpenHour = open.hourMs;
      }
    }
    type AccountRow = { account: string; unsettled_nano: string; over_limit: number };
    for (const a of db.prepare('SELECT account, unsettled_nano, over_limit FROM account_state').iterate() as Iterable<AccountRow>) {
      const unsettledNano = BigInt(a.unsettled_nano);
      this.accounts.set(a.account, {
        unsettledNano,
        overLimit: a.over_limit !== 0,
        digest: accountRowDigest(a.account, unsettledNano, a.over_limit !== 0),
      });
    }
    type AlarmRow = { policy: string; device: string; point: string; since_ms: number };
    for (const a of db.prepare('SELECT policy, device, point, since_ms FROM alarm_state').iterate() as Iterable<AlarmRow>) {
      this.alarms.set(alarmKey(a.policy, a.device), { policy: a.policy, device: a.device, point: a.point, sinceMs: a.since_ms });
    }
    this.seq = seq;
  }

  /** The channel payer>payee, created (accrued 0) when new. */
  channel(payer: string, payee: string): ChannelRec {
    const id = channelId(payer, payee);
    let c = this.channels.get(id);
    if (!c) this.channels.set(id, (c = { channel: id, payer, payee, closedNano: 0n, openNano: 0n, voucheredNano: 0n, lastSeq: 0 }));
    return c;
  }

  addLine(l: LineRec): void {
    if (l.payee !== '') l.channel = this.channel(l.account, l.payee);
    this.lines.set(l);
    this.linesById.set(l.id, l);
    if (l.id >= this.nextLineId) this.nextLineId = l.id + 1;
  }
}
