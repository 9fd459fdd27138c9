// What one server lets clients use, checked before any work is done for them: the size of what a
// request declares (shapes, batch, an estimate of the memory the query will need), how many of
// its requests run or wait at once (per client connection and in total), and what error text
// reaches a client (no server paths). The counters are also what the operator's status shows.
import { describeInput, hasInputs, type InputSpec, sharedInputShape } from '../api/input_encoding';
import type { ModelTopology } from '../api/layers_spec';
import type { ProtocolOptions } from '../protocol/protocol_options';
import type { PartyName } from '../net/transport';
import type { ProtocolName } from './messages';
import { estimateQueryBytes, PER_QUERY, servedOptions } from './query_memory';

export { estimateQueryBytes } from './query_memory';

/** How long a stopping server lets the queries in flight finish (SIGTERM; a second one stops it at once). */
export const STOP_GRACE_MS = 30_000;

/** The limits of cluster.json (see docs/service.md, "Limits"). */
export interface ServiceLimits {
  /** Largest input or deploy a client may send, in bytes of shares. */
  maxInputBytes: number;
  /** Largest batch (first dimension) of one prediction. */
  maxBatch: number;
  /** Largest estimated memory one query may need on a server. */
  maxQueryBytes: number;
  /** Estimated memory of all the queries a server runs at once. */
  maxTotalQueryBytes: number;
  /** Requests running or waiting on one server, from all clients together. */
  maxSessions: number;
  /** Requests running or waiting on one server from one client connection. */
  maxSessionsPerClient: number;
  /** Requests whose other half (server0's go-ahead, or the client's request) has not come. */
  maxPendingRequests: number;
  /**
   * The most of maxSessions, maxTotalQueryBytes and server0's leases that the clients of one
   * address (an IPv6 address's /64) may hold together, in percent: never less than one client
   * connection's own bound. Anonymous clients are counted per connection, and one host may open
   * many: without it, one address could hold every place. (Requests waiting for a go-ahead are
   * shared by pushing out instead, when the server is full: SessionAccounting.admit.)
   */
  maxAddressPercent: number;
  /**
   * Queries dealt ahead (reserved by server0, dealt and shipped by server2), over all models and
   * batch sizes. Their bytes are bounded by maxQueryBytes; this bounds their number.
   */
  maxPoolRecordings: number;
}

export const DEFAULT_LIMITS: ServiceLimits = {
  maxInputBytes: 64 << 20,
  maxBatch: 1024,
  maxQueryBytes: 1 << 30,
  maxTotalQueryBytes: 4 * 2 ** 30,
  maxSessions: 64,
  maxSessionsPerClient: 8,
  maxPendingRequests: 32,
  maxAddressPercent: 50,
  // server2 keeps nothing of a run ahead once shipped, so the count only bounds bookkeeping: room
  // for 64 models at the default depth of 8 (64 had the ninth model deployed find none).
  maxPoolRecordings: 512,
};

/** [min, max] accepted for each limit in cluster.json. */
export const LIMIT_RANGES: Record<keyof ServiceLimits, [number, number]> = {
  maxInputBytes: [1024, 2 ** 31],
  maxBatch: [1, 1 << 20],
  maxQueryBytes: [1 << 20, 2 ** 40],
  maxTotalQueryBytes: [1 << 20, 2 ** 42],
  maxSessions: [1, 100_000],
  maxSessionsPerClient: [1, 100_000],
  maxPendingRequests: [1, 100_000],
  maxAddressPercent: [1, 100],
  maxPoolRecordings: [0, 100_000],
};

const MiB = (b: number) => `${(b / 2 ** 20).toFixed(b < 2 ** 20 ? 2 : 0)} MiB`;
const count = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

// ---------- the memory a query needs (query_memory.ts) and the pool ----------

type PooledModel = Parameters<typeof estimateQueryBytes>[0];

