// What one server lets clients use, checked before any work is done for them: the size of what a
// request declares (shapes, batch, an estimate of the memory the query will need), how many of
// its requests run or wait at once (per client connection and in total), and what error text
// reaches a client (no server paths). The counters are also what the operator's status shows.
import { describeInput, type InputSpec, sharedInputShape } from '../api/input_encoding';
import type { ModelTopology } from '../api/layers_spec';
import { takesCompactForm } from '../protocol/fss/steps';
import type { FssGate } from '../protocol/protocols';
import type { PartyName } from '../net/transport';
import type { ProtocolName } from './messages';

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
  maxPoolRecordings: [0, 100_000],
};

const MiB = (b: number) => `${(b / 2 ** 20).toFixed(b < 2 ** 20 ? 2 : 0)} MiB`;
const count = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

// ---------- the memory a query needs ----------

/*
 * Every tensor a query makes lives until its answer is sent (programs.ts frees them together), so
 * a query's memory is about the sum over its layers of what each makes, per sample, times the
 * batch. Per element of a layer's output (8-byte ring elements, this server's share):
 *  - a product (Dense, Conv2D) keeps its output share, the masked operands and the triple parts;
 *    Conv2D also lays its input out as im2col patches (outH x outW x kh x kw x cin);
 *  - a polynomial keeps its powers and their products; under SecureNN a ReLU or a max-pool
 *    comparison works on the 64 bits of each element.
 * The factors are calibrated against measured server peaks (bench/RESULTS.md, "Hostile clients")
 * and err on the high side: an estimate refuses a query, it never lets one through that is known
 * not to fit.
 */
const PER_INPUT = 6;
const PER_PRODUCT = 4;
const PER_IM2COL = 2;
const PER_POLY = 6;
const PER_LINEAR = 2;
const PER_SECURENN_COMPARE = 200;
/**
 * FSS: a DCF key per relu element, and the evaluation's temporaries: the one-round gate's
 * two-payload key (257 words) or the compact gate's one-bit key (117 words), as the model's gate
 * form picks for the gate's size (takesCompactForm in lib/protocol/fss/steps.ts).
 */
const PER_FSS_COMPARE = 257 + 24;
const PER_FSS_COMPACT = 117 + 24;
/** What any query costs besides its tensors (buffers, V8's heap steps). */
const PER_QUERY = 24 << 20;

interface LayerCfg {
  class_name: string;
  config: Record<string, unknown>;
}

function layersOf(topo: ModelTopology): { layers: LayerCfg[]; chain: boolean } {
  const cfg = topo.model_config ? topo.model_config.config : topo.config;
  const layers = Array.isArray(cfg) ? cfg : cfg?.layers;
  // A Sequential model is a chain: each layer's only reader is the next one.
  const chain = Array.isArray(cfg) || (topo.model_config?.class_name ?? topo.class_name) === 'Sequential';
  return { layers: (layers ?? []) as unknown as LayerCfg[], chain };
}

const pair = (v: unknown, d: number): [number, number] => (Array.isArray(v) ? [Number(v[0]), Number(v[1])] : v === undefined || v === null ? [d, d] : [Number(v), Number(v)]);
const int1d = (v: unknown, d: number): number => Number(Array.isArray(v) ? v[0] : (v ?? d));

function window(s: number[], size: [number, number], strides: [number, number], padding: unknown): [number, number] {
  const same = String(padding ?? 'valid').toLowerCase() === 'same';
  const out = (n: number, k: number, st: number) => Math.max(1, same ? Math.ceil(n / st) : Math.floor((n - k) / st) + 1);
  return [out(s[0], size[0], strides[0]), out(s[1], size[1], strides[1])];
}

const MAX_POOLS = new Set(['MaxPooling2D', 'MaxPooling1D', 'GlobalMaxPooling2D', 'GlobalMaxPooling1D']);

/**
 * Piecewise sigmoid, tanh, swish, softplus, elu, selu, gelu and mish (lib/api/ops_smooth.ts): |x|
 * from a relu, the clamp at the last knot, and one comparison per inner knot.
 */
const SMOOTH_GATES = 7;

/**
 * Comparison gates per element of a layer's activation (relu6: two relus), 0 for none. A softmax
 * or sigmoid on the output is the client's, but the walk does not know which layer is the output:
 * counted, on the high side.
 */
