// One party's view of a session: its name and role, its messages, and its correlated randomness.
// Protocol functions take a Party and run on every party (SPMD): the same code runs in the
// in-process cluster and in one server process per party.
import type { Backend } from '../backend/backends';
import { getBackend } from '../backend/backends';
import { disposeReceived, type PartyName, type Payload, type Received, type Tag, type Transport } from '../net/transport';
import { DEFAULT_PROTOCOL, type FssGate, type ProtocolName, type SecureNNDrelu } from './protocols';
import { RingTensor } from '../tensor/ring_tensor';
import type { DType } from '../tensor/dtype';
import { sameShape } from '../tensor/shape';

export const SERVER0 = 'server0';
export const SERVER1 = 'server1';
export const SERVER2 = 'server2';
export const SERVERS: readonly PartyName[] = [SERVER0, SERVER1, SERVER2];

export type Role = 0 | 1 | 2 | 'player';

export interface FixedPointConfig {
  /** Fractional bits of every private value (default 16). */
  fracBits: number;
  /**
   * 'local': SecureML truncation of each share (default). 'interactive': via a mask from server2,
   * statistically hiding (2^-24 per element) and exact only while every product stays below
   * 2^(TRUNC_BOUND_BITS - 2f) (64 at f = 16): unchecked, so larger ones leak their sign (docs/pond.md).
   */
  truncation: 'local' | 'interactive';
}

export const DEFAULT_FIXED_POINT: FixedPointConfig = { fracBits: 16, truncation: 'local' };

/** One op instance: every party derives the same id and uses it to tag its messages and nonces. */
export interface OpCtx {
  id: number;
  name: string;
  /**
   * A bound B on every comparison input of this op (the a whose sign a gate takes: a relu's input,
   * the differences a max tree compares): |a| <= B as a signed ring value wherever the
   * computation's truncations succeeded, known from the model's structure alone
   * (lib/api/bounds.ts). FSS narrows its gates to it (gate_common.ts gateBits); undefined: no bound
   * known, the whole ring.
   */
  gateBound?: bigint;
  /**
   * The op compares values the library makes rather than the model's own (LayerNormalization's
   * variance against its thresholds, softmax's row sums): a deployment's fssBits, the owner's word
   * on the model's values, does not bound them, so FSS takes its gates' width from gateBound alone.
   */
  internal?: true;
  /**
   * Every input of this op's equality tests is a multiple of 2^wholeUnits ring units (a whole number
   * in fixed point, such as a difference of strings' ids): FSS's equality gate leaves those low
   * bits out of its DPF's domain (fss/equality.ts). Undefined: no such structure known.
   */
  wholeUnits?: number;
}

export class Party {
  readonly role: Role;
  /** The protocol of the cluster this party runs in (the cluster keeps it in step). */
  protocol: ProtocolName = DEFAULT_PROTOCOL;
  /** The form of FSS's gates (the cluster keeps it in step; see FssGate). */
  fssGate: FssGate = 'auto';
  /** From how many elements FSS's 'auto' and 'folded' gates take the compact form (the cluster keeps it in step; undefined: FSS_STEPS.compactFrom). */
  fssCompactFrom: number | undefined = undefined;
  /** The width of FSS's comparisons (the cluster keeps it in step; see checkFssBits): 64, the whole ring. */
  fssBits = 64;
  /** How SecureNN computes DReLU (the cluster keeps it in step; see SecureNNDrelu). */
  securennDrelu: SecureNNDrelu = 'one-compare';
  /** The servers' correlated randomness (set by the cluster; players have none). */
  crypto?: import('./correlated').CorrelatedRandomness;

  /**
   * @param backend where this party's tensors live (its own stream on a shared GPU); the
   *   process default when absent
   */
  constructor(readonly name: PartyName, readonly transport: Transport, readonly fixed: FixedPointConfig, readonly backend?: Backend) {
    this.role = name === SERVER0 ? 0 : name === SERVER1 ? 1 : name === SERVER2 ? 2 : 'player';
  }

  get isCompute(): boolean {
    return this.role === 0 || this.role === 1;
  }