/**
 * How many queries of `batch` rows of a model the offline pool may hold ahead. Batch 1:
 * `precomputePool`. A larger batch: one, the next query of the batch size a client last ran
 * (reservations.ts), so a client's query never has server2 deal more than one query ahead. Either way
 * no more than fit in `maxQueryBytes` together on each compute server, whose mailbox holds its
 * side of every pooled query (server2 sends each message as it deals it and keeps none). What a
 * pooled query holds there before it runs is less than its estimate without the per-query
 * overhead: FSS's DCF keys make that large (about 0.2 GiB per CIFAR ResNet-20 query, 1.7 GiB
 * for a batch of 128 MNIST images through network C_max), where MNIST-sized batch-1 queries
 * keep the full depth. 0: that batch size is not pooled.
 */
export function poolDepth(limits: ServiceLimits & { precomputePool: number }, m: PooledModel, batch = 1): number {
  const depth = batch === 1 ? limits.precomputePool : Math.min(1, limits.precomputePool);
  return Math.min(depth, Math.floor(limits.maxQueryBytes / pooledBytes(m, batch)));
}

/**
 * What one pooled query of `batch` rows holds ahead on each compute server, bounded above by its
 * estimate without the per-query overhead (which also counts the query's own tensors). The pool
 * as a whole, every model and batch size together, holds at most `maxQueryBytes` of it on each
 * compute server (PoolReservations.reserve in reservations.ts).
 */
export function pooledBytes(m: PooledModel, batch: number): number {
  return Math.max(1, estimateQueryBytes(m, batch) - PER_QUERY);
}

// ---------- sessions a server holds for clients ----------

interface Held {
  client: PartyName;
  /** The client's address group (ws_endpoint.ts clientGroup); undefined: not counted per address. */
  group?: string;
  bytes: number;
}

/** What the clients of one address may hold together of a server-wide bound `total` (maxAddressPercent), never less than `floor`: one client's own bound. */
export function addressShare(total: number, percent: number, floor: number): number {
  return Math.max(floor, Math.floor((total * percent) / 100));
}

/**
 * A refusal for a server's load: its text for the client leaves out what other clients hold (how
 * many requests, how much memory), which only the server's log gets (`detail`). With the numbers,
 * an anonymous client could read another's batch size off one refusal.
 */
export class BusyError extends Error {
  constructor(forClient: string, readonly detail: string) {
    super(forClient);
  }
}

/** Counts what each client has running or waiting here, and refuses what would exceed a limit. */
export class SessionAccounting {
  #held = new Map<string, Held>();
  #pending = new Set<string>();
  #refused = 0;
  // Running totals of #held and #pending, so that an admission costs the same at 100000 sessions
  // as at 10 (each was a walk over every held request, several per admission).
  #bytes = 0;
  #perClient = new Map<PartyName, number>();
  #perGroup = new Map<string, { n: number; bytes: number }>();
  #waitingPerGroup = new Map<string, number>();

  constructor(private readonly limits: ServiceLimits) {}