function gatesOf(cls: string, c: Record<string, unknown>): number {
  if (cls === 'ReLU') return c.max_value ?? c.maxValue ? 2 : 1;
  if (cls === 'LeakyReLU') return 1;
  if (cls === 'PReLU') return 2;
  if (cls === 'ELU') return SMOOTH_GATES;
  const a = c.activation;
  if (a === 'relu' || a === 'leaky_relu') return 1;
  if (['relu6', 'hard_sigmoid', 'hard_silu', 'hard_swish', 'hard_tanh', 'soft_shrink'].includes(String(a))) return 2;
  return ['sigmoid', 'tanh', 'tanh_shrink', 'log_sigmoid', 'swish', 'silu', 'softplus', 'elu', 'celu', 'selu', 'gelu', 'gelu_new', 'mish'].includes(String(a)) ? SMOOTH_GATES : 0;
}

/** The activation runs after the max pool that reads it (lib/api/layers_spec.ts, poolFirst). */
function movesPastPool(cls: string, c: Record<string, unknown>): boolean {
  if (cls === 'ReLU') return true; // its negative_slope is >= 0 (others are refused)
  if (cls === 'LeakyReLU') return Number(c.alpha ?? c.negative_slope ?? 0.3) >= 0;
  return c.activation === 'relu' || c.activation === 'relu6' || c.activation === 'leaky_relu';
}

/**
 * Estimated bytes one server needs for a query of `batch` samples of a model (see above). The
 * model's own shares are not counted: they are resident whether or not anyone asks. `inputShape`
 * is the shared input's (sharedInputShape: token ids count V values each, their one-hot).
 */
export function estimateQueryBytes(m: { topology: ModelTopology; protocol: ProtocolName; fssGate?: FssGate; inputShape: readonly number[] }, batch: number): number {
  let s = [...m.inputShape];
  let elements = PER_INPUT * count(s); // received bytes, the share, its masked copies
  // SecureNN's comparisons run one layer at a time with server2 in the loop, and each frees its
  // bit-level temporaries before the next: the largest counts, not their sum (a 19-relu CIFAR
  // ResNet-20 was estimated 7x its measured peak by the sum). FSS keys are summed: server2 deals
  // ahead, so the compute servers may hold several layers' keys at once.
  let compareMax = 0;
  const nonlinear = (n: number): number => {
    if (m.protocol === 'fss') return (takesCompactForm(m.fssGate ?? 'auto', n * batch) ? PER_FSS_COMPACT : PER_FSS_COMPARE) * n;
    if (m.protocol !== 'securenn') return PER_POLY * n;
    compareMax = Math.max(compareMax, PER_SECURENN_COMPARE * n);
    return 0;
  };
  const { layers, chain } = layersOf(m.topology);
  // An activation the next layer (its only reader, in a chain) pools first: counted on the pooled shape.
  let deferred = 0;
  const activation = (i: number) => {
    const { class_name: cls, config: c } = layers[i];
    const gates = gatesOf(cls, c);
    if (!gates) return;
    if (chain && MAX_POOLS.has(layers[i + 1]?.class_name) && movesPastPool(cls, c)) deferred = gates;
    else for (let g = 0; g < gates; g++) elements += nonlinear(count(s));
  };
  for (let i = 0; i < layers.length; i++) {
    const { class_name: cls, config: c } = layers[i];
    switch (cls) {
      // The one-hot input [.., V] (counted above, V per token) times the table [V, d]: a Dense.
      case 'Embedding':
      case 'Dense':
        s = [...s.slice(0, -1), Number(cls === 'Embedding' ? c.output_dim : c.units)];
        elements += PER_PRODUCT * count(s);
        activation(i);
        break;
      case 'Conv2D': {
        const k = pair(c.kernel_size, 1);
        const cin = s[2] ?? 1;
        const [oh, ow] = window(s, k, pair(c.strides, 1), c.padding);
        s = [oh, ow, Number(c.filters)];
        elements += PER_IM2COL * oh * ow * k[0] * k[1] * cin + PER_PRODUCT * count(s);
        activation(i);
        break;
      }
      case 'Conv1D': {
        const k = int1d(c.kernel_size, 1), cin = s[1] ?? 1;
        const [, ol] = window([1, s[0]], [1, k], [1, int1d(c.strides, 1)], c.padding);
        s = [ol, Number(c.filters)];
        elements += PER_IM2COL * ol * k * cin + PER_PRODUCT * count(s);
        activation(i);
        break;
      }
      case 'AveragePooling2D':
      case 'MaxPooling2D':
      case 'AveragePooling1D':
      case 'MaxPooling1D':
      case 'GlobalAveragePooling2D':
      case 'GlobalMaxPooling2D':
      case 'GlobalAveragePooling1D':
      case 'GlobalMaxPooling1D': {
        const before = count(s), ch = s[s.length - 1] ?? 1;
        if (cls.startsWith('Global')) s = [ch];
        else if (cls.endsWith('1D')) {
          const k = int1d(c.pool_size, 2);
          s = [window([1, s[0]], [1, k], [1, int1d(c.strides, k)], c.padding)[1], ch];
        } else {
          const size = pair(c.pool_size, 2);
          s = [...window(s, size, pair(c.strides ?? c.pool_size, 2), c.padding), ch];
        }
        elements += MAX_POOLS.has(cls) ? nonlinear(before) : PER_LINEAR * before;
        for (; deferred > 0; deferred--) elements += nonlinear(count(s));
        break;
      }
      case 'UpSampling2D': {
        const [sh, sw] = pair(c.size, 2);
        s = [(s[0] ?? 1) * sh, (s[1] ?? 1) * sw, s[2] ?? 1];
        elements += PER_LINEAR * count(s);
        break;
      }
      case 'Flatten':
        s = [count(s)];
        break;
      case 'Reshape':
        s = (c.target_shape as number[]).map(Number);
        break;
      case 'ReLU':
      case 'LeakyReLU':
      case 'PReLU':
      case 'ELU':
      case 'Activation':
        activation(i);
        break;
      case 'Maximum':
      case 'Minimum':
        // max(a, b) = b + relu(a - b) per pair: at least one comparison per element.
        elements += nonlinear(count(s));
        break;
      case 'TfePolynomial':
        elements += PER_POLY * count(s);
        break;
      case 'SimpleRNN':
      case 'LSTM':
      case 'GRU': {
        // lib/api/layers_recurrent.ts, per step: G u products of the state (and the gates' own on
        // u each), G u gate activations (LSTM and GRU) and one or two u-wide activations.
        const steps = s[0] ?? 1, u = Number(c.units), G = cls === 'LSTM' ? 4 : cls === 'GRU' ? 3 : 1;
        const gates = (a: unknown, n: number) => {
          for (let g = gatesOf('Activation', { activation: a ?? 'tanh' }); g > 0; g--) elements += nonlinear(n);
        };
        elements += PER_PRODUCT * steps * (2 * G * u + 3 * u);
        gates(c.activation, steps * (cls === 'LSTM' ? 2 : 1) * u);
        if (cls !== 'SimpleRNN') gates(c.recurrent_activation ?? 'hard_sigmoid', steps * (G - 1) * u);
        s = c.return_sequences === true ? [steps, u] : [u];
        break;
      }
      case 'LayerNormalization': {
        // Per row: 22 comparisons for the power-of-two scale and two clamps (lib/api/ops_norm.ts);
        // per element about ten products.
        const rows = count(s) / (s[s.length - 1] || 1);
        elements += nonlinear(24 * rows) + 10 * PER_LINEAR * count(s);
        break;
      }
      default:
        elements += PER_LINEAR * count(s);
    }
  }
  return PER_QUERY + 8 * batch * (elements + compareMax);
}

