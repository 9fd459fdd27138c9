// A session's parties. In-process, all of them live here and every op runs on all of them at
// once (each party's kernels on the native thread pool); in the service, each server process
// holds one Party and runs the same protocol functions.
import { withBackend } from '../backend/backend_context';
import { type DeviceOption, getBackend, resolveDevice } from '../backend/backends';
import { streamBackend } from '../backend/stream_backend';
import type { PartyName, Transport } from '../net/transport';
import { MemoryTransport } from '../net/memory_transport';
import { type CorrelatedRandomness, SeededProvider } from './correlated';
import { DEFAULT_FIXED_POINT, type FixedPointConfig, type OpCtx, Party, SERVER0, SERVER1, SERVERS } from './party';
import type { FoldCounts } from './product_folding';
import { checkFssBits, checkFssGate, checkProtocol, checkSecureNNDrelu, DEFAULT_PROTOCOL, type FssGate, type ProtocolName, type SecureNNDrelu } from './protocols';
import { OPTION_SPECS, type ProtocolOptions } from './protocol_options';
import { checkClusterOptions } from './cluster_options_check';

export const DEFAULT_PLAYERS: readonly PartyName[] = ['model-owner', 'prediction-client', 'input-provider', 'output-receiver'];

export interface ClusterOptions {
  /** Input and output players besides the three servers. */
  players?: readonly PartyName[];
  fixedPoint?: Partial<FixedPointConfig>;
  /**
   * Correlated randomness; default: seed-compressed triples from server2. A provider belongs to
   * one Cluster (SeededProvider refuses a second setup: its masks would repeat); fork() runs more
   * sessions on a cluster's setup.
   */
  provider?: CorrelatedRandomness;
  /**
   * Precompute mode (default on): server2 deals each op's correlated randomness as soon as the
   * op is issued, from public information only (nonces and shapes), before its inputs exist, so
   * triple generation stays off the online path. Off: server2 deals when the inputs are ready.
   */
  precompute?: boolean;
  /**
   * 'securenn' (default: Pond plus exact comparisons with server2 as helper, so relu and max
   * pooling give plaintext's answers) or 'pond' (fewer rounds; relu becomes a polynomial).
   */
  protocol?: ProtocolName;
  /**
   * Under 'fss', the form of the sign and ReLU gates: 'auto' (default: one round for gates under
   * 16384 elements, the compact form for larger ones), 'one-round', 'compact', 'folded' ('auto',
   * with a product by a weight right after a one-round relu folded into that relu's keys: one round
   * fewer for a key with 2k payloads more per relu element) or 'compact-folded' ('compact', with such a product
   * folded into the compact relu before it with no keys; docs/fss.md "Folded products").
   */
  fssGate?: FssGate;
  /**
   * Under 'fss' with the 'auto' or 'folded' gate form, the gate size (elements, the batch's) from
   * which a gate takes the compact form (default FSS_STEPS.compactFrom, 16384). The service lowers
   * it for the queries server2 deals under load (docs/fss.md, "Under load"); every party of a
   * session must use the same value.
   */
  fssCompactFrom?: number;
  /**
   * Under 'fss', the widest the comparisons may be: 64 (default, the whole ring, exact everywhere)
   * or narrower, exact while the gates' inputs stay within |x| < 2^(n-1) ring units (docs/fss.md,
   * "Narrower comparisons"). Each gate compares fewer bits still where its inputs' bounds allow
   * (docs/fss.md, "Gate widths"; lib/api/bounds.ts).
   */
  fssBits?: number;
  /**
   * Under 'securenn', how DReLU is computed: 'one-compare' (default: one PrivateCompare, and relu
   * without a Beaver product) or 'paper' (SecureNN's ShareConvert then ComputeMSB; docs/securenn.md).
   */
  securennDrelu?: SecureNNDrelu;
  /** The transport (default: in-memory). It must know the three servers and the players. */
  transport?: Transport;
  /**
   * The parties whose part runs in this process (default: all). A server process hosts just its
   * own and runs the same protocol functions as its peers do in theirs.
   */
  hosted?: readonly PartyName[];
  /**
   * Where the parties' tensors live: 'auto' (CUDA when a driver and a device are present, else
   * the CPU), 'cpu' or 'cuda' (an error saying why when it cannot be had). TFE_DEVICE overrides
   * it. Default: the process's backend (setBackend, else TFE_DEVICE, else 'auto'). On a GPU each
   * party gets its own CUDA stream.
   */
  device?: DeviceOption;
}

