// Global-view tensors of the in-process API. Each holds, per party, a promise of its local part:
// ops return at once (so shapes are checked immediately and programs read like the seed's), and
// the protocol runs as soon as the inputs are ready, every party concurrently.
import type { PartyName } from '../net/transport';
import type { Cluster } from '../protocol/cluster';
import { type MaskRef, nonceFor } from '../protocol/correlated';
import type { OpCtx } from '../protocol/party';
import { type FoldableGate, releaseGate } from '../protocol/product_folding';
import { disposeMasked, mask, type MaskedShare } from '../protocol/pond/arith';
import type { Share } from '../protocol/pond/share';
import type { RingTensor } from '../tensor/ring_tensor';
import { track } from './tidy';
import { awaitedLater } from '../awaited_later';

export type PartyValues<T> = Map<PartyName, T>;

/** Methods every tensor gets; installed by the ops module (tfjs-style chaining). */
export interface Chain {
  add(y: AnyTensor | number): PrivateTensor | PublicTensor;
  sub(y: AnyTensor | number): PrivateTensor | PublicTensor;
  mul(y: AnyTensor | number): PrivateTensor | PublicTensor;
  matmul(y: AnyTensor): PrivateTensor | PublicTensor;
  square(): PrivateTensor | PublicTensor;
  neg(): PrivateTensor | PublicTensor;
  reshape(shape: readonly number[]): PrivateTensor | PublicTensor;
  transpose(perm?: readonly number[]): PrivateTensor | PublicTensor;
  reduceSum(axes?: number | readonly number[], keepDims?: boolean): PrivateTensor | PublicTensor;
  relu(): PrivateTensor;
  sigmoid(): PrivateTensor;
  tanh(): PrivateTensor;
}

let chain: ((self: AnyTensor) => Chain) | undefined;
export function installChain(f: (self: AnyTensor) => Chain): void {
  chain = f;
}
function ops(self: AnyTensor): Chain {
  if (!chain) throw new Error('tfjs-encrypted ops are not loaded');
  return chain(self);
}

abstract class Base {
  constructor(readonly cluster: Cluster, readonly shape: readonly number[]) {}
  get rank(): number {
    return this.shape.length;
  }
  add(y: AnyTensor | number) { return ops(this as unknown as AnyTensor).add(y); }
  sub(y: AnyTensor | number) { return ops(this as unknown as AnyTensor).sub(y); }
  mul(y: AnyTensor | number) { return ops(this as unknown as AnyTensor).mul(y); }
  matmul(y: AnyTensor) { return ops(this as unknown as AnyTensor).matmul(y); }
  square() { return ops(this as unknown as AnyTensor).square(); }
  neg() { return ops(this as unknown as AnyTensor).neg(); }
  reshape(shape: readonly number[]) { return ops(this as unknown as AnyTensor).reshape(shape); }
  transpose(perm?: readonly number[]) { return ops(this as unknown as AnyTensor).transpose(perm); }
  reduceSum(axes?: number | readonly number[], keepDims?: boolean) { return ops(this as unknown as AnyTensor).reduceSum(axes, keepDims); }
  relu() { return ops(this as unknown as AnyTensor).relu(); }
  sigmoid() { return ops(this as unknown as AnyTensor).sigmoid(); }
  tanh() { return ops(this as unknown as AnyTensor).tanh(); }
}

/** Additively shared between server0 and server1; no single server can read it. */
export class PrivateTensor extends Base {
  readonly kind = 'private' as const;
  readonly shares: Promise<PartyValues<Share>>;
  #masked?: Promise<PartyValues<MaskedShare>>;

  /**
   * `premasked` reuses a masked form made elsewhere: a deployed weight is masked once per cluster
   * epoch and every query's copy of it shares that mask, and a leased query's input comes masked.
   * `{ maskOp }` instead names the op whose mask this tensor takes when it is first masked (a
   * query's input: the op its session reserved, lib/serve/input_mask.ts).
   */
  constructor(cluster: Cluster, shape: readonly number[], shares: Promise<PartyValues<Share>>, premasked?: { masked: Promise<PartyValues<MaskedShare>>; ref: MaskRef } | { maskOp: OpCtx }) {
    super(cluster, Object.freeze([...shape]));
    this.shares = awaitedLater(shares);
    cluster.noteResult(this.shares);
    if (premasked && 'maskOp' in premasked) this.#maskOpCtx = premasked.maskOp;
    else if (premasked) {
      this.#masked = premasked.masked;
      this.#premaskedRef = premasked.ref;
    }
    track(this);
  }