  /**
   * Admits a session (throws, naming the limit, when it cannot be): `bytes` is its estimated
   * memory; `pending` marks a request still waiting for its other half; `group`, the client's
   * address group, whose clients together hold at most maxAddressPercent of the requests and of
   * the memory. Returns a waiting request it pushed out to make room (released here; the caller
   * refuses it to its client), if any: when a server-wide bound (maxSessions, maxPendingRequests,
   * maxTotalQueryBytes) is what refuses it, a request from an address that holds fewer waiting
   * requests takes the place of the oldest of the address that holds the most (#evictable).
   */
  admit(session: string, client: PartyName, bytes: number, pending: boolean, group?: string): string | undefined {
    const l = this.limits;
    // The running totals would keep a NaN for good (and so stop bounding memory): an estimate
    // that is not a number is this server's bug, refused rather than counted.
    if (!Number.isFinite(bytes) || bytes < 0) throw new Error(`internal error: a request's memory estimate is ${bytes} bytes`);
    const fail = (msg: string, detail?: string) => {
      this.#refused++;
      throw detail === undefined ? new Error(msg) : new BusyError(msg, detail);
    };
    const mine = this.#perClient.get(client) ?? 0;
    if (mine >= l.maxSessionsPerClient) fail(`this client already has ${mine} requests in flight (limit maxSessionsPerClient = ${l.maxSessionsPerClient}); wait for one to finish`);
    // The server-wide bounds, counted without `victim` (a waiting request to push out).
    const over = (victim?: string) => {
      const v = victim === undefined ? undefined : this.#held.get(victim);
      const sessions = this.#held.size - (v ? 1 : 0), waiting = this.#pending.size - (v ? 1 : 0), inUse = this.#bytes - (v?.bytes ?? 0);
      if (sessions >= l.maxSessions) return { msg: `the server is busy: it has as many requests in flight as it takes (maxSessions = ${l.maxSessions}); retry later`, detail: `${sessions} requests in flight (maxSessions = ${l.maxSessions})` };
      if (pending && waiting >= l.maxPendingRequests)
        return { msg: `the server is busy: as many requests as it takes are waiting to start (maxPendingRequests = ${l.maxPendingRequests}); retry later`, detail: `${waiting} requests waiting to start (maxPendingRequests = ${l.maxPendingRequests})` };
      if (bytes > 0 && inUse + bytes > l.maxTotalQueryBytes)
        return {
          msg: `the server is busy: this query needs about ${MiB(bytes)}, more than the queries running now leave of ${MiB(l.maxTotalQueryBytes)} (maxTotalQueryBytes); retry later`,
          detail: `a query of about ${MiB(bytes)} with ${MiB(inUse)} of ${MiB(l.maxTotalQueryBytes)} (maxTotalQueryBytes) in use`,
        };
      return undefined;
    };
    const refusal = over();
    const evict = refusal ? this.#evictable(group) : undefined;
    const still = evict === undefined ? refusal : over(evict);
    if (still) fail(still.msg, still.detail);
    // Then the address's share (at 100% the server's bounds above are all of it).
    if (group !== undefined && l.maxAddressPercent < 100) this.#checkAddress(group, bytes, fail);
    if (evict !== undefined) {
      this.release(evict);
      this.#refused++; // it is refused, late
    }
    this.#add(session, { client, group, bytes }, pending);
    return evict;
  }

  #add(session: string, h: Held, pending: boolean): void {
    this.#held.set(session, h);
    this.#bytes += h.bytes;
    this.#perClient.set(h.client, (this.#perClient.get(h.client) ?? 0) + 1);
    if (h.group !== undefined) {
      const g = this.#perGroup.get(h.group) ?? { n: 0, bytes: 0 };
      this.#perGroup.set(h.group, { n: g.n + 1, bytes: g.bytes + h.bytes });
    }
    if (pending) this.#setWaiting(session, h, true);
  }

  /** Marks a held session waiting or not, keeping its group's count of waiting requests. */
  #setWaiting(session: string, h: Held, waiting: boolean): void {
    if (waiting === this.#pending.has(session)) return;
    if (waiting) this.#pending.add(session);
    else this.#pending.delete(session);
    if (h.group === undefined) return;
    const n = (this.#waitingPerGroup.get(h.group) ?? 0) + (waiting ? 1 : -1);
    if (n > 0) this.#waitingPerGroup.set(h.group, n);
    else this.#waitingPerGroup.delete(h.group);
  }

  /**
   * With a server-wide bound reached: the oldest waiting request of the address group that holds
   * the most of them, if it holds more than `group` would with one more (so waiting requests end
   * shared evenly between the addresses that send them, and one address alone may use every
   * place); undefined: none. Waiting requests only: they have not started, and their clients are
   * told to retry.
   */
  #evictable(group: string | undefined): string | undefined {
    if (group === undefined) return undefined;
    const count = this.#waitingPerGroup;
    let most = 0;
    for (const n of count.values()) most = Math.max(most, n);
    if (most <= (count.get(group) ?? 0) + 1) return undefined;
    // The oldest waiting request of a group that holds the most (of those tied, the one whose
    // request has waited longest): the set keeps arrival order.
    for (const s of this.#pending) {
      const g = this.#held.get(s)?.group;
      if (g !== undefined && count.get(g) === most) return s;
    }
    return undefined;
  }

  /**
   * The bounds of one address group: its clients' requests and their memory estimates, each at
   * most maxAddressPercent of the server's. The text a client gets names the limit only: how much
   * the others of its address hold is the log's.
   */
  #checkAddress(group: string, bytes: number, fail: (msg: string, detail: string) => never): void {
    const l = this.limits, pct = l.maxAddressPercent;
    const { n, bytes: held } = this.#perGroup.get(group) ?? { n: 0, bytes: 0 };
    const maxN = addressShare(l.maxSessions, pct, l.maxSessionsPerClient);
    if (n >= maxN) fail(`the clients of this address already have as many requests in flight as one address may (maxAddressPercent = ${pct}% of maxSessions); wait for one to finish`, `${n} requests in flight from ${group} (${maxN} per address, maxAddressPercent)`);
    const maxBytes = addressShare(l.maxTotalQueryBytes, pct, l.maxQueryBytes);
    if (bytes > 0 && held + bytes > maxBytes)
      fail(
        `the clients of this address already run queries of as much memory as one address may (maxAddressPercent = ${pct}% of maxTotalQueryBytes): this one needs about ${MiB(bytes)}; retry later`,
        `a query of about ${MiB(bytes)} from ${group}, whose queries hold ${MiB(held)} of ${MiB(maxBytes)} per address (maxAddressPercent)`,
      );
  }

  /** The session's other half came: it runs now. */
  started(session: string): void {
    const h = this.#held.get(session);
    if (h) this.#setWaiting(session, h, false);
    else this.#pending.delete(session);
  }

  release(session: string): void {
    const h = this.#held.get(session);
    if (!h) return void this.#pending.delete(session);
    this.#setWaiting(session, h, false);
    this.#held.delete(session);
    this.#bytes -= h.bytes;
    const c = this.#perClient.get(h.client)! - 1;
    if (c > 0) this.#perClient.set(h.client, c);
    else this.#perClient.delete(h.client);
    if (h.group === undefined) return;
    const g = this.#perGroup.get(h.group)!;
    if (g.n > 1) this.#perGroup.set(h.group, { n: g.n - 1, bytes: g.bytes - h.bytes });
    else this.#perGroup.delete(h.group);
  }

  has(session: string): boolean {
    return this.#held.has(session);
  }

  /** Estimated bytes of everything admitted. */
  get bytes(): number {
    return this.#bytes;
  }

  counters(): { sessions: number; pending: number; clients: number; estimatedBytes: number; refused: number } {
    return { sessions: this.#held.size, pending: this.#pending.size, clients: this.#perClient.size, estimatedBytes: this.#bytes, refused: this.#refused };
  }
}