  /** The other compute server (only for server0 and server1). */
  get peer(): PartyName {
    if (this.role === 0) return SERVER1;
    if (this.role === 1) return SERVER0;
    throw new Error(`${this.name} has no compute peer`);
  }

  async sendTensor(to: PartyName, tag: Tag, t: RingTensor): Promise<void> {
    // In process, the tensor itself; its bytes only if someone reads them (a test's recorder).
    // Not on a device: another party's stream could read it before this one's has written it.
    if (this.transport.sharesTensors() && !t.backend.streams) return this.transport.send(this.name, to, tag, sharedPayload(t));
    // Without a copy where the transport frees what it wrote (the servers' links).
    const data = (this.transport.freesSent(this.name) ? t.bytesView() : undefined) ?? (await t.toBytesAsync());
    return this.transport.send(this.name, to, tag, { kind: 'tensor', dtype: t.dtype, shape: [...t.shape], data, transient: true });
  }

  /** `expectShape`, `expectDtype`: what the message must declare (a peer's message, a client's above all, is checked before it is built). */
  async recvTensor(from: PartyName, tag: Tag, expectShape?: readonly number[], expectDtype?: DType): Promise<RingTensor> {
    const p = await this.transport.recv(this.name, from, tag);
    if (p.kind !== 'tensor' && p.kind !== 'held') throw new Error(`${tag.op}/${tag.step}: expected a tensor from ${from}, got a ${p.kind} message`);
    if (expectShape && !sameShape(p.shape, expectShape)) {
      disposeReceived(p);
      throw new Error(`${tag.op}/${tag.step}: ${from} sent shape [${p.shape}] where [${expectShape}] was expected`);
    }
    if (expectDtype && p.dtype !== expectDtype) {
      disposeReceived(p);
      throw new Error(`${tag.op}/${tag.step}: ${from} sent a ${p.dtype} tensor where ${expectDtype} was expected`);
    }
    return receivedTensor(p, `${tag.op}/${tag.step}: a message from ${from}`);
  }

  sendControl(to: PartyName, tag: Tag, data: unknown): Promise<void> {
    return this.transport.send(this.name, to, tag, { kind: 'control', data });
  }

  async recvControl<T>(from: PartyName, tag: Tag): Promise<T> {
    const p = await this.transport.recv(this.name, from, tag);
    if (p.kind !== 'control') throw new Error(`${tag.op}/${tag.step}: expected a control message from ${from}`);
    return p.data as T;
  }

  /** Sends `mine` to the peer server and returns what the peer sent: one round for both. */
  async exchange(tag: Tag, mine: RingTensor): Promise<RingTensor> {
    const [, theirs] = await Promise.all([this.sendTensor(this.peer, tag, mine), this.recvTensor(this.peer, tag, mine.shape)]);
    return theirs;
  }
}

/**
 * The tensor a received message carries, owned by the caller: the sender's own where it is in
 * this process (a local tensor on this backend), else built from the bytes (and any local one
 * freed); `what` names the message in errors.
 */
export function receivedTensor(p: Extract<Received, { kind: 'tensor' | 'held' }>, what: string): RingTensor {
  if (p.kind === 'held') {
    // Copied into native memory as it arrived (an endpoint's adopt, e.g. the offline pool's).
    if (!(p.tensor instanceof RingTensor)) throw new Error(`${what} was held as something other than a tensor`);
    return p.tensor;
  }
  if (p.local instanceof RingTensor && p.local.backend === getBackend()) return p.local;
  try {
    return RingTensor.fromBytes(p.data, p.shape, p.dtype);
  } finally {
    p.local?.dispose();
  }
}

/** A tensor message for a receiver in this process: a new handle on `t`, its bytes a view made only when read. */
function sharedPayload(t: RingTensor): Payload {
  const local = t.alias();
  let view: Uint8Array | undefined;
  return {
    kind: 'tensor',
    dtype: t.dtype,
    shape: [...t.shape],
    local,
    transient: true,
    get data(): Uint8Array {
      view ??= local.bytesView() ?? local.toBytes();
      return view;
    },
  };
}

export function tag(op: OpCtx, step: string, part?: string): Tag {
  return { opId: op.id, op: op.name, step, part };
}
