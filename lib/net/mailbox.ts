// Where received messages wait for their recv(), and recv()s wait for their messages: one slot
// per (sender, session, key). Sessions can be aborted (every waiter fails with the reason, late
// messages are dropped) and ended (leftovers freed), so a failed query never leaks or hangs.
// Every message held is counted against its sender (bytes and messages), so the endpoint can
// bound what each peer makes this process hold, and show it.
import { disposeReceived, type PartyName, type Received } from './transport';

interface Slot {
  payload?: Received;
  /** Who sent the payload and what it costs (for the accounting). */
  from?: PartyName;
  bytes?: number;
  waiter?: { resolve: (p: Received) => void; reject: (e: Error) => void };
}

export interface Held {
  bytes: number;
  messages: number;
}

/** Sessions remembered as finished, so stragglers are dropped instead of piling up. */
const FINISHED_MEMORY = 4096;
/** How an aborted session's reason starts in `#finished` (an ended one's is 'ended'). */
const ABORTED = 'aborted: ';
/** Ended session prefixes remembered (endPrefix: a retired setup's pool sessions; a few a day). */
const ENDED_PREFIXES = 32;

/** A second message under one (sender, session, key) while the first still waits to be received. */
export class DuplicateMessage extends Error {}

export class Mailbox {
  // session -> (peer|key -> slot): aborting or ending a session touches only its own slots.
  #sessions = new Map<string, Map<string, Slot>>();
  #finished = new Map<string, string>(); // session -> why (insertion order = oldest first)
  /**
   * Finished sessions are remembered per group (`groupOf`), each group with its own FINISHED_MEMORY:
   * clients opening and abandoning sessions quickly must not push out the memory of the servers'
   * own sessions (whose stragglers would then be kept).
   */
  #finishedIn = new Map<string, Set<string>>();
  /**
   * Prefixes whose every session has ended, those not begun yet included (endPrefix): a retired
   * setup's pool sessions, whose stragglers (what server2 was still shipping for an index no query
   * took) would otherwise be held for good, since nothing ends a session it never heard of.
   */
  #endedPrefixes: string[] = [];

  constructor(private readonly groupOf: (session: string) => string = () => '') {}
  #held = new Map<PartyName, Held>(); // sender -> what its undelivered messages hold
  #total: Held = { bytes: 0, messages: 0 };
  #waiting = 0;

