// In-process transport: one mailbox per (sender, receiver, tag). A tensor travels as a new handle
// on the sender's memory (sharesTensors): tensors are immutable, so sharing is as safe as a copy,
// and copying every message twice (to bytes, and back) was most of an in-process query's time.
import { disposeReceived, type PartyName, type Payload, Transport } from './transport';

interface Slot {
  payload?: Payload;
  waiter?: { resolve: (p: Payload) => void; reject: (e: Error) => void };
}

export class MemoryTransport extends Transport {
  #slots = new Map<string, Slot>();
  #closed = false;

  protected async deliver(from: PartyName, to: PartyName, key: string, payload: Payload): Promise<void> {
    if (this.#closed) throw new Error('transport is closed');
    const id = `${from}>${to}#${key}`;
    const slot = this.#slots.get(id);
    if (slot?.waiter) {
      this.#slots.delete(id);
      slot.waiter.resolve(payload);
      return;
    }
    if (slot?.payload) {
      disposeReceived(payload);
      throw new Error(`duplicate message ${from} -> ${to} ${key}`);
    }
    this.#slots.set(id, { payload });
  }

  protected receive(to: PartyName, from: PartyName, key: string): Promise<Payload> {
    if (this.#closed) return Promise.reject(new Error('transport is closed'));
    const id = `${from}>${to}#${key}`;
    const slot = this.#slots.get(id);
    if (slot?.payload) {
      this.#slots.delete(id);
      return Promise.resolve(slot.payload);
    }
    if (slot?.waiter) return Promise.reject(new Error(`two receivers wait for ${from} -> ${to} ${key}`));
    return new Promise((resolve, reject) => this.#slots.set(id, { waiter: { resolve, reject } }));
  }

  override sharesTensors(): boolean {
    return true;
  }

  /** Messages sent but not yet received: a protocol that leaves some behind has a bug. */
  pending(): number {
    let n = 0;
    for (const s of this.#slots.values()) if (s.payload) n++;
    return n;
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const s of this.#slots.values()) {
      s.waiter?.reject(new Error('transport closed while waiting'));
      disposeReceived(s.payload);
    }
    this.#slots.clear();
  }
}
