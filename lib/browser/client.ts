// The prediction client for web pages: the browser secret-shares its input with WebCrypto
// (seed-compressed, as lib/protocol/pond/share.ts shareInput: a fresh seed to server0, which
// expands x0 = PRG(seed); x1 = x - x0 to server1), and alone receives both output shares and adds
// them. It speaks the servers' wire protocol directly (lib/browser/wire.ts), one WebSocket per
// server, and mirrors lib/serve/client.ts request for request: the same messages, session ids,
// keys, timeouts and errors. Every call settles: a refusal, a dropped link or silent servers
// reject it with a message, and the servers are told to drop the session.
import { type InputSpec, listedInputSpec, predictEncoded } from '../api/input_encoding';
import { type Dense, type NestedArray, toNested } from '../api/values';
import { type BrowserInput, encodeClientInput, snapshotInput } from './input';
import { ServerLink } from './link';
import { defaultSocketFactory, platformCrypto, type SocketFactory } from './platform';
import { prgRing, randomSeed } from './prg';
import { add, decodeFixed, encodeFixed, fromBytes, sub, toBytes } from './ring';
import { finalActivationOf, type FinalActivation, readAnswer, type ReadAnswer } from './outputs';
import { FINAL_ACTIVATIONS } from '../api/final_activation';
import type { Message } from './wire';
import { answerDeadline, checkTimeoutOption } from './deadline';

export const SERVERS = ['server0', 'server1', 'server2'] as const;
export type ServerName = (typeof SERVERS)[number];

// Message keys, as the Node side spells them (lib/net/ws_endpoint.ts, lib/serve/messages.ts, and
// Transport's op/step keys for inputOp(0) and OUTPUT_OP of lib/serve/programs.ts);
// test/browser_wire.test.ts checks each against the Node code.
export const REQUEST_KEY = 'req';
export const RESPONSE_KEY = 'res';
export const ABORT_KEY = '__abort';
export const INPUT_KEY = '1/input/input/';
export const OUTPUT_KEY = '1048576/output/output/';
/** shareInput's nonce for the input seed. */
export const INPUT_NONCE = 1n;

export interface ConnectOptions {
  /**
   * Fractional bits of the fixed-point encoding: must equal the cluster's fracBits. Default: the
   * cluster's, as its model list says (16 where it says none).
   */
  fracBits?: number;
  /** How long opening each server's socket may take (default 10 s). */
  connectTimeoutMs?: number;
  /** How long a request may take in all (default 130 s: the servers' default query timeout plus 10 s, so theirs is heard first). */
  requestTimeoutMs?: number;
  /** Opens sockets; default: the browser's WebSocket. Node tests pass the `ws` package's. */
  socket?: SocketFactory;
}

export interface ModelInfo {
  name: string;
  protocol: string;
  /** Under 'fss', the form of its gates ('auto', 'one-round', 'compact', 'folded' or 'compact-folded'). */
  fssGate?: string;
  /** Under 'fss', the width of its comparisons (64: the whole ring). */
  fssBits?: number;
  /** One example's shape (no batch axis). */
  inputShape: number[];
  /** Set when the model starts with Embeddings: it takes token ids, which predict() one-hot encodes over `oneHot` values. */
  inputEncoding?: { oneHot: number };
  layers: string[];
  /** The activation ending the model (softmax, sigmoid, exponential, log_softmax), which predict applies to the logits (`outputs`). */
  finalActivation?: FinalActivation;
  /** The cluster's fixed-point fractional bits (a page connected without fracBits takes them from here). */
  fracBits?: number;
}

export interface OpTraffic {
  bytes: number;
  messages: number;
  rounds: number;
}

