// A bounded memory of strings, each remembered for an owner (a client connection, as server0
// names it), that one owner cannot flush: when it is full, the oldest of whoever holds the most
// goes. server1 and server2 remember leases dropped here and the sessions whose next lease went
// unused (leases.ts); with one shared insertion-ordered bound, one client's stream of mismatched
// leases pushed out an honest client's entries, and that client's next request then waited for
// a lease notice that would never come, up to its pairing or query timeout.

export class FairMemory {
  /** Value -> owner, in insertion order. */
  #owners = new Map<string, string | undefined>();
  /** Owner -> its values, in insertion order (the first is its oldest). */
  #byOwner = new Map<string | undefined, Set<string>>();

  constructor(private readonly max: number) {
    if (!(Number.isInteger(max) && max >= 1)) throw new RangeError(`FairMemory: max must be a positive integer, got ${max}`);
  }

  get size(): number {
    return this.#owners.size;
  }

  has(value: string): boolean {
    return this.#owners.has(value);
  }

  /** Remembers `value` for `owner` (again: as a fresh entry); beyond `max`, the largest owner's oldest goes. */
  add(value: string, owner: string | undefined): void {
    this.#delete(value);
    this.#owners.set(value, owner);
    let mine = this.#byOwner.get(owner);
    if (!mine) this.#byOwner.set(owner, (mine = new Set()));
    mine.add(value);
    if (this.#owners.size > this.max) this.#delete(this.#oldestOfLargest());
  }

  /** The oldest value of the owner holding the most (among equals, the owner met first). */
  #oldestOfLargest(): string {
    let largest: Set<string> | undefined;
    for (const s of this.#byOwner.values()) if (!largest || s.size > largest.size) largest = s;
    return largest!.values().next().value as string;
  }

  #delete(value: string): void {
    if (!this.#owners.has(value)) return;
    const owner = this.#owners.get(value);
    this.#owners.delete(value);
    const mine = this.#byOwner.get(owner)!;
    mine.delete(value);
    if (!mine.size) this.#byOwner.delete(owner);
  }
}
