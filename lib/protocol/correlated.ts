// Correlated randomness for the compute servers, behind one interface.
//
// Seed compression: at setup server2 draws two 128-bit seeds from the OS CSPRNG and gives one to
// server0 (s02) and one to server1 (s12). A mask `a` is then a0 + a1 with a0 = PRG(s02, nonce) and
// a1 = PRG(s12, nonce): no message at all. For a product c = f(a, b), server0's share is
// PRG(s02, nonce_c) and server2 sends server1 only the correction c - c0. So a Beaver triple costs
// |c| on the wire instead of |a| + |b| + |c| per server.
import type { Padding } from '../ops/conv';
import { add, concat, conv2d, depthwiseConv2d, gather, groupedConv2d, matmul, mul, reshape, shiftRightLogical, sub } from '../ops';
import { prgRing, randomSeed, SEED_BYTES } from '../prg/prg';
import type { RingTensor } from '../tensor/ring_tensor';
import { sameShape } from '../tensor/shape';
import { type OpCtx, type Party, SERVER0, SERVER1, SERVER2, tag } from './party';

/** A mask known by its nonce; its shares are derived from the setup seeds. */
export interface MaskRef {
  nonce: bigint;
  shape: readonly number[];
}

export type Bilinear =
  | { kind: 'mul' }
  | { kind: 'matmul' }
  | { kind: 'conv2d'; strides: [number, number]; padding: Padding }
  | { kind: 'depthwiseConv2d'; strides: [number, number]; padding: Padding }
  | { kind: 'groupedConv2d'; strides: [number, number]; padding: Padding; groups: number }
  /**
   * Rows of x [n, L, C] gathered at public positions (`index`: P windows of K positions each),
   * as [n P, K C], times y [K C, F]: a convolution of any dimension as im2col (Conv3D). Its masks
   * are x's and y's own shapes, so a product opens the input, not the K times larger patches.
   */
  | { kind: 'patchMatmul'; index: Int32Array }
  /**
   * x [n, rows] times y read as [rows, size(y) / rows] (row-major, a view): a table laid out in
   * blocks of rows, read one row at a time (lib/api/table_read.ts). y keeps its own shape, so
   * its mask, made once per setup, serves both reads.
   */
  | { kind: 'rowsMatmul'; rows: number };

/**
 * The patches gathered at a time (values; 32 MiB): a large volume's im2col would otherwise be
 * made whole (a 64x62x62 volume of 64 channels under a 3x3x3 kernel: 1.7 G values), on each
 * compute server and the dealer.
 */
export const PATCH_CHUNK_VALUES = 1 << 22;

/**
 * a [n, L, C] at `index` along its rows, as [n P, K C], times b [K C, F] (see Bilinear): where the
 * patches outweigh the output, the windows in chunks of at most `chunkValues` gathered values,
 * each gathered, multiplied and dropped before the next, then the products laid side by side in
 * the windows' order.
 */
export async function patchMatmul(a: RingTensor, b: RingTensor, index: Int32Array, chunkValues = PATCH_CHUNK_VALUES): Promise<RingTensor> {
  const n = a.shape[0], [kc, f] = b.shape, k = kc / a.shape[2], p = index.length / k;
  const per = Math.max(1, Math.floor(chunkValues / (n * kc)));
  // Every handle disposed as soon as it is used: a reshape is a second handle on the same memory,
  // which is freed with the last (RingTensor.alias).
  const product = async (w0: number, w1: number): Promise<RingTensor> => {
    const g = await gather(a, w0 === 0 && w1 === p ? index : index.subarray(w0 * k, w1 * k), 1);
    const rows = reshape(g, [n * (w1 - w0), kc]);
    g.dispose();
    try {
      return await matmul(rows, b);
    } finally {
      rows.dispose();
    }
  };
  // Chunks cost a copy of the output (the products laid side by side): taken only where the whole
  // patches would hold more than that copy and a chunk (many taps x channels per filter).
  if (per >= p || n * p * kc <= n * p * f + chunkValues) return product(0, p);
  const parts: RingTensor[] = [];
  try {
    for (let w0 = 0; w0 < p; w0 += per) {
      const w1 = Math.min(p, w0 + per), m = await product(w0, w1);
      parts.push(reshape(m, [n, w1 - w0, f]));
      m.dispose();
    }
    const whole = await concat(parts, 1);
    const out = reshape(whole, [n * p, f]);
    whole.dispose();
    return out;
  } finally {
    for (const t of parts) t.dispose();
  }
}