  #premaskedRef?: MaskRef;

  /**
   * A bound on |value| in ring units known from how this tensor was computed, never from its
   * values (lib/api/bounds.ts): FSS's gates on it compare fewer bits. Undefined: none known.
   */
  get bound(): bigint | undefined {
    return this.#bound;
  }

  #bound?: bigint;

  /** Sets the bound, once, where the op that made this tensor knows one (lib/api/bounds.ts); returns this. */
  withBound(b: bigint | undefined): this {
    if (this.#bound !== undefined) throw new Error('withBound: this tensor already has a bound');
    this.#bound = b;
    return this;
  }

  /** Set by a relu whose protocol folds the product after it (lib/protocol/product_folding.ts), and kept by reshapes of its output. */
  get foldable(): FoldableGate | undefined {
    return this.#foldable;
  }

  #foldable?: FoldableGate;

  /** Makes this tensor one more holder of `g` (a relu's output, or a reshape of one): freed by the last holder's dispose. */
  shareFoldable(g: FoldableGate): void {
    if (this.#foldable) throw new Error('shareFoldable: this tensor already carries a gate');
    g.holders++;
    this.#foldable = g;
  }

  /**
   * The masked form (x - a opened to both servers, shares of a kept), computed once and reused by
   * every product this tensor takes part in: weights are masked once for all predictions.
   */
  masked(): Promise<PartyValues<MaskedShare>> {
    if (!this.#masked) {
      const op = this.#maskOp();
      this.#masked = awaitedLater(
        this.shares.then((s) => this.cluster.run(op, (p, o) => mask(p, this.cluster.provider, o, 0, s.get(p.name) ?? null, this.shape))),
      );
    }
    return this.#masked;
  }

  #maskOpCtx?: OpCtx;
  #maskOp(): OpCtx {
    return (this.#maskOpCtx ??= this.cluster.nextOp('mask'));
  }

  /** The public description of this tensor's mask (known before the mask exists). */
  maskRef(): MaskRef {
    if (this.#premaskedRef) return this.#premaskedRef;
    return { nonce: nonceFor(this.#maskOp().id, 0), shape: this.shape };
  }

  /**
   * Frees the shares (and the cached masked form) on every party, once every op built before this
   * call has settled: ops run when their inputs are ready, so one built from this tensor may not
   * have read it yet (`const y = x.matmul(w); x.dispose()` is fine, as in TensorFlow.js). Using
   * the tensor in an op built after dispose() fails.
   */
  async dispose(): Promise<void> {
    await this.cluster.opsBuiltSoFar();
    const [s, m] = await Promise.allSettled([this.shares, this.#masked ?? Promise.resolve(undefined)]);
    if (s.status === 'fulfilled') for (const v of s.value.values()) v?.dispose();
    if (m.status === 'fulfilled' && m.value) for (const v of m.value.values()) disposeMasked(v);
    const g = this.#foldable;
    this.#foldable = undefined; // a second dispose gives up nothing more
    if (g) releaseGate(g);
    // Its mask, if it took one, is not asked for again: out of server2's cache (correlated.ts).
    if (this.#maskOpCtx || this.#premaskedRef) this.cluster.provider.forgetMask?.(this.maskRef().nonce);
  }
}

/** Known to both compute servers (as a fixed-point ring tensor). */
export class PublicTensor extends Base {
  readonly kind = 'public' as const;
  readonly values: Promise<PartyValues<RingTensor | null>>;

  constructor(cluster: Cluster, shape: readonly number[], values: Promise<PartyValues<RingTensor | null>>) {
    super(cluster, Object.freeze([...shape]));
    this.values = awaitedLater(values);
    cluster.noteResult(this.values);
    track(this);
  }

  /** Frees the values on every party, once every op built before this call has settled (PrivateTensor.dispose). */
  async dispose(): Promise<void> {
    await this.cluster.opsBuiltSoFar();
    const v = await this.values.catch(() => undefined);
    if (v) for (const t of v.values()) t?.dispose();
  }
}

export type AnyTensor = PrivateTensor | PublicTensor;

export function isTensor(v: unknown): v is AnyTensor {
  return v instanceof PrivateTensor || v instanceof PublicTensor;
}