// ---------- checks of what a request declares ----------

/** Refuses a prediction whose batch or estimated memory is over the limits, naming both. */
export function checkQuerySize(limits: ServiceLimits, model: string, bytes: number, batch: number): void {
  if (batch > limits.maxBatch) throw new Error(`a batch of ${batch} is over the limit of ${limits.maxBatch} (maxBatch); split it into smaller queries`);
  if (bytes > limits.maxQueryBytes)
    throw new Error(`a batch of ${batch} on model '${model}' needs about ${MiB(bytes)} per server, over the limit of ${MiB(limits.maxQueryBytes)} (maxQueryBytes); use a smaller batch`);
}

/**
 * A prediction, from what it declares: the model exists, the input shape fits it, the input and
 * the query's estimated memory are within the limits. Returns the estimated bytes.
 */
export function checkPredictRequest(limits: ServiceLimits, m: ({ topology: ModelTopology; protocol: ProtocolName; spec: InputSpec } & ProtocolOptions) | undefined, req: { model: string; shape: number[] }, deployed: () => string[]): number {
  if (!m) throw new Error(`unknown model '${req.model}' (deployed: ${deployed().join(', ') || 'none'})`);
  // What the client shares: token ids arrive one-hot, [batch, T, V]; nothing is allocated for an
  // input until its shares are checked against this shape (programs.ts, receiveInputs).
  const want = sharedInputShape(m.spec);
  if (req.shape.length !== want.length + 1 || req.shape.slice(1).some((d, i) => d !== want[i]))
    throw new Error(`model '${req.model}' takes ${m.spec.inputEncoding ? describeInput(m.spec) : hasInputs(m.spec) ? `inputs of shape [batch, ${want}] (${describeInput(m.spec)})` : `inputs of shape ${describeInput(m.spec)}`}, got [${req.shape}]`);
  const input = 8 * req.shape.reduce((a, b) => a * b, 1);
  if (input > limits.maxInputBytes) throw new Error(`an input of shape [${req.shape}] is ${input} bytes, over the limit of ${limits.maxInputBytes} (maxInputBytes)`);
  const bytes = estimateQueryBytes({ topology: m.topology, ...servedOptions(m), inputShape: want }, req.shape[0]);
  checkQuerySize(limits, req.model, bytes, req.shape[0]);
  return bytes;
}