/** Evaluates a bilinear map on ring tensors: the same f in the triple and in the online phase. */
export function applyBilinear(f: Bilinear, a: RingTensor, b: RingTensor): Promise<RingTensor> {
  switch (f.kind) {
    case 'mul':
      return mul(a, b);
    case 'matmul':
      return matmul(a, b);
    case 'conv2d':
      return conv2d(a, b, { strides: f.strides, padding: f.padding });
    case 'depthwiseConv2d':
      return depthwiseConv2d(a, b, { strides: f.strides, padding: f.padding });
    case 'groupedConv2d':
      return groupedConv2d(a, b, { strides: f.strides, padding: f.padding, groups: f.groups });
    case 'patchMatmul':
      return patchMatmul(a, b, f.index);
    case 'rowsMatmul':
      return rowsMatmul(a, b, f.rows);
  }
}

async function rowsMatmul(a: RingTensor, b: RingTensor, rows: number): Promise<RingTensor> {
  const size = b.shape.reduce((x, d) => x * d, 1);
  if (size % rows !== 0) throw new RangeError(`rowsMatmul: [${b.shape}] is not ${rows} rows`);
  const view = reshape(b, [rows, size / rows]);
  try {
    return await matmul(a, view);
  } finally {
    view.dispose();
  }
}

export interface CorrelatedRandomness {
  /** Agrees on seeds; run once per session on every server. */
  setup(p: Party): Promise<void>;
  /**
   * The seed server0 and server1 share and server2 does not know, for common randomness
   * (SecureNN's blinding factors, permutations and bits).
   */
  pairSeed(p: Party): Uint8Array;
  /** The seed behind server0's dealt shares (s02): server0 and server2 hold it. */
  dealerSeed(p: Party): Uint8Array;
  /** server2's own seed, for randomness no other party may know. */
  ownSeed(p: Party): Uint8Array;
  /** server0/server1: this server's share of the mask. server2: the whole mask. */
  mask(p: Party, ref: MaskRef): Promise<RingTensor>;
  /**
   * Shares of c = f(a, b) for masks a and b. server0 and server1 get their share; server2
   * computes c and sends server1's correction, and gets null.
   */
  product(p: Party, op: OpCtx, step: string, f: Bilinear, a: MaskRef, b: MaskRef, nonce: bigint, outShape: readonly number[]): Promise<RingTensor | null>;
  /**
   * For interactive truncation: shares of r, uniform in [0, 2^rBits), and of r >> shift.
   * server2 draws r from a seed only it holds and sends server1 both corrections.
   */
  truncationPair(p: Party, op: OpCtx, step: string, nonce: bigint, shape: readonly number[], rBits: number, shift: number): Promise<{ r: RingTensor; rHigh: RingTensor } | null>;
  /**
   * The setup is over (its Cluster closed, a server's epoch replaced): frees what the provider
   * keeps for it (server2's weight masks). Without it they waited for the garbage collector,
   * which native memory does not prompt: a server kept every replaced setup's masks.
   */
  release?(): void;
  /** server2's cache of weight masks (its provider's), when it keeps one: entries and bytes. */
  maskCacheStats?(): { entries: number; bytes: number };
  /**
   * The tensor masked under `nonce` is gone (disposed): its mask leaves server2's cache, if there
   * (freed now, or by its last borrower). A query's value that two products read was cached by
   * its second use and, its nonce never asked for again, stayed until evicted: 256 MiB of dead
   * masks that pushed out the weights'. A no-op where nothing is cached (server0, server1).
   */
  forgetMask?(nonce: bigint): void;
}