/**
 * What a fork may set for its session. Every protocol option (ProtocolOptions) is a ClusterOptions
 * field of the same name and a Cluster accessor (the Picks here and in fork() fail to compile
 * otherwise), so an option added to OPTION_SPECS reaches every session's cluster without a line here.
 */
export type ForkOptions = Pick<ClusterOptions, 'protocol' | keyof ProtocolOptions | 'fssCompactFrom' | 'securennDrelu' | 'players'> & {
  /** A session only server2's part of runs (the pool's recording). */
  dealerOnly?: boolean;
};

/** Op ids of one session: ids in (base, base + OPS_PER_SESSION) are its own. */
export const OPS_PER_SESSION = 2 ** 24;
/** Sessions per setup: op ids (and so nonces) stay below 2^48. */
export const MAX_SESSIONS = 2 ** 24 - 1;

/** Session indices taken on one setup: a bit each, 2 MiB for all of them, made on first use. */
class ForkedIndices {
  #bits?: Uint8Array;

  take(index: number): void {
    const bits = (this.#bits ??= new Uint8Array((MAX_SESSIONS >> 3) + 1));
    const at = index >> 3, bit = 1 << (index & 7);
    if (bits[at] & bit) throw new Error(`session index ${index} ran already on this setup: a second session on it would repeat its masks`);
    bits[at] |= bit;
  }
}

export class Cluster {
  readonly transport: Transport;
  readonly parties: ReadonlyMap<PartyName, Party>;
  readonly fixed: FixedPointConfig;
  readonly provider: CorrelatedRandomness;
  readonly precompute: boolean;
  #protocol: ProtocolName = DEFAULT_PROTOCOL;
  #fssGate: FssGate = 'auto';
  #fssCompactFrom: number | undefined;
  #fssBits = 64;
  #securennDrelu: SecureNNDrelu = 'one-compare';
  readonly hosted: ReadonlySet<PartyName>;
  /**
   * Products folded into the relu before them (the 'folded' and 'compact-folded' FSS gate forms)
   * in the programs built on this cluster so far, their cells (gate elements times output
   * columns), and the bytes of the keys the cells folded into one-round gates cost each compute
   * server (after a compact gate a cell is three dealt words): what `tfe deploy --fss-gate folded`
   * reports for a model.
   */
  readonly folds: FoldCounts = { products: 0, cells: 0, keyBytes: 0 };
  /** The results of the ops built on this cluster that have not settled yet (noteResult). */
  #unsettled = new Set<Promise<unknown>>();

  /**
   * Registers an op's result (the API's tensors register their shares or values): until it
   * settles, the op may still read its inputs, so a dispose of any tensor waits for it
   * (opsBuiltSoFar).
   */
  noteResult(p: Promise<unknown>): void {
    this.#unsettled.add(p);
    const done = () => void this.#unsettled.delete(p);
    p.then(done, done);
  }

