// The transport interface: tensors and small control messages between named parties.
// Counting lives here, in the base class, so every transport (in-memory now, WebSocket later)
// reports the same bytes and rounds per party and per op.
import { bytesPerElement, type DType } from '../tensor/dtype';
import { sizeOf } from '../tensor/shape';

export type PartyName = string;

/**
 * A tensor that stays in the sender's process, handed to a receiver in the same process instead
 * of its bytes (Transport.sharesTensors): a new handle on the sender's (immutable) memory, made
 * for this message alone. Whoever receives it owns it. Never on a wire.
 */
export interface LocalTensor {
  readonly shape: readonly number[];
  dispose(): void;
}

export type Payload =
  /**
   * `transient`: the sender made `data` for this message alone and never reads it again, so a
   * transport may free it once sent (WsEndpointOptions.release).
   * `local`: the same tensor, for a receiver in the sender's process (Transport.sharesTensors);
   * `data` is then made only when read (a recorder's), as a view of its memory.
   */
  | { kind: 'tensor'; dtype: DType; shape: number[]; data: Uint8Array; transient?: boolean; local?: LocalTensor }
  /** A seed-compressed tensor: the receiver expands the seed itself (16 bytes + 8 per dim on the wire). */
  | { kind: 'seed'; dtype: DType; shape: number[]; seed: Uint8Array; nonce: bigint }
  | { kind: 'control'; data: unknown };

/**
 * A received tensor this process already holds in its own (native) memory: a message the endpoint
 * took out of the wire's buffer as it arrived (WsEndpointOptions.adopt), so that what waits in
 * the mailbox is not a JavaScript buffer. Never sent. Whoever receives it owns it; a message
 * nobody receives is disposed with its session.
 */
export interface HeldPayload {
  kind: 'held';
  dtype: DType;
  shape: number[];
  tensor: { dispose(): void };
}

/** What a receiver gets: a payload as sent, or one held on arrival. */
export type Received = Payload | HeldPayload;

/** Frees what a received payload holds outside the JavaScript heap (a message that will never be read). */
export function disposeReceived(p: Received | undefined): void {
  if (p?.kind === 'held') p.tensor.dispose();
  if (p?.kind === 'tensor') p.local?.dispose();
}

/** Identifies one message: which op instance sent it, and which step of that op. */
export interface Tag {
  /** Unique per op instance within a session; every party derives the same id. */
  opId: number;
  /** The op's name, for per-op accounting (e.g. 'matmul'). */
  op: string;
  /** The protocol step; messages of one step travel in parallel and make one round. */
  step: string;
  /** Distinguishes parallel messages of one step between the same two parties. */
  part?: string;
}

export interface OpTraffic {
  bytes: number;
  messages: number;
  /** Distinct communication steps: the op's round count. */
  rounds: number;
}

export interface TrafficReport {
  total: OpTraffic;
  /** Per op name, summed over all instances of that op. */
  byOp: Record<string, OpTraffic>;
  /** Per sending party. */
  byParty: Record<PartyName, OpTraffic>;
}

export function payloadBytes(p: Payload): number {
  // A local tensor's bytes are counted as a wire would carry them, without making its view.
  if (p.kind === 'tensor') return p.local ? sizeOf(p.shape) * bytesPerElement(p.dtype) : p.data.byteLength;
  if (p.kind === 'seed') return p.seed.byteLength + 8 + 8 * p.shape.length;
  return Buffer.byteLength(JSON.stringify(p.data) ?? '');
}

function tagKey(t: Tag): string {
  return `${t.opId}/${t.op}/${t.step}/${t.part ?? ''}`;
}

export abstract class Transport {
  readonly parties: readonly PartyName[];
  #byOp = new Map<string, { bytes: number; messages: number; steps: Set<string> }>();
  #byParty = new Map<PartyName, { bytes: number; messages: number; steps: Set<string> }>();

  constructor(parties: readonly PartyName[]) {
    if (new Set(parties).size !== parties.length) throw new Error(`duplicate party names in ${JSON.stringify(parties)}`);
    this.parties = [...parties];
  }

  /**
   * Whether the bytes of a `transient` tensor that `from` sends are freed as soon as they are
   * written (WsEndpointOptions.release). Then a sender may hand over a view of the tensor's native
   * memory instead of a copy: the view keeps that memory alive only until the write.
   * Elsewhere a view would hold it until the next garbage collection, so senders copy.
   */
  freesSent(_from: PartyName): boolean {
    return false;
  }

  /**
   * Whether a receiver runs in the sender's process and may take the sender's tensor itself
   * (Payload `local`) instead of a copy of its bytes: the in-process transport's. A transport
   * that carries bytes anywhere (a wire, a recording for later) must not.
   */
  sharesTensors(): boolean {
    return false;
  }

  /** Sends a payload; resolves once the transport has accepted it (not necessarily delivered). */
  async send(from: PartyName, to: PartyName, tag: Tag, payload: Payload): Promise<void> {
    this.requireParty(from, 'sender');
    this.requireParty(to, 'receiver');
    if (from === to) throw new Error(`${from} cannot send to itself (${tag.op}/${tag.step})`);
    const bytes = payloadBytes(payload);
    const step = `${tag.opId}/${tag.step}`;
    for (const [map, key] of [[this.#byOp, tag.op], [this.#byParty, from]] as const) {
      let e = map.get(key);
      if (!e) map.set(key, (e = { bytes: 0, messages: 0, steps: new Set() }));
      e.bytes += bytes;
      e.messages++;
      e.steps.add(step);
    }
    await this.deliver(from, to, tagKey(tag), payload);
  }

  /** Waits for the payload `from` sent to `to` under `tag`. */
  recv(to: PartyName, from: PartyName, tag: Tag): Promise<Received> {
    this.requireParty(from, 'sender');
    this.requireParty(to, 'receiver');
    return this.receive(to, from, tagKey(tag));
  }

  traffic(): TrafficReport {
    const conv = (e: { bytes: number; messages: number; steps: Set<string> }): OpTraffic => ({
      bytes: e.bytes,
      messages: e.messages,
      rounds: e.steps.size,
    });
    const byOp: Record<string, OpTraffic> = {};
    const byParty: Record<string, OpTraffic> = {};
    const allSteps = new Set<string>();
    let bytes = 0;
    let messages = 0;
    for (const [k, e] of this.#byOp) {
      byOp[k] = conv(e);
      bytes += e.bytes;
      messages += e.messages;
      for (const s of e.steps) allSteps.add(`${k}/${s}`);
    }
    for (const [k, e] of this.#byParty) byParty[k] = conv(e);
    return { total: { bytes, messages, rounds: allSteps.size }, byOp, byParty };
  }

  resetTraffic(): void {
    this.#byOp.clear();
    this.#byParty.clear();
  }

  abstract close(): Promise<void>;
  protected abstract deliver(from: PartyName, to: PartyName, key: string, payload: Payload): Promise<void>;
  protected abstract receive(to: PartyName, from: PartyName, key: string): Promise<Received>;

  protected requireParty(name: PartyName, what: string): void {
    if (!this.parties.includes(name)) throw new Error(`unknown ${what} '${name}' (parties: ${this.parties.join(', ')})`);
  }
}