const SETUP: OpCtx = { id: 0, name: 'setup' };

/** Nonce of slot `slot` of op instance `opId`: unique per (op, slot) and the same on every party. */
export function nonceFor(opId: number, slot: number): bigint {
  if (slot < 0 || slot >= 1 << 16) throw new RangeError(`nonce slot ${slot} out of range`);
  return (BigInt(opId) << 16n) | BigInt(slot);
}

// server2 keeps recently used masks: a weight's mask takes part in every prediction's triple,
// and regenerating it (two PRG expansions and an add over the whole weight) would dominate.
export const DEFAULT_MASK_CACHE_BYTES = 256 * 2 ** 20;

/**
 * A borrowed mask: use `mask` until `release()`, then never again. The borrower never disposes the
 * tensor itself: a cached mask is shared by every product running at the time, and is freed by
 * whichever comes last of its eviction and its last release.
 */
export interface MaskLease {
  readonly mask: RingTensor;
  release(): void;
}

export interface MaskCacheStats {
  /** Masks in the cache (generated or being generated), one per nonce. */
  entries: number;
  /** Their bytes: exactly the sum over the entries, and at most limitBytes once eviction ran. */
  bytes: number;
  limitBytes: number;
  /** Evicted masks still borrowed by running products: freed on their last release. */
  evictedBorrowed: number;
  /** Borrows outstanding, cached or not. */
  leases: number;
  /** Masks generated since construction (a concurrent miss shares the generation in flight). */
  generated: number;
}

// One cache entry per nonce. `mask` is the generation, shared by concurrent misses; `leases`
// counts borrowers; `cached` turns false when the entry leaves the map (eviction, clear, or a
// failed generation), after which the last release frees the tensor.
interface CacheEntry {
  readonly nonce: bigint;
  readonly shape: readonly number[];
  readonly bytes: number;
  readonly mask: Promise<RingTensor>;
  tensor?: RingTensor;
  leases: number;
  cached: boolean;
}

/** A seed as setup sends it (base64 of SEED_BYTES bytes), checked: `from` names the sender. */
function seedFrom(data: unknown, from: string): Uint8Array {
  if (typeof data !== 'string') throw new Error(`setup: ${from} sent a seed that is not a string`);
  const seed = Uint8Array.from(Buffer.from(data, 'base64'));
  if (seed.length !== SEED_BYTES) throw new Error(`setup: ${from} sent a ${seed.length}-byte seed`);
  return seed;
}

export interface SeededProviderOptions {
  /** server2's mask cache limit in bytes (0: no caching). Default 256 MiB. */
  maskCacheBytes?: number;
}

export class SeededProvider implements CorrelatedRandomness {
  #s02?: Uint8Array;
  #s12?: Uint8Array;
  #s2?: Uint8Array; // server2's own seed, never sent
  #s01?: Uint8Array; // server0 and server1's common seed
  readonly #limit: number;
  #cache = new Map<bigint, CacheEntry>(); // insertion order = least recently used first
  #cachedBytes = 0; // sum of bytes over #cache's entries, kept exact on every insert and removal
  #evictedBorrowed = new Set<CacheEntry>();
  #released = false;
  #leases = 0;
  #generated = 0;
  #seen = new Set<bigint>(); // masks requested once: cached if requested again
  #setUp = new Set<Party['role']>(); // the roles this provider was set up for

  constructor(opts: SeededProviderOptions = {}) {
    const limit = opts.maskCacheBytes ?? DEFAULT_MASK_CACHE_BYTES;
    if (!Number.isSafeInteger(limit) || limit < 0) throw new RangeError(`maskCacheBytes must be a non-negative integer, got ${limit}`);
    this.#limit = limit;
  }