type PooledModel = { topology: ModelTopology; protocol: ProtocolName; fssGate?: FssGate; inputShape: readonly number[] };

/**
 * How many queries of `batch` rows of a model the offline pool may hold ahead. Batch 1:
 * `precomputePool`. A larger batch: one, the next query of the batch size a client last used
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
  bytes: number;
}

/** Counts what each client has running or waiting here, and refuses what would exceed a limit. */
export class SessionAccounting {
  #held = new Map<string, Held>();
  #pending = new Set<string>();
  #refused = 0;

  constructor(private readonly limits: ServiceLimits) {}

  /**
   * Admits a session (throws, naming the limit, when it cannot be): `bytes` is its estimated
   * memory; `pending` marks a request still waiting for its other half.
   */
  admit(session: string, client: PartyName, bytes: number, pending: boolean): void {
    const l = this.limits;
    const fail = (msg: string) => {
      this.#refused++;
      throw new Error(msg);
    };
    if (this.#held.size >= l.maxSessions) fail(`the server is busy: ${this.#held.size} requests in flight (limit maxSessions = ${l.maxSessions}); retry later`);
    let mine = 0;
    for (const h of this.#held.values()) if (h.client === client) mine++;
    if (mine >= l.maxSessionsPerClient) fail(`this client already has ${mine} requests in flight (limit maxSessionsPerClient = ${l.maxSessionsPerClient}); wait for one to finish`);
    if (pending && this.#pending.size >= l.maxPendingRequests) fail(`the server is busy: ${this.#pending.size} requests are waiting to start (limit maxPendingRequests = ${l.maxPendingRequests}); retry later`);
    const inUse = this.bytes;
    if (bytes > 0 && inUse + bytes > l.maxTotalQueryBytes)
      fail(`the server is busy: this query needs about ${MiB(bytes)} and ${MiB(inUse)} of ${MiB(l.maxTotalQueryBytes)} (maxTotalQueryBytes) are in use; retry later`);
    this.#held.set(session, { client, bytes });
    if (pending) this.#pending.add(session);
  }

  /** The session's other half came: it runs now. */
  started(session: string): void {
    this.#pending.delete(session);
  }

  release(session: string): void {
    this.#held.delete(session);
    this.#pending.delete(session);
  }

  has(session: string): boolean {
    return this.#held.has(session);
  }

  /** Estimated bytes of everything admitted. */
  get bytes(): number {
    let n = 0;
    for (const h of this.#held.values()) n += h.bytes;
    return n;
  }

  counters(): { sessions: number; pending: number; clients: number; estimatedBytes: number; refused: number } {
    return { sessions: this.#held.size, pending: this.#pending.size, clients: new Set([...this.#held.values()].map((h) => h.client)).size, estimatedBytes: this.bytes, refused: this.#refused };
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
export function checkPredictRequest(limits: ServiceLimits, m: { topology: ModelTopology; protocol: ProtocolName; fssGate?: FssGate; spec: InputSpec } | undefined, req: { model: string; shape: number[] }, deployed: () => string[]): number {
  if (!m) throw new Error(`unknown model '${req.model}' (deployed: ${deployed().join(', ') || 'none'})`);
  // What the client shares: token ids arrive one-hot, [batch, T, V]; nothing is allocated for an
  // input until its shares are checked against this shape (programs.ts, receiveInputs).
  const want = sharedInputShape(m.spec);
  if (req.shape.length !== want.length + 1 || req.shape.slice(1).some((d, i) => d !== want[i]))
    throw new Error(`model '${req.model}' takes ${m.spec.inputEncoding ? describeInput(m.spec) : `inputs of shape ${describeInput(m.spec)}`}, got [${req.shape}]`);
  const input = 8 * req.shape.reduce((a, b) => a * b, 1);
  if (input > limits.maxInputBytes) throw new Error(`an input of shape [${req.shape}] is ${input} bytes, over the limit of ${limits.maxInputBytes} (maxInputBytes)`);
  const bytes = estimateQueryBytes({ ...m, inputShape: want }, req.shape[0]);
  checkQuerySize(limits, req.model, bytes, req.shape[0]);
  return bytes;
}

/**
 * A deploy's size, from what it declares: its shares within maxInputBytes, one prediction of it
 * within maxQueryBytes. Returns the bytes the deploy will hold here.
 */
export function checkDeploySize(limits: ServiceLimits, req: { topology: ModelTopology; protocol: ProtocolName; fssGate?: FssGate; weights: { shape: number[] }[] }, spec: InputSpec): number {
  const weights = 8 * req.weights.reduce((a, w) => a + w.shape.reduce((x, y) => x * y, 1), 0);
  if (weights > limits.maxInputBytes) throw new Error(`the model's weights are ${weights} bytes as shares, over the limit of ${limits.maxInputBytes} (maxInputBytes)`);
  // A model no client could send one example to (a vocabulary of V costs V values per token) is
  // refused now, not at every query.
  const inputShape = sharedInputShape(spec), input = 8 * count(inputShape);
  if (input > limits.maxInputBytes)
    throw new Error(`one example of this model's input, ${describeInput(spec)}, is ${input} bytes as shares, over the limit of ${limits.maxInputBytes} (maxInputBytes)${spec.inputEncoding ? ': the one-hot costs V values per token; use a smaller vocabulary or shorter sequences' : ''}`);
  const one = estimateQueryBytes({ topology: req.topology, protocol: req.protocol, fssGate: req.fssGate, inputShape }, 1);
  if (one > limits.maxQueryBytes) throw new Error(`one prediction of this model would need about ${MiB(one)} per server, over the limit of ${MiB(limits.maxQueryBytes)} (maxQueryBytes)`);
  return 3 * weights;
}

/** A message fit for a client: absolute server paths replaced (the operator's log keeps them). */
export function forClient(message: string): string {
  return message.replace(/(^|[\s'"`(=])(?:[A-Za-z]:\\|\/)(?:[^\s'"`,;:()[\]/\\]+[/\\])+[^\s'"`,;:()[\]]*/g, '$1<server path>');
}
