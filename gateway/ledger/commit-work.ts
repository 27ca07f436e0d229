/**
 * One commit applied to the state cache (state-cache.ts), then written back:
 * only the rows that changed (docs/ledger.md, "Storage").
 *
 * Usage (per line and hour) goes into the line's open hour in its device's
 * packed state. An open hour is closed — added to the `hours` row of that
 * hour and to the line's closed totals, and listed in full in the body —
 * when usage of a later hour arrives for the line, and at the first commit
 * whose time is past the hour's end. Usage for an hour earlier than the open
 * one (a late reading) goes straight to its `hours` row. So every quantity
 * and nano lands in exactly one hour, and totals = closed hours + open hour.
 *
 * Vouchers are checked here (seq increases, amount never decreases), events
 * fold into the alarm state. Anything thrown rolls the transaction back; the
 * store then reloads the cache (it is stale from the first change on).
 */
import { HOUR_MS } from './batch-aggregates';
import { foldAlarmEvent } from './alarm-state';
import { DeviceState, type OpenHour } from './device-state';
import { LedgerVoucherError } from './errors';
import type { AmountRow, Statements } from './sqlite-statements';
import type { ChannelRec, DeviceRec, LineRec, StateCache } from './state-cache';
import { accountRowDigest, combineDigests, deviceRowDigest } from './state-digest';
import type { LedgerEvent, LedgerState, LedgerUsage, LedgerVoucher } from './store';

export interface ClosedHour {
  lineId: number;
  hourMs: number;
  quantityMicro: bigint;
  amountNano: bigint;
}

export class CommitWork {
  accruedQtyMicro = 0n;
  accruedNano = 0n;
  readonly newLines: LineRec[] = [];
  private readonly closed = new Map<string, ClosedHour>();
  private readonly dirtyLines = new Set<LineRec>();
  private readonly dirtyChannels = new Set<ChannelRec>();
  private readonly dirtyDevices = new Set<DeviceRec>();
  private readonly dirtyAccounts = new Set<string>();
  private readonly dirtyAlarms = new Set<string>();
  /** The device of the previous usage entry (they come grouped by device). */
  private lastDevice: DeviceRec | null = null;

  constructor(
    private readonly c: StateCache,
    private readonly seq: number,
  ) {}

  private device(name: string): DeviceRec {
    let d = this.c.devices.get(name);
    if (!d) this.c.devices.set(name, (d = { id: this.c.nextDeviceId++, state: new DeviceState(name), digest: Buffer.alloc(0) }));
    return d;
  }

  private line(u: LedgerUsage): LineRec {
    let l = this.c.lines.get(u.device, u.point, u.account, u.payee);
    if (!l) {
      l = {
        id: this.c.nextLineId,
        device: u.device,
        point: u.point,
        account: u.account,
        payee: u.payee,
        closedQty: 0n,
        closedNano: 0n,
        channel: null,
        lastClosedHour: null,
      };
      this.c.addLine(l);
      this.newLines.push(l);
    }
    return l;
  }

  addUsage(u: LedgerUsage): void {
    this.accruedQtyMicro += u.quantityMicro;
    this.accruedNano += u.amountNano;
    const line = this.line(u);
    let dev = this.lastDevice;
    if (dev?.state.device !== u.device) {
      dev = this.lastDevice = this.device(u.device);
      this.dirtyDevices.add(dev);
    }
    const state = dev.state;
    const open = state.openOf(line.id);
    if (line.channel) line.channel.openNano += u.amountNano;
    if (open === null) {
      this.setOpen(state, line, { hourMs: u.hourMs, quantityMicro: u.quantityMicro, amountNano: u.amountNano });
    } else if (open.hourMs === u.hourMs) {
      open.quantityMicro += u.quantityMicro;
      open.amountNano += u.amountNano;
    } else if (u.hourMs > open.hourMs) {
      this.close(line, open);
      this.setOpen(state, line, { hourMs: u.hourMs, quantityMicro: u.quantityMicro, amountNano: u.amountNano });
    } else {
      this.close(line, { hourMs: u.hourMs, quantityMicro: u.quantityMicro, amountNano: u.amountNano }); // a late reading
    }
  }