  async setup(p: Party): Promise<void> {
    // Op ids (and so nonces) start again at 1 in every Cluster: a second Cluster on these seeds
    // would draw the masks the first one drew, and the difference of two openings would reveal
    // the difference of two secrets. cluster.fork() runs more sessions on one setup safely.
    if (this.#setUp.has(p.role)) throw new Error(`this SeededProvider is set up already for ${p.name}: a provider belongs to one Cluster (use cluster.fork() for another session on its setup), since a second Cluster would reuse its masks`);
    this.#setUp.add(p.role);
    const t = tag(SETUP, 'seeds');
    if (p.role === 2) {
      this.#s02 = randomSeed();
      this.#s12 = randomSeed();
      this.#s2 = randomSeed();
      await Promise.all([
        p.transport.send(SERVER2, SERVER0, t, { kind: 'control', data: Buffer.from(this.#s02).toString('base64') }),
        p.transport.send(SERVER2, SERVER1, t, { kind: 'control', data: Buffer.from(this.#s12).toString('base64') }),
      ]);
    } else if (p.isCompute) {
      const seed = seedFrom(await p.recvControl<unknown>(SERVER2, t), SERVER2);
      if (p.role === 0) this.#s02 = seed;
      else this.#s12 = seed;
      // server0 draws the pair seed and gives it to server1; server2 never sees it.
      const pt = tag(SETUP, 'pairSeed');
      if (p.role === 0) {
        this.#s01 = randomSeed();
        await p.sendControl(SERVER1, pt, Buffer.from(this.#s01).toString('base64'));
      } else {
        // Checked as server2's are: a pair seed of another length (or none) set up, and every
        // later use of it failed or, for the input masks' MAC, keyed it with a known value.
        this.#s01 = seedFrom(await p.recvControl<unknown>(SERVER0, pt), SERVER0);
      }
    }
  }

  dealerSeed(p: Party): Uint8Array {
    if (p.role !== 0 && p.role !== 2) throw new Error(`${p.name} does not hold the dealer seed`);
    return this.#seed('02');
  }

  ownSeed(p: Party): Uint8Array {
    if (p.role !== 2) throw new Error(`${p.name} does not hold server2's own seed`);
    return this.#seed('2');
  }

  pairSeed(p: Party): Uint8Array {
    if (!p.isCompute) throw new Error(`${p.name} does not hold the server0/server1 pair seed`);
    if (!this.#s01) throw new Error('correlated randomness used before setup');
    return this.#s01;
  }

  #seed(which: '02' | '12' | '2'): Uint8Array {
    const s = which === '02' ? this.#s02 : which === '12' ? this.#s12 : this.#s2;
    if (!s) throw new Error('correlated randomness used before setup');
    return s;
  }

  #expand(which: '02' | '12', ref: MaskRef): Promise<RingTensor> {
    return prgRing(this.#seed(which), ref.shape, { nonce: ref.nonce });
  }

  async mask(p: Party, ref: MaskRef): Promise<RingTensor> {
    if (p.role === 0) return this.#expand('02', ref);
    if (p.role === 1) return this.#expand('12', ref);
    if (p.role !== 2) throw new Error(`${p.name} holds no correlated randomness`);
    return this.#whole(ref);
  }

  /** server2's whole mask: its two halves summed, and freed (left to the collector, they leaked two tensors a call). */
  async #whole(ref: MaskRef): Promise<RingTensor> {
    const [a0, a1] = await this.#bothHalves(ref);
    try {
      return await add(a0, a1);
    } finally {
      a0.dispose();
      a1.dispose();
    }
  }

  async #bothHalves(ref: MaskRef): Promise<[RingTensor, RingTensor]> {
    return Promise.all([this.#expand('02', ref), this.#expand('12', ref)]);
  }

  /** server2's mask cache, for tests and operators: sizes, borrows and generations. */
  maskCacheStats(): MaskCacheStats {
    return { entries: this.#cache.size, bytes: this.#cachedBytes, limitBytes: this.#limit, evictedBorrowed: this.#evictedBorrowed.size, leases: this.#leases, generated: this.#generated };
  }

  forgetMask(nonce: bigint): void {
    this.#seen.delete(nonce);
    const e = this.#cache.get(nonce);
    if (e) this.#uncache(e);
  }

  /** Empties server2's mask cache: idle masks are freed now, borrowed ones on their last release. */
  clearMaskCache(): void {
    for (const e of [...this.#cache.values()]) this.#uncache(e);
  }

  /** The setup is over: the cache is emptied and caches nothing more (a late borrower gets its own copy). */
  release(): void {
    this.#released = true;
    this.clearMaskCache();
  }

  async #generate(ref: MaskRef): Promise<RingTensor> {
    this.#generated++;
    return this.#whole(ref);
  }

  /**
   * Borrows server2's whole mask for `ref`. A mask requested a second time (a weight's, used by
   * every prediction) is kept in an LRU cache of at most the configured bytes. Every borrower,
   * cached or not, must call release() once it no longer reads the tensor (a product: after
   * computing f(a, b)); exposed for tests of the cache, not part of the provider interface.
   */
  async borrowMask(ref: MaskRef): Promise<MaskLease> {
    const bytes = 8 * ref.shape.reduce((x, y) => x * y, 1);
    let e = this.#cache.get(ref.nonce);
    if (e) {
      this.#cache.delete(ref.nonce); // move to the most recently used end
      this.#cache.set(ref.nonce, e);
    } else if (!this.#seen.has(ref.nonce) || bytes > this.#limit || this.#released) {
      // First request (most masks are one-off: a query's own inputs), or too big to ever cache:
      // the borrower gets its own copy, freed on release.
      this.#seen.add(ref.nonce);
      if (this.#seen.size > 1 << 16) this.#seen.delete(this.#seen.values().next().value as bigint);
      const t = await this.#generate(ref);
      this.#leases++;
      return this.#lease(t, () => {
        this.#leases--;
        t.dispose();
      });
    } else {
      // A miss on a mask seen before. The entry (and its bytes) goes in before the generation
      // starts, so a concurrent miss on the same nonce finds it and waits on the same generation
      // instead of inserting (and counting) a second copy.
      const entry: CacheEntry = { nonce: ref.nonce, shape: [...ref.shape], bytes, mask: this.#generate(ref), leases: 0, cached: true };
      e = entry;
      this.#cache.set(ref.nonce, entry);
      this.#cachedBytes += bytes;
      entry.mask.then(
        (t) => {
          entry.tensor = t;
          // Evicted while generating, and every borrower already gave up: nobody will release it.
          if (!entry.cached && entry.leases === 0) this.#free(entry);
        },
        () => this.#uncache(entry), // a failed generation is not cached; its borrowers see the error
      );
      this.#evict(entry);
    }
    if (!sameShape(e.shape, ref.shape)) throw new Error(`mask nonce ${ref.nonce} requested with shape [${ref.shape}] but cached with [${e.shape}]`);
    const entry = e;
    entry.leases++;
    this.#leases++;
    let t: RingTensor;
    try {
      t = await entry.mask;
    } catch (err) {
      this.#release(entry);
      throw err;
    }
    entry.tensor = t;
    return this.#lease(t, () => this.#release(entry));
  }

  #lease(mask: RingTensor, onRelease: () => void): MaskLease {
    let released = false;
    return {
      mask,
      release: () => {
        if (released) return; // idempotent: a double release must not free a mask others hold
        released = true;
        onRelease();
      },
    };
  }

  #release(e: CacheEntry): void {
    e.leases--;
    this.#leases--;
    if (!e.cached && e.leases === 0) this.#free(e);
  }

  /** Takes an entry out of the cache (and its bytes out of the count); frees it unless borrowed. */
  #uncache(e: CacheEntry): void {
    if (!e.cached) return;
    e.cached = false;
    if (this.#cache.get(e.nonce) === e) this.#cache.delete(e.nonce);
    this.#cachedBytes -= e.bytes;
    if (e.leases === 0) this.#free(e);
    else this.#evictedBorrowed.add(e);
  }

  #free(e: CacheEntry): void {
    this.#evictedBorrowed.delete(e);
    const t = e.tensor;
    e.tensor = undefined;
    t?.dispose();
  }

  /** Evicts least recently used entries, never `keep`, until the cache fits its limit. */
  #evict(keep: CacheEntry): void {
    for (const e of [...this.#cache.values()]) {
      if (this.#cachedBytes <= this.#limit) break;
      if (e !== keep) this.#uncache(e);
    }
  }

  async product(p: Party, op: OpCtx, step: string, f: Bilinear, a: MaskRef, b: MaskRef, nonce: bigint, outShape: readonly number[]): Promise<RingTensor | null> {
    // Several products of one op travel in parallel: the nonce's slot tells their messages apart.
    const t = tag(op, step, String(nonce & 0xffffn));
    if (p.role === 0) return prgRing(this.#seed('02'), outShape, { nonce });
    if (p.role === 1) return p.recvTensor(SERVER2, t, outShape);
    if (p.role !== 2) return null;
    const same = a.nonce === b.nonce; // square: one mask, borrowed once
    const got = await Promise.allSettled([this.borrowMask(a), same ? undefined : this.borrowMask(b), prgRing(this.#seed('02'), outShape, { nonce })]);
    const [la, lb, c0] = got.map((r) => (r.status === 'fulfilled' ? r.value : undefined)) as [MaskLease | undefined, MaskLease | undefined, RingTensor | undefined];
    let c1: RingTensor;
    try {
      const failed = got.find((r) => r.status === 'rejected');
      if (failed) throw (failed as PromiseRejectedResult).reason;
      const c = await applyBilinear(f, la!.mask, (lb ?? la!).mask);
      try {
        c1 = await sub(c, c0!);
      } finally {
        c.dispose();
      }
    } finally {
      // The masks are not read after f(a, b): give them back before the send, which can wait long.
      la?.release();
      lb?.release();
      c0?.dispose();
    }
    try {
      await p.sendTensor(SERVER1, t, c1);
    } finally {
      c1.dispose();
    }
    return null;
  }

  async truncationPair(p: Party, op: OpCtx, step: string, nonce: bigint, shape: readonly number[], rBits: number, shift: number): Promise<{ r: RingTensor; rHigh: RingTensor } | null> {
    const t = tag(op, step);
    const n1 = nonce, n2 = nonce + 1n;
    if (p.role === 0) {
      const [r, rHigh] = await Promise.all([prgRing(this.#seed('02'), shape, { nonce: n1 }), prgRing(this.#seed('02'), shape, { nonce: n2 })]);
      return { r, rHigh };
    }
    if (p.role === 1) {
      const [r, rHigh] = await Promise.all([p.recvTensor(SERVER2, { ...t, part: 'r' }, shape), p.recvTensor(SERVER2, { ...t, part: 'rHigh' }, shape)]);
      return { r, rHigh };
    }
    if (p.role !== 2) return null;
    const u = await prgRing(this.#seed('2'), shape, { nonce: n1 });
    const r = await shiftRightLogical(u, 64 - rBits);
    const rHigh = await shiftRightLogical(r, shift);
    const [r0, h0] = await Promise.all([prgRing(this.#seed('02'), shape, { nonce: n1 }), prgRing(this.#seed('02'), shape, { nonce: n2 })]);
    const [r1, h1] = await Promise.all([sub(r, r0), sub(rHigh, h0)]);
    for (const x of [u, r, rHigh, r0, h0]) x.dispose();
    try {
      await Promise.all([p.sendTensor(SERVER1, { ...t, part: 'r' }, r1), p.sendTensor(SERVER1, { ...t, part: 'rHigh' }, h1)]);
    } finally {
      r1.dispose();
      h1.dispose();
    }
    return null;
  }
}
