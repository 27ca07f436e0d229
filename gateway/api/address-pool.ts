/**
 * A bounded pool of things that cost the server something while they prove
 * nothing yet (connections that have not sent a request, WebSockets that have
 * not authenticated), counted per remote address and in total.
 *
 * Full pools make room instead of refusing: a newcomer evicts the OLDEST
 * member of its own address when that address is at its share, else the
 * oldest member of the address holding the most. A legitimate client proves
 * itself within milliseconds and leaves the pool; whoever holds slots open
 * without doing anything pays for newcomers first, and an address with few
 * members is never displaced by one with many (docs/api.md "Limits").
 */
export class AddressPool<T> {
  /** Every member with its address, oldest first (Map keeps insertion order). */
  private readonly all = new Map<T, string>();
  private readonly byAddress = new Map<string, Set<T>>();

  constructor(
    readonly maxTotal: number,
    readonly maxPerAddress: number,
  ) {
    if (maxTotal < 1 || maxPerAddress < 1) throw new RangeError('pool sizes must be at least 1');
  }

  get size(): number {
    return this.all.size;
  }

  has(item: T): boolean {
    return this.all.has(item);
  }

  countOf(address: string): number {
    return this.byAddress.get(address)?.size ?? 0;
  }

  /** Add `item`; returns the members it displaced (already removed: the caller closes them). */
  admit(item: T, address: string): T[] {
    const evicted: T[] = [];
    const mine = this.byAddress.get(address);
    if (mine && mine.size >= this.maxPerAddress) {
      evicted.push(mine.values().next().value as T);
    } else if (this.all.size >= this.maxTotal) {
      let heaviest: Set<T> | undefined;
      for (const set of this.byAddress.values()) if (!heaviest || set.size > heaviest.size) heaviest = set;
      if (heaviest) evicted.push(heaviest.values().next().value as T);
    }
    for (const e of evicted) this.remove(e);
    this.all.set(item, address);
    let set = this.byAddress.get(address);
    if (!set) this.byAddress.set(address, (set = new Set()));
    set.add(item);
    return evicted;
  }

  /** The oldest member, removed (undefined when empty). */
  shiftOldest(): T | undefined {
    const first = this.all.keys().next();
    if (first.done) return undefined;
    this.remove(first.value);
    return first.value;
  }

  /** Remove `item` when present; true when it was. */
  remove(item: T): boolean {
    const address = this.all.get(item);
    if (address === undefined) return false;
    this.all.delete(item);
    const set = this.byAddress.get(address);
    set?.delete(item);
    if (set && set.size === 0) this.byAddress.delete(address);
    return true;
  }
}