/** `outputs`, `probabilities` and `classes` are computed here from the logits (outputs.ts): the servers only ever hold shares of them. */
export interface BrowserPrediction extends ReadAnswer {
  /** The model's output (logits), decoded from fixed point, row-major. */
  data: Float64Array;
  shape: number[];
  toArray(): NestedArray;
  latencyMs: number;
  /** What each server sent for this query, in server order. */
  serverTraffic: OpTraffic[];
  /**
   * The first bytes of what server0 and server1 received for this input: server0 the 16-byte
   * seed, server1 x - PRG(seed). Either alone is uniformly random (shown by the demo page).
   */
  sent: { server0: Uint8Array; server1: Uint8Array };
}

type Response = { ok: true; models?: ModelInfo[]; traffic?: OpTraffic; fracBits?: number; finalActivation?: unknown } | { ok: false; error: string };
type Request = { type: 'models' } | { type: 'predict'; model: string; shape: number[]; finals: string[] };

/** A v4 UUID (the servers accept only UUIDs as client session ids). */
function uuid(): string {
  const b = randomSeed();
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

function endpointList(endpoints: readonly string[] | Record<ServerName, string>): string[] {
  const list = Array.isArray(endpoints) ? [...endpoints] : SERVERS.map((s) => (endpoints as Record<string, string>)[s]);
  if (list.length !== 3) throw new Error(`connect: give the three servers' URLs (server0, server1, server2), got ${list.length}`);
  list.forEach((u, i) => {
    let url: URL;
    try {
      url = new URL(String(u));
    } catch {
      throw new Error(`connect: ${SERVERS[i]}'s address ${JSON.stringify(u)} is not a URL (expected wss://host:port)`);
    }
    if (url.protocol !== 'wss:' && url.protocol !== 'ws:') throw new Error(`connect: ${SERVERS[i]}'s address ${u} must start with wss:// (or ws:// on loopback)`);
  });
  return list;
}

export class BrowserClient {
  /** As connect was given it; undefined: the cluster's, as models() reports it (16 until then). */
  #fracBits: number | undefined;
  #learnt: number | undefined;
  #links: ServerLink[];
  #connectMs: number;
  #timeoutMs: number;
  /** Each model's input as the servers last described it (models()): what predict encodes for. */
  #inputs = new Map<string, InputSpec & { finalActivation?: FinalActivation; listingError?: string }>();
  #closed = false;

  private constructor(links: ServerLink[], o: Required<Omit<ConnectOptions, 'socket' | 'fracBits'>> & { fracBits: number | undefined }) {
    this.#links = links;
    this.#fracBits = o.fracBits;
    this.#connectMs = o.connectTimeoutMs;
    this.#timeoutMs = o.requestTimeoutMs;
  }

  /**
   * The fixed-point fractional bits this page encodes with: connect's fracBits when given, else
   * the cluster's as models() reported it (each predict of a model not yet listed lists them
   * first), else 16.
   */
  get fracBits(): number {
    return this.#fracBits ?? this.#learnt ?? 16;
  }

  /** Opens a connection to each of the three servers; rejects naming the server that failed. */
  static async connect(endpoints: readonly string[] | Record<ServerName, string>, opts: ConnectOptions = {}): Promise<BrowserClient> {
    const urls = endpointList(endpoints);
    const fracBits = opts.fracBits;
    if (fracBits !== undefined && !(Number.isInteger(fracBits) && fracBits >= 1 && fracBits <= 30)) throw new Error(`connect: fracBits must be an integer in [1, 30], got ${fracBits}`);
    for (const k of ['connectTimeoutMs', 'requestTimeoutMs'] as const) checkTimeoutOption('connect', k, opts[k]);
    if (!platformCrypto()?.subtle) throw new Error('WebCrypto (crypto.subtle) is unavailable: serve the page over https (or from localhost)');
    const factory = opts.socket ?? defaultSocketFactory();
    const links = SERVERS.map((s, i) => new ServerLink(s, urls[i], factory));
    const client = new BrowserClient(links, { fracBits, connectTimeoutMs: opts.connectTimeoutMs ?? 10_000, requestTimeoutMs: opts.requestTimeoutMs ?? 130_000 });
    const opened = await Promise.allSettled(links.map((l) => l.connect(client.#connectMs)));
    const failed = opened.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) {
      client.close();
      throw failed.reason as Error;
    }
    return client;
  }

  /**
   * Sends `req` to every server, runs `body`, waits for every server's answer. Settles within the
   * request timeout; on failure the servers are told to abort the session, and a server's stated
   * reason is preferred over the local symptom.
   */
  async #request<T>(req: Request, body: (session: string) => Promise<T>): Promise<{ result: T; responses: Response[] }> {
    if (this.#closed) throw new Error('the client is closed');
    await Promise.all(this.#links.map((l) => l.connect(this.#connectMs))); // re-opens a dropped link
    const session = uuid();
    for (const l of this.#links) l.begin(session);
    const answered = new Set<string>();
    const answers = this.#links.map(async (l) => {
      const m = await l.recv(session, RESPONSE_KEY);
      answered.add(l.name);
      const res = (m.kind === 'control' ? m.data : undefined) as Response | undefined;
      if (!res || typeof res !== 'object' || (!res.ok && typeof res.error !== 'string')) throw new Error(`${l.name} sent a malformed response`);
      if (!res.ok) throw new Error(res.error);
      return res;
    });
    for (const a of answers) a.catch(() => undefined); // settled below; never unhandled
    const deadline = answerDeadline(this.#timeoutMs, req.type, SERVERS, answered);
    const timeout = deadline.expired;
    try {
      for (const l of this.#links) {
        try {
          l.send(session, REQUEST_KEY, { kind: 'control', data: req });
        } catch (e) {
          throw new Error(`could not send the ${req.type} request to ${l.name}: ${(e as Error).message}`);
        }
      }
      const work = body(session);
      work.catch(() => undefined);
      const [result, ...responses] = await Promise.race([Promise.all([work, ...answers]), timeout]);
      return { result: result as T, responses: responses as Response[] };
    } catch (e) {
      // A server's refusal usually explains the local symptom: give the answers a moment.
      await Promise.race([Promise.allSettled(answers), new Promise((r) => setTimeout(r, 500))]);
      const reason = `the client gave up: ${(e as Error).message.slice(0, 200)}`;
      for (const l of this.#links) {
        try {
          if (l.open) l.send(session, ABORT_KEY, { kind: 'control', data: reason });
        } catch {
          // the link is gone: nothing to tell
        }
        l.end(session, `session ${session} was aborted`);
      }
      const reasons = await Promise.allSettled(answers);
      const stated = reasons.find((r): r is PromiseRejectedResult => r.status === 'rejected' && !/session .* was (aborted|ended)|closed|gave up|not connected/.test(String((r.reason as Error)?.message)));
      throw stated ? (stated.reason as Error) : e;
    } finally {
      deadline.cancel();
      for (const l of this.#links) l.end(session);
    }
  }

  /** The models deployed on the cluster (as server0 reports them). */
  async models(): Promise<ModelInfo[]> {
    const { responses } = await this.#request({ type: 'models' }, async () => undefined);
    const models = responses[0].ok ? responses[0].models ?? [] : [];
    this.#inputs.clear();
    for (const m of models) this.#inputs.set(m.name, { ...listedInputSpec(m), finalActivation: finalActivationOf(m.finalActivation) });
    const theirs = models.find((m) => Number.isInteger(m.fracBits) && m.fracBits! >= 1 && m.fracBits! <= 30)?.fracBits;
    if (theirs !== undefined) this.#learnt = theirs;
    return models;
  }

  /** The model's input as the servers describe it (asked once per model); undefined: not deployed. */
  async #inputOf(model: string): Promise<InputSpec | undefined> {
    if (!this.#inputs.has(model)) await this.models();
    const m = this.#inputs.get(model);
    if (m?.listingError) throw new Error(m.listingError);
    return m;
  }

  /**
   * An encrypted prediction: only this page ever sees the input and the output. `input`: nested
   * arrays or {data, shape} (taken as given, batch axis included), a TensorFlow.js tensor, a typed
   * array of whole examples, or an ImageData/canvas of the model's size (gray levels as the Node
   * client reads a PNG). A model that starts with an Embedding takes token ids, one-hot encoded
   * here before sharing.
   */
  async predict(model: string, input: BrowserInput): Promise<BrowserPrediction> {
    const given = snapshotInput(input, `predict(${model}) input`); // before any await: the page may reuse it
    return predictEncoded(
      async (again) => {
        if (again) this.#inputs.delete(model); // redeployed since: ask the servers again
        return this.#inputOf(model);
      },
      (m) => encodeClientInput(model, given, m),
      (dense) => this.#predict(model, dense),
    );
  }

  async #predict(model: string, dense: Dense): Promise<BrowserPrediction> {
    const x = encodeFixed(dense.data, this.fracBits);
    const t0 = performance.now();
    const seed = randomSeed();
    const x1 = sub(x, await prgRing(seed, x.length, INPUT_NONCE));
    const x1Bytes = toBytes(x1);
    const [s0, s1] = this.#links;
    const { result, responses } = await this.#request({ type: 'predict', model, shape: dense.shape, finals: [...FINAL_ACTIVATIONS] }, async (session) => {
      const outs = [s0, s1].map((l) => l.recv(session, OUTPUT_KEY));
      for (const o of outs) o.catch(() => undefined); // awaited below
      s0.send(session, INPUT_KEY, { kind: 'seed', dtype: 'ring64', shape: dense.shape, seed, nonce: INPUT_NONCE });
      s1.send(session, INPUT_KEY, { kind: 'tensor', dtype: 'ring64', shape: dense.shape, data: x1Bytes });
      const [a, b] = await Promise.all(outs);
      return { y0: outputShare(a, 'server0'), y1: outputShare(b, 'server1') };
    });
    const { y0, y1 } = result;
    // The servers say which encoding they computed in: a mismatch would decode to wrong numbers.
    const theirs = responses.map((r) => (r.ok ? r.fracBits : undefined)).find((f) => f !== undefined && f !== this.fracBits);
    if (theirs !== undefined) throw new Error(`the cluster computes with fracBits ${theirs}, this page encoded with ${this.fracBits}: connect with { fracBits: ${theirs} }`);
    if (y0.shape.join() !== y1.shape.join()) throw new Error(`the output shares disagree in shape: [${y0.shape}] from server0, [${y1.shape}] from server1`);
    const data = decodeFixed(add(y0.values, y1.values), this.fracBits);
    const latencyMs = performance.now() - t0;
    const shape = y0.shape;
    const read = readAnswer(data, shape, responses[0]?.ok ? responses[0] : undefined, this.#inputs.get(model)?.finalActivation);
    const serverTraffic = responses.map((r) => (r.ok && r.traffic) || { bytes: 0, messages: 0, rounds: 0 });
    return { data, shape, toArray: () => toNested(data, shape), ...read, latencyMs, serverTraffic, sent: { server0: seed.slice(), server1: x1Bytes.slice(0, 32) } };
  }

  /** Closes the three sockets; pending calls reject, later ones are refused. */
  close(): void {
    this.#closed = true;
    for (const l of this.#links) l.close();
  }
}

function outputShare(m: Message, from: string): { shape: number[]; values: BigUint64Array } {
  if (m.kind !== 'tensor' || m.dtype !== 'ring64') throw new Error(`${from} sent a ${m.kind} message where an output share (ring64 tensor) was expected`);
  const values = fromBytes(m.data);
  if (values.length !== m.shape.reduce((a, b) => a * b, 1)) throw new Error(`${from}'s output share does not match its shape [${m.shape}]`);
  return { shape: m.shape, values };
}
