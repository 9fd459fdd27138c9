// A session's parties. In-process, all of them live here and every op runs on all of them at
// once (each party's kernels on the native thread pool); in the service, each server process
// holds one Party and runs the same protocol functions.
import type { PartyName, Transport } from '../net/transport';
import { MemoryTransport } from '../net/memory_transport';
import { type CorrelatedRandomness, SeededProvider } from './correlated';
import { DEFAULT_FIXED_POINT, type FixedPointConfig, type OpCtx, Party, SERVERS } from './party';

export const DEFAULT_PLAYERS: readonly PartyName[] = ['model-owner', 'prediction-client', 'input-provider', 'output-receiver'];

export interface ClusterOptions {
  /** Input and output players besides the three servers. */
  players?: readonly PartyName[];
  fixedPoint?: Partial<FixedPointConfig>;
  /** Correlated randomness; default: seed-compressed triples from server2. */
  provider?: CorrelatedRandomness;
  /**
   * Precompute mode (default on): server2 deals each op's correlated randomness as soon as the
   * op is issued, from public information only (nonces and shapes), before its inputs exist, so
   * triple generation stays off the online path. Off: server2 deals when the inputs are ready.
   */
  precompute?: boolean;
  /** 'pond' (default) or 'securenn' (Pond plus exact comparisons with server2 as helper). */
  protocol?: 'pond' | 'securenn';
  /** The transport (default: in-memory). It must know the three servers and the players. */
  transport?: Transport;
}

export class Cluster {
  readonly transport: Transport;
  readonly parties: ReadonlyMap<PartyName, Party>;
  readonly fixed: FixedPointConfig;
  readonly provider: CorrelatedRandomness;
  readonly precompute: boolean;
  /** The protocol ops on this cluster's tensors use; tfe.setProtocol changes it. */
  protocol: 'pond' | 'securenn';
  #nextOp = 1;
  #ready: Promise<void>;

  constructor(opts: ClusterOptions = {}) {
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
    this.parties = new Map(this.transport.parties.map((n) => [n, new Party(n, this.transport, this.fixed)]));
    this.provider = opts.provider ?? new SeededProvider();
    this.precompute = opts.precompute ?? true;
    this.protocol = opts.protocol ?? 'pond';
    if (this.protocol !== 'pond' && this.protocol !== 'securenn')
      throw new TypeError(`protocol must be 'pond' or 'securenn', got ${JSON.stringify(this.protocol)}`);
    for (const s of SERVERS) this.party(s).crypto = this.provider;
    this.#ready = Promise.all(SERVERS.map((s) => this.provider.setup(this.party(s)))).then(() => undefined);
    this.#ready.catch(() => undefined);
  }

  party(name: PartyName): Party {
    const p = this.parties.get(name);
    if (!p) throw new Error(`unknown player '${name}' (parties: ${[...this.parties.keys()].join(', ')})`);
    return p;
  }

  /** A fresh op context. Ids are handed out in program order, so every party agrees on them. */
  nextOp(name: string): OpCtx {
    return { id: this.#nextOp++, name };
  }

  /**
   * Runs fn concurrently on the servers (and on every player when `withPlayers`), after setup,
   * and returns each party's result. Parties left out get no entry.
   */
  async run<T>(op: OpCtx, fn: (p: Party, op: OpCtx) => Promise<T>, withPlayers = false): Promise<Map<PartyName, T>> {
    await this.#ready;
    const names = withPlayers ? [...this.parties.keys()] : [...SERVERS];
    const results = await Promise.all(names.map((n) => fn(this.party(n), op)));
    return new Map(names.map((n, i) => [n, results[i]]));
  }

  /** Runs fn on one party (after setup). */
  async runOn<T>(name: PartyName, op: OpCtx, fn: (p: Party, op: OpCtx) => Promise<T>): Promise<T> {
    await this.#ready;
    return fn(this.party(name), op);
  }

  async close(): Promise<void> {
    await this.transport.close();
  }
}
