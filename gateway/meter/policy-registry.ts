/**
 * Stable interning of policy names to the dense indices the metering core
 * uses: accounts (payers), channels (payer > payee) and tariff lines (slot,
 * channel). An index never changes or gets reused while the process lives,
 * so core state keyed by index survives every policy recompile; a registry
 * can be rebuilt from its persisted names (`snapshot` / `restore`).
 */

export interface ChannelInfo {
  /** "payer>payee" */
  id: string;
  payer: string;
  payee: string;
}

export interface LineInfo {
  slot: number;
  channel: number;
}

export interface RegistrySnapshot {
  accounts: string[];
  /** Channel ids "payer>payee", by index. */
  channels: string[];
  lines: LineInfo[];
}

export const CHANNEL_SEPARATOR = '>';

export function channelId(payer: string, payee: string): string {
  return `${payer}${CHANNEL_SEPARATOR}${payee}`;
}

export class PolicyRegistry {
  private readonly accounts: string[] = [];
  private readonly accountIndex = new Map<string, number>();
  private readonly channels: Array<ChannelInfo & { account: number }> = [];
  private readonly channelIndex = new Map<string, number>();
  private readonly lines: LineInfo[] = [];
  private readonly lineIndex = new Map<string, number>();

  /** Index of an account (a payer), interned on first use. */
  account(name: string): number {
    let i = this.accountIndex.get(name);
    if (i === undefined) {
      if (!name) throw new RangeError('account name must not be empty');
      i = this.accounts.length;
      this.accounts.push(name);
      this.accountIndex.set(name, i);
    }
    return i;
  }

  /** Index of the channel payer -> payee, interned on first use (the payer becomes an account). */
  channel(payer: string, payee: string): number {
    const id = channelId(payer, payee);
    let i = this.channelIndex.get(id);
    if (i === undefined) {
      if (payer.includes(CHANNEL_SEPARATOR) || payee.includes(CHANNEL_SEPARATOR) || !payee) {
        throw new RangeError(`invalid channel ${JSON.stringify(id)}: names must be non-empty and free of "${CHANNEL_SEPARATOR}"`);
      }
      const account = this.account(payer);
      i = this.channels.length;
      this.channels.push({ id, payer, payee, account });
      this.channelIndex.set(id, i);
    }
    return i;
  }

  /** Index of the tariff line pricing `slot` on `channel`, interned on first use. */
  line(slot: number, channel: number): number {
    if (!Number.isInteger(slot) || slot < 0) throw new RangeError(`invalid slot ${slot}`);
    if (!Number.isInteger(channel) || channel < 0 || channel >= this.channels.length) {
      throw new RangeError(`unknown channel index ${channel}`);
    }
    const key = `${slot}:${channel}`;
    let i = this.lineIndex.get(key);
    if (i === undefined) {
      i = this.lines.length;
      this.lines.push({ slot, channel });
      this.lineIndex.set(key, i);
    }
    return i;
  }

  /** Look up without interning. */
  findAccount(name: string): number | undefined {
    return this.accountIndex.get(name);
  }
  findChannel(payer: string, payee: string): number | undefined {
    return this.channelIndex.get(channelId(payer, payee));
  }

  accountName(i: number): string {
    const name = this.accounts[i];
    if (name === undefined) throw new RangeError(`unknown account index ${i}`);
    return name;
  }

  channelInfo(i: number): ChannelInfo {
    const c = this.channels[i];
    if (!c) throw new RangeError(`unknown channel index ${i}`);
    return { id: c.id, payer: c.payer, payee: c.payee };
  }

  /** Account index of a channel's payer. */
  channelAccount(i: number): number {
    const c = this.channels[i];
    if (!c) throw new RangeError(`unknown channel index ${i}`);
    return c.account;
  }

  lineInfo(i: number): LineInfo {
    const l = this.lines[i];
    if (!l) throw new RangeError(`unknown line index ${i}`);
    return { slot: l.slot, channel: l.channel };
  }

  get accountCount(): number {
    return this.accounts.length;
  }
  get channelCount(): number {
    return this.channels.length;
  }
  get lineCount(): number {
    return this.lines.length;
  }

  snapshot(): RegistrySnapshot {
    return {
      accounts: [...this.accounts],
      channels: this.channels.map((c) => c.id),
      lines: this.lines.map((l) => ({ ...l })),
    };
  }

  /** Rebuild a registry with exactly the indices of a snapshot. */
  static restore(s: RegistrySnapshot): PolicyRegistry {
    const r = new PolicyRegistry();
    const expect = (got: number, want: number, what: string) => {
      if (got !== want) throw new RangeError(`registry snapshot is inconsistent: ${what} restored at ${got}, expected ${want}`);
    };
    s.accounts.forEach((a, i) => expect(r.account(a), i, `account ${JSON.stringify(a)}`));
    s.channels.forEach((id, i) => {
      const cut = id.indexOf(CHANNEL_SEPARATOR);
      if (cut < 0) throw new RangeError(`registry snapshot: bad channel id ${JSON.stringify(id)}`);
      expect(r.channel(id.slice(0, cut), id.slice(cut + 1)), i, `channel ${JSON.stringify(id)}`);
    });
    expect(r.accountCount, s.accounts.length, 'account count');
    s.lines.forEach((l, i) => expect(r.line(l.slot, l.channel), i, `line ${l.slot}:${l.channel}`));
    return r;
  }
}