  private setOpen(state: DeviceState, line: LineRec, o: OpenHour): void {
    state.open.set(line.id, o);
    if (o.hourMs < this.c.minOpenHour) this.c.minOpenHour = o.hourMs;
  }

  /** Move an open (or late) hour of `line` into the closed hours. */
  private close(line: LineRec, h: OpenHour): void {
    const k = `${h.hourMs}:${line.id}`;
    const x = this.closed.get(k);
    if (x) {
      x.quantityMicro += h.quantityMicro;
      x.amountNano += h.amountNano;
    } else {
      this.closed.set(k, { lineId: line.id, hourMs: h.hourMs, quantityMicro: h.quantityMicro, amountNano: h.amountNano });
    }
    line.closedQty += h.quantityMicro;
    line.closedNano += h.amountNano;
    this.dirtyLines.add(line);
    if (line.channel) {
      line.channel.closedNano += h.amountNano;
      line.channel.openNano -= h.amountNano;
      this.dirtyChannels.add(line.channel);
    }
  }

  /**
   * Close every open hour that ended before the hour holding `atMs` — of
   * `only` these devices when given (a group commit; the others close at
   * their group's turn, and minOpenHour stays as it was).
   */
  closeEnded(atMs: number, only?: readonly string[]): void {
    const current = Math.floor(atMs / HOUR_MS) * HOUR_MS;
    if (this.c.minOpenHour >= current) return;
    if (only) {
      for (const name of only) {
        const dev = this.c.devices.get(name);
        if (dev) this.closeDevice(dev, current);
      }
      return;
    }
    let min = Infinity;
    for (const dev of this.c.devices.values()) {
      for (const [lineId, open] of dev.state.open) {
        if (!open) continue;
        if (open.hourMs < current) {
          this.close(this.c.linesById.get(lineId)!, open);
          dev.state.open.set(lineId, null);
          this.dirtyDevices.add(dev);
        } else if (open.hourMs < min) min = open.hourMs;
      }
    }
    this.c.minOpenHour = min;
  }

  private closeDevice(dev: DeviceRec, current: number): void {
    for (const [lineId, open] of dev.state.open) {
      if (!open || open.hourMs >= current) continue;
      this.close(this.c.linesById.get(lineId)!, open);
      dev.state.open.set(lineId, null);
      this.dirtyDevices.add(dev);
    }
  }

  putState(s: LedgerState): void {
    let dev: DeviceRec | null = null;
    for (const x of s.slots) {
      if (dev?.state.device !== x.device) {
        dev = this.device(x.device);
        this.dirtyDevices.add(dev);
      }
      const v = dev.state.slots.get(x.point);
      if (v) {
        v.hasBaseline = x.hasBaseline;
        v.lastRaw = x.lastRaw;
        v.lastTsMs = x.lastTsMs;
        v.heldRaw = x.heldRaw;
        v.heldTsMs = x.heldTsMs;
      } else {
        dev.state.putSlot(x.point, {
          hasBaseline: x.hasBaseline,
          lastRaw: x.lastRaw,
          lastTsMs: x.lastTsMs,
          heldRaw: x.heldRaw,
          heldTsMs: x.heldTsMs,
        });
      }
    }
    dev = null;
    for (const x of s.lines) {
      if (dev?.state.device !== x.device) {
        dev = this.device(x.device);
        this.dirtyDevices.add(dev);
      }
      dev.state.putRemainder(x.point, x.account, x.payee, x.remainder);
    }
    for (const a of s.accounts) {
      this.c.accounts.set(a.account, {
        unsettledNano: a.unsettledNano,
        overLimit: a.overLimit,
        digest: accountRowDigest(a.account, a.unsettledNano, a.overLimit),
      });
      this.dirtyAccounts.add(a.account);
    }
  }