  /**
   * Settles once every op built on this cluster until now has settled (fulfilled or failed): after
   * it, no op issued before this call reads any tensor any more. Ops built later are not waited for.
   */
  opsBuiltSoFar(): Promise<void> {
    if (this.#unsettled.size === 0) return Promise.resolve();
    return Promise.allSettled([...this.#unsettled]).then(() => undefined);
  }
  /** The backend the parties' tensors live on: 'cpu' or 'cuda'. */
  readonly device: string;
  #nextOp: number;
  /** The session indices forked on this setup (shared by its forks). */
  readonly #forked: ForkedIndices;
  /** Made by fork(): its provider and setup are its root's. */
  readonly #isFork: boolean;
  /** Depth of internalOps scopes being defined. */
  #internal = 0;
  #lastOp: number;
  #ready: Promise<void>;

  constructor(opts: ClusterOptions = {}, fork?: { ready: Promise<void>; opBase: number; device: string; forked: ForkedIndices }) {
    // A fork carries every option at its value (ForkOptions); only a caller's options are checked.
    if (!fork) checkClusterOptions(opts);
    const players = opts.players ?? DEFAULT_PLAYERS;
    for (const p of players)
      if (SERVERS.includes(p)) throw new Error(`player name '${p}' is reserved for a server`);
    this.fixed = { ...DEFAULT_FIXED_POINT, ...opts.fixedPoint };
    if (!Number.isInteger(this.fixed.fracBits) || this.fixed.fracBits < 1 || this.fixed.fracBits > 30)
      throw new RangeError(`fracBits must be an integer in [1, 30], got ${this.fixed.fracBits}`);
    if (this.fixed.truncation !== 'local' && this.fixed.truncation !== 'interactive')
      throw new TypeError(`truncation must be 'local' or 'interactive', got ${JSON.stringify(this.fixed.truncation)}`);
    this.transport = opts.transport ?? new MemoryTransport([...SERVERS, ...players]);
    for (const s of [...SERVERS, ...players])
      if (!this.transport.parties.includes(s)) throw new Error(`the transport does not know party '${s}'`);
    // Without an option, the process's backend (setBackend, TFE_DEVICE or 'auto'), so that a
    // server's sessions and the tensors it keeps between them live on the same device.
    this.device = fork?.device ?? (opts.device ? resolveDevice(opts.device) : getBackend().name);
    const base = getBackend(this.device);
    // Stream 0 stays the module's default; each party gets its own (servers 1-3, players after).
    const streamOf = (i: number): number => Math.min(1 + i, 63);
    this.parties = new Map(
      this.transport.parties.map((n, i) => [n, new Party(n, this.transport, this.fixed, streamBackend(base, streamOf(i)))]),
    );
    this.provider = opts.provider ?? new SeededProvider();
    this.precompute = opts.precompute ?? true;
    this.protocol = opts.protocol ?? DEFAULT_PROTOCOL;
    // Each protocol option through its accessor (which checks it), at its default when unset.
    for (const s of OPTION_SPECS) (this as Record<keyof ProtocolOptions, unknown>)[s.name] = opts[s.name] ?? s.default;
    this.fssCompactFrom = opts.fssCompactFrom;
    this.securennDrelu = opts.securennDrelu ?? 'one-compare';
    this.hosted = new Set(opts.hosted ?? this.transport.parties);
    for (const h of this.hosted) this.party(h);
    const servers = SERVERS.filter((s) => this.hosted.has(s));
    for (const s of servers) this.party(s).crypto = this.provider;
    this.#isFork = fork !== undefined;
    this.#forked = fork?.forked ?? new ForkedIndices();
    this.#nextOp = (fork?.opBase ?? 0) + 1;
    this.#lastOp = (fork?.opBase ?? 0) + OPS_PER_SESSION - 1;
    this.#ready = fork?.ready ?? Promise.all(servers.map((s) => this.inParty(s, () => this.provider.setup(this.party(s))))).then(() => undefined);
    this.#ready.catch(() => undefined);
  }

  /**
   * A session on the same setup (seeds and provider) over another transport: its op ids, and so
   * its nonces, live in session `index`'s own range, so sessions never reuse a mask. Every party
   * must give the same session the same index (server0 assigns them).
   */
  fork(transport: Transport, index: number, opts: ForkOptions = {}): Cluster {
    if (!Number.isInteger(index) || index < 1 || index > MAX_SESSIONS) throw new RangeError(`session index ${index} is outside [1, ${MAX_SESSIONS}]`);
    // A compute server's session on an index it ran already would draw that session's masks again
    // (its nonces are the index's), and two of its openings would give the difference of two
    // secrets. server2 alone may: it runs a pooled index online again when its recording failed,
    // dealing the same values (its sends carry nothing of the inputs).
    // (`dealerOnly`: a session only server2's part of runs, the pool's recording.)
    if (!opts.dealerOnly && (this.hosted.has(SERVER0) || this.hosted.has(SERVER1))) this.#forked.take(index);
    const players = opts.players ?? transport.parties.filter((p) => !SERVERS.includes(p));
    const mine: Pick<Cluster, keyof ProtocolOptions> = this;
    const options = Object.fromEntries(OPTION_SPECS.map((s) => [s.name, opts[s.name] ?? mine[s.name]])) as ProtocolOptions;
    return new Cluster(
      { players, fixedPoint: this.fixed, provider: this.provider, precompute: this.precompute, protocol: opts.protocol ?? this.protocol, ...options, fssCompactFrom: opts.fssCompactFrom ?? this.fssCompactFrom, securennDrelu: opts.securennDrelu ?? this.securennDrelu, transport, hosted: [...this.hosted] },
      { ready: this.#ready, opBase: index * OPS_PER_SESSION, device: this.device, forked: this.#forked },
    );
  }

  /** The protocol ops on this cluster's tensors use; tfe.setProtocol changes it. */
  get protocol(): ProtocolName {
    return this.#protocol;
  }

  set protocol(name: ProtocolName) {
    this.#protocol = checkProtocol(name, 'Cluster');
    for (const p of this.parties.values()) p.protocol = name;
  }

  /** The form of FSS's gates (ClusterOptions.fssGate). */
  get fssGate(): FssGate {
    return this.#fssGate;
  }

  set fssGate(form: FssGate) {
    this.#fssGate = checkFssGate(form, 'Cluster');
    for (const p of this.parties.values()) p.fssGate = form;
  }

  /** From how many elements 'auto' and 'folded' gates take the compact form (ClusterOptions.fssCompactFrom; undefined: FSS_STEPS.compactFrom). */
  get fssCompactFrom(): number | undefined {
    return this.#fssCompactFrom;
  }

  set fssCompactFrom(n: number | undefined) {
    if (n !== undefined && !(Number.isSafeInteger(n) && n >= 1)) throw new RangeError(`Cluster: fssCompactFrom must be a whole number of elements >= 1, got ${n}`);
    this.#fssCompactFrom = n;
    for (const p of this.parties.values()) p.fssCompactFrom = n;
  }

  /** The width of FSS's comparisons (ClusterOptions.fssBits). */
  get fssBits(): number {
    return this.#fssBits;
  }

  set fssBits(n: number) {
    this.#fssBits = checkFssBits(n, 'Cluster');
    for (const p of this.parties.values()) p.fssBits = n;
  }

  /** How SecureNN computes DReLU (ClusterOptions.securennDrelu). */
  get securennDrelu(): SecureNNDrelu {
    return this.#securennDrelu;
  }

  set securennDrelu(form: SecureNNDrelu) {
    this.#securennDrelu = checkSecureNNDrelu(form, 'Cluster');
    for (const p of this.parties.values()) p.securennDrelu = form;
  }

  /** Resolves once setup (seed exchange) is done. */
  ready(): Promise<void> {
    return this.#ready;
  }

  party(name: PartyName): Party {
    const p = this.parties.get(name);
    if (!p) throw new Error(`unknown player '${name}' (parties: ${[...this.parties.keys()].join(', ')})`);
    return p;
  }

  /**
   * A fresh op context. Ids are handed out in program order, so every party agrees on them;
   * `gateBound` bounds the op's comparison inputs (OpCtx.gateBound).
   */
  nextOp(name: string, gateBound?: bigint): OpCtx {
    if (this.#nextOp > this.#lastOp) throw new Error(`this session has used all of its ${OPS_PER_SESSION - 1} op ids`);
    const op: OpCtx = gateBound === undefined ? { id: this.#nextOp++, name } : { id: this.#nextOp++, name, gateBound };
    if (this.#internal > 0) op.internal = true;
    return op;
  }

  /**
   * Runs `define` (which defines ops: their ids are taken as it runs, synchronously) with every op
   * it defines marked internal (OpCtx.internal): for a computation whose comparisons take values
   * the library makes, as LayerNormalization's and softmax's do.
   */
  internalOps<T>(define: () => T): T {
    this.#internal++;
    try {
      return define();
    } finally {
      this.#internal--;
    }
  }

  /**
   * Runs fn concurrently on the servers (and on every player when `withPlayers`), after setup,
   * and returns each party's result. Parties left out get no entry.
   */
  async run<T>(op: OpCtx, fn: (p: Party, op: OpCtx) => Promise<T>, withPlayers = false): Promise<Map<PartyName, T>> {
    await this.#ready;
    const names = (withPlayers ? [...this.parties.keys()] : [...SERVERS]).filter((n) => this.hosted.has(n));
    const results = await Promise.all(names.map((n) => this.inParty(n, () => fn(this.party(n), op))));
    return new Map(names.map((n, i) => [n, results[i]]));
  }

  /** Runs fn on one party (after setup). */
  async runOn<T>(name: PartyName, op: OpCtx, fn: (p: Party, op: OpCtx) => Promise<T>): Promise<T> {
    if (!this.hosted.has(name)) throw new Error(`${name} is not hosted by this process`);
    await this.#ready;
    return this.inParty(name, () => fn(this.party(name), op));
  }

  /** Runs fn with the party's backend as the default, so the tensors it makes land on its stream. */
  inParty<T>(name: PartyName, fn: () => T): T {
    return withBackend(this.party(name).backend, fn);
  }

  async close(): Promise<void> {
    await this.transport.close();
    // A fork shares its root's provider (and setup): only the root's close ends them.
    if (!this.#isFork) this.provider.release?.();
  }
}