/** A model's final activations: the single output's, or each output's. */
export type FinalsOf = { finalActivation?: string; outputs?: readonly { finalActivation?: string }[] };

/** What a client that names no finals applies: every release before `finals` was sent. */
const EARLIER_FINALS: readonly string[] = ['softmax', 'sigmoid'];

/**
 * A client must apply the model's final activations itself: one that does not know them would
 * take the logits it reconstructs for the answer (an exponential model's log-rates as its rates).
 * Refused with a client's prediction request (server.ts), before any work, naming what the
 * client lacks; not where a server checks a lease's shape (server_leases.ts), which no client sent.
 */
export function checkClientApplies(model: string, spec: FinalsOf, finals: readonly string[] | undefined): void {
  const applies = finals ?? EARLIER_FINALS;
  const missing = [spec.finalActivation, ...(spec.outputs ?? []).map((o) => o.finalActivation)].find((f) => f && !applies.includes(f));
  if (missing)
    throw new Error(
      `model '${model}' ends with ${missing}, which this client does not apply (${finals ? `it applies ${finals.join(', ') || 'none'}` : 'a client of an earlier release: softmax and sigmoid only'}); it would read the answers as logits: update the client`,
    );
}

/**
 * A deploy's size, from what it declares: its shares within maxInputBytes, one prediction of it
 * within maxQueryBytes. Returns the bytes the deploy will hold here.
 */
export function checkDeploySize(limits: ServiceLimits, req: { topology: ModelTopology; protocol: ProtocolName; weights: { shape: number[] }[] } & ProtocolOptions, spec: InputSpec & { params?: readonly { shape: readonly number[] }[] }): number {
  // What is shared is the model's parameters (spec.params): its manifest's weights, and the
  // kernels the owner derives from them (dilated, grouped, depthwise expanded: layers_conv.ts),
  // which a layer's settings can make far larger than the weights they come from.
  const asShares = (ws: readonly { shape: readonly number[] }[]) => 8 * ws.reduce((a, w) => a + count(w.shape), 0);
  const declared = asShares(req.weights);
  const weights = spec.params ? asShares(spec.params) : declared;
  if (declared > limits.maxInputBytes) throw new Error(`the model's weights are ${declared} bytes as shares, over the limit of ${limits.maxInputBytes} (maxInputBytes)`);
  if (weights > limits.maxInputBytes)
    throw new Error(`the model's parameters are ${weights} bytes as shares, with the kernels derived from its layers' dilations, groups and depth multipliers (its weights alone: ${declared}), over the limit of ${limits.maxInputBytes} (maxInputBytes)`);
  // A model no client could send one example to (a vocabulary of V costs V values per token) is
  // refused now, not at every query.
  const inputShape = sharedInputShape(spec), input = 8 * count(inputShape);
  if (input > limits.maxInputBytes)
    throw new Error(`one example of this model's input, ${describeInput(spec)}, is ${input} bytes as shares, over the limit of ${limits.maxInputBytes} (maxInputBytes)${spec.inputEncoding ? ': the one-hot costs V values per token; use a smaller vocabulary or shorter sequences' : ''}`);
  const one = estimateQueryBytes({ topology: req.topology, ...servedOptions(req), inputShape }, 1);
  if (one > limits.maxQueryBytes) throw new Error(`one prediction of this model would need about ${MiB(one)} per server, over the limit of ${MiB(limits.maxQueryBytes)} (maxQueryBytes)`);
  return 3 * weights;
}

/** A message fit for a client: absolute server paths replaced (the operator's log keeps them). */
export function forClient(message: string): string {
  return message.replace(/(^|[\s'"`(=])(?:[A-Za-z]:\\|\/)(?:[^\s'"`,;:()[\]/\\]+[/\\])+[^\s'"`,;:()[\]]*/g, '$1<server path>');
}