  addEvents(events: readonly LedgerEvent[]): void {
    for (const e of events) {
      const k = foldAlarmEvent(this.c.alarms, e);
      if (k !== null) this.dirtyAlarms.add(k);
    }
  }

  /** Seq must increase and the amount must not decrease on its channel. */
  addVoucher(v: LedgerVoucher, payer: string, payee: string): void {
    const ch = this.c.channel(payer, payee);
    if (v.seq <= ch.lastSeq) throw new LedgerVoucherError(`voucher seq ${v.seq} on ${v.channel} is not above the last seq ${ch.lastSeq}`);
    if (v.amountNano < ch.voucheredNano)
      throw new LedgerVoucherError(`voucher amount ${v.amountNano} on ${v.channel} is below the vouchered ${ch.voucheredNano}`);
    ch.voucheredNano = v.amountNano;
    ch.lastSeq = v.seq;
    this.dirtyChannels.add(ch);
  }

  closedHours(): ClosedHour[] {
    return [...this.closed.values()];
  }

  /** Write every changed row. */
  write(st: Statements): void {
    for (const l of this.newLines) st.insertLine.run(l.id, l.device, l.point, l.account, l.payee, '0', '0');
    const hours: unknown[] = [];
    for (const h of this.closed.values()) {
      // An hour after the line's latest closed one has no row yet: no lookup (the usual hour end).
      const line = this.c.linesById.get(h.lineId)!;
      const last = line.lastClosedHour;
      const old = last !== null && h.hourMs <= last ? (st.getHour.get(h.hourMs, h.lineId) as AmountRow | undefined) : undefined;
      if (last === null || h.hourMs > last) line.lastClosedHour = h.hourMs;
      const q = old ? BigInt(old.quantity_micro) + h.quantityMicro : h.quantityMicro;
      const a = old ? BigInt(old.amount_nano) + h.amountNano : h.amountNano;
      hours.push(h.hourMs, h.lineId, q.toString(), a.toString());
    }
    st.putHours.run(hours);
    const lines: unknown[] = [];
    for (const l of this.dirtyLines)
      lines.push(l.id, l.device, l.point, l.account, l.payee, l.closedQty.toString(), l.closedNano.toString(), l.lastClosedHour);
    st.putLineTotals.run(lines);
    // A channel row holds what is closed and vouchered: written when a line of it closes an hour or a voucher comes.
    for (const ch of this.dirtyChannels) {
      st.putChannel.run(ch.channel, ch.payer, ch.payee, ch.closedNano.toString(), ch.voucheredNano.toString(), ch.lastSeq);
    }
    for (const dev of this.dirtyDevices) {
      const data = dev.state.encode();
      const layout = dev.state.layoutText();
      if (dev.state.layoutChanged || dev.digest.length === 0) {
        st.putLayout.run(dev.id, dev.state.device, layout);
        dev.state.layoutChanged = false;
      }
      st.putDeviceState.run(dev.id, data);
      dev.digest = deviceRowDigest(dev.state.device, layout, data);
    }
    const accounts: unknown[] = [];
    for (const name of this.dirtyAccounts) {
      const a = this.c.accounts.get(name)!;
      accounts.push(name, a.unsettledNano.toString(), a.overLimit ? 1 : 0, this.seq);
    }
    st.putAccounts.run(accounts);
    for (const k of this.dirtyAlarms) {
      const a = this.c.alarms.get(k);
      if (a) st.putAlarm.run(a.policy, a.device, a.point, a.sinceMs);
      else {
        const [policy, device] = k.split('\u0000');
        st.deleteAlarm.run(policy, device);
      }
    }
  }

  /** The state digests after this commit (call after write). */
  digests(): { accounts: string; devices: string } {
    const devices = new Map<string, Buffer>();
    for (const [name, d] of this.c.devices) devices.set(name, d.digest);
    const accounts = new Map<string, Buffer>();
    for (const [name, a] of this.c.accounts) accounts.set(name, a.digest);
    return { accounts: combineDigests(accounts), devices: combineDigests(devices) };
  }
}