  #slots(session: string, create: boolean): Map<string, Slot> | undefined {
    let s = this.#sessions.get(session);
    if (!s && create) this.#sessions.set(session, (s = new Map()));
    return s;
  }

  #count(peer: PartyName, bytes: number, sign: 1 | -1): void {
    let h = this.#held.get(peer);
    if (!h) this.#held.set(peer, (h = { bytes: 0, messages: 0 }));
    h.bytes += sign * bytes;
    h.messages += sign;
    this.#total.bytes += sign * bytes;
    this.#total.messages += sign;
    if (h.messages === 0) this.#held.delete(peer);
  }

  /** Forgets a slot (its payload, if any, is no longer held; a waiter is no longer waiting). */
  #release(slot: Slot): void {
    if (slot.payload) this.#count(slot.from!, slot.bytes!, -1);
    if (slot.waiter) this.#waiting--;
  }

  /** Removes a used slot, and the session's map with its last slot. */
  #drop(session: string, slots: Map<string, Slot>, id: string): void {
    const slot = slots.get(id);
    if (slot) this.#release(slot);
    slots.delete(id);
    if (slots.size === 0) this.#sessions.delete(session);
  }

  /**
   * Files a payload costing `bytes` (its wire size); throws on a duplicate (a protocol error of
   * the sender). Dropped when the session has finished. A payload dropped here, or left when its
   * session finishes, is disposed (a held tensor's memory is freed then, not at some later GC).
   */
  deliver(peer: PartyName, session: string, key: string, payload: Received, bytes = 0): void {
    if (this.finished(session)) return disposeReceived(payload); // the session was aborted or ended: drop stragglers
    const slots = this.#slots(session, true)!;
    const id = `${peer}|${key}`;
    const slot = slots.get(id);
    if (slot?.waiter) {
      this.#drop(session, slots, id);
      slot.waiter.resolve(payload);
    } else if (slot?.payload) {
      disposeReceived(payload);
      throw new DuplicateMessage(`duplicate message ${key} in session ${session}`);
    } else {
      slots.set(id, { payload, from: peer, bytes });
      this.#count(peer, bytes, 1);
    }
  }

  receive(peer: PartyName, session: string, key: string): Promise<Received> {
    const why = this.#finished.get(session) ?? (this.#prefixEnded(session) ? 'ended' : undefined);
    if (why !== undefined) return Promise.reject(new Error(`session ${session} was ${why}`));
    const slots = this.#slots(session, true)!;
    const id = `${peer}|${key}`;
    const slot = slots.get(id);
    if (slot?.payload) {
      this.#drop(session, slots, id);
      return Promise.resolve(slot.payload);
    }
    if (slot?.waiter) return Promise.reject(new Error(`message ${key} from ${peer} is already awaited in session ${session}`));
    this.#waiting++;
    return new Promise((resolve, reject) => slots.set(id, { waiter: { resolve, reject } }));
  }

  /** Fails every waiter that expects something from `peer` (its connection is gone). */
  failPeer(peer: PartyName, why: Error): void {
    for (const [session, slots] of this.#sessions) {
      for (const [id, slot] of slots)
        if (id.startsWith(`${peer}|`) && slot.waiter) {
          this.#release(slot);
          slots.delete(id);
          slot.waiter.reject(why);
        }
      if (slots.size === 0) this.#sessions.delete(session);
    }
  }

  /** Fails the session's waiters with `reason`, frees what arrived, and drops later arrivals. */
  abort(session: string, reason: string): void {
    this.#finish(session, `${ABORTED}${reason}`);
  }

  /** Frees whatever the session left behind (normally nothing) and drops later arrivals. */
  end(session: string): void {
    this.#finish(session, 'ended');
  }

  /** Undelivered messages and bytes in the sessions named `prefix...` (and waiters there). */
  heldWithPrefix(prefix: string): Held & { waiting: number } {
    const out = { bytes: 0, messages: 0, waiting: 0 };
    for (const [s, slots] of this.#sessions)
      if (s.startsWith(prefix))
        for (const slot of slots.values()) {
          if (slot.payload) {
            out.messages++;
            out.bytes += slot.bytes ?? 0;
          }
          if (slot.waiter) out.waiting++;
        }
    return out;
  }

  /** The messages that recv()s in the sessions named `prefix...` still wait for: sender, key, session. */
  awaitedWithPrefix(prefix: string): { peer: PartyName; key: string; session: string }[] {
    const out: { peer: PartyName; key: string; session: string }[] = [];
    for (const [session, slots] of this.#sessions)
      if (session.startsWith(prefix))
        for (const [id, slot] of slots)
          if (slot.waiter) {
            const bar = id.indexOf('|');
            out.push({ peer: id.slice(0, bar), key: id.slice(bar + 1), session });
          }
    return out;
  }

  /** The sessions named `prefix...` that hold something now. */
  sessionsWithPrefix(prefix: string): string[] {
    return [...this.#sessions.keys()].filter((s) => s.startsWith(prefix));
  }

  /**
   * Every session named `prefix...` is over, those to come included: later arrivals there are
   * dropped and recv()s fail. Returns the sessions that held something (the caller ends each).
   */
  endPrefix(prefix: string): string[] {
    if (!this.#endedPrefixes.includes(prefix)) {
      this.#endedPrefixes.push(prefix);
      if (this.#endedPrefixes.length > ENDED_PREFIXES) this.#endedPrefixes.shift();
    }
    return this.sessionsWithPrefix(prefix);
  }

  /** Whether the session was aborted or ended (its stragglers are dropped). */
  finished(session: string): boolean {
    return this.#finished.has(session) || this.#prefixEnded(session);
  }

  #prefixEnded(session: string): boolean {
    for (const p of this.#endedPrefixes) if (session.startsWith(p)) return true;
    return false;
  }

  /** The reason a session was aborted with; undefined while it runs, once it ended normally, or once forgotten. */
  abortReason(session: string): string | undefined {
    const why = this.#finished.get(session);
    return why?.startsWith(ABORTED) ? why.slice(ABORTED.length) : undefined;
  }

  #finish(session: string, why: string): void {
    const slots = this.#sessions.get(session);
    this.#sessions.delete(session);
    if (!this.#finished.has(session)) {
      this.#finished.set(session, why);
      const g = this.groupOf(session);
      let group = this.#finishedIn.get(g);
      if (!group) this.#finishedIn.set(g, (group = new Set()));
      group.add(session);
      if (group.size > FINISHED_MEMORY) {
        const oldest = group.values().next().value as string;
        group.delete(oldest);
        this.#finished.delete(oldest);
      }
    }
    for (const slot of slots?.values() ?? []) {
      this.#release(slot);
      disposeReceived(slot.payload);
      slot.waiter?.reject(new Error(`session ${session} was ${why}`));
    }
  }

  /** Fails everything (the endpoint is closing). */
  close(why: Error): void {
    for (const slots of this.#sessions.values())
      for (const s of slots.values()) {
        this.#release(s);
        disposeReceived(s.payload);
        s.waiter?.reject(why);
      }
    this.#sessions.clear();
  }

  /** What `peer`'s undelivered messages hold. */
  heldFrom(peer: PartyName): Held {
    return this.#held.get(peer) ?? { bytes: 0, messages: 0 };
  }

  /** Every sender with something held, and what. */
  holders(): IterableIterator<[PartyName, Held]> {
    return this.#held.entries();
  }

  /** Undelivered messages and bytes, and waiting recv()s. */
  totals(): Held & { waiting: number } {
    return { ...this.#total, waiting: this.#waiting };
  }

  /** Messages and waiters held, for leak checks. */
  get pending(): number {
    return this.#total.messages + this.#waiting;
  }
}
