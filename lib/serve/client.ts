// Clients of the prediction service. A PredictionClient secret-shares its input (seed-compressed)
// to server0 and server1, and alone receives and reconstructs the output; the model owner's
// deploy() secret-shares the weights the same way. Both talk to all three servers over TLS (or
// plain ws on loopback) on one long-lived connection each; queries are multiplexed by session.
import { randomUUID } from 'node:crypto';

import { type CalibrationReport, type PondDeployOptions, prepareDeploy } from '../api/calibrate';
import { checkRuns, isOptimizerState, type ModelSource, readLayersModel } from '../api/model';
import { lowPartsAt, type ModelSpec } from '../api/layers_spec';
import { checkWeightRange } from '../api/bounds';
import { type Decoded } from '../api/define';
import { type InputSpec, listedInputSpec, predictEncoded } from '../api/input_encoding';
import { type ClientInput, encodeClientInput, snapshotInput } from '../api/client_input';
import { type Dense, toNested } from '../api/values';
import { FINAL_ACTIVATIONS } from '../api/final_activation';
import { Party, SERVERS, tag } from '../protocol/party';
import { output, shareInput } from '../protocol/pond/share';
import { REQUEST_KEY, WsEndpoint } from '../net/ws_endpoint';
import { WebSocketTransport } from '../net/ws_transport';
import type { OpTraffic, TrafficReport } from '../net/transport';
import { RingTensor } from '../tensor/ring_tensor';
import { type ClusterConfig, loadClusterConfig } from './config';
import { clientTls } from './provision_tls';
import { checkProtocol, defaultProtocolFor } from '../protocol/protocols';
import { deployOptions, OPTION_SPECS, type ProtocolOptions } from '../protocol/protocol_options';
import type { InputShapes } from '../api/input_shapes';
import type { ClientRequest, ModelInfo, ProtocolName, Response, ServerStatus } from './messages';
import { checkModelName, RESPONSE_KEY } from './messages';
import { CLIENT, inputOp, nextMaskTag, OUTPUT_OP } from './programs';
import { ClientLeases, type HeldLease, isLeaseFailure } from './client_leases';
import { receiveNextMask, sendMaskedInput } from './input_mask';
import type { LeaseRef } from './leases';
import { answerDeadline, checkTimeoutOption } from '../browser/deadline';
import { finalActivationOf, type FinalActivation, readAnswer, type ReadAnswer } from '../browser/outputs';

export interface ClientOptions {
  /** Present the model owner's certificate from the config (needed to deploy under TLS). */
  asOwner?: boolean;
  /** How long to wait for the servers when connecting. */
  connectTimeoutMs?: number;
  /** How long a request waits for a dropped server link to come back before failing. */
  reconnectWaitMs?: number;
  /**
   * How long a request may take in all before it fails, naming the servers that did not answer
   * (default: the config's queryTimeoutMs plus 10 s, so a server's own timeout is heard first).
   */
  requestTimeoutMs?: number;
  /**
   * Take the session index of the next batch-1 query on a model ahead of time, with each batch-1
   * query (default true), so that no server waits for another's notice when it comes, and its
   * input goes masked so that its first product opens nothing (a hop and a round off every such
   * query; leases.ts, input_mask.ts).
   */
  leases?: boolean;
  /**
   * Requests this client sends at once (default: one below the config's maxSessionsPerClient,
   * what each server lets one client run); more wait here for a place. Without it, the ninth of 20
   * predictions started together was refused by the servers.
   */
  maxInFlight?: number;
  log?: (m: string) => void;
}

/**
 * `data` holds the logits; `outputs`, `probabilities` and `classes` are computed here from them
 * (lib/browser/outputs.ts): the servers only ever see shares of the logits.
 */
export interface Prediction extends Decoded, ReadAnswer {
  latencyMs: number;
  /** What the client sent (its input shares). */
  traffic: TrafficReport;
  /** What each server sent for this query while it ran (bytes, messages, rounds), in server order. */
  serverTraffic: OpTraffic[];
  /** What server2 sent ahead of the query, from its offline pool (0 when it ran online). */
  offlineBytes: number;
}

export class PredictionClient {
  #endpoint: WsEndpoint;
  #config: ClusterConfig;

  #retryMs: number;
  #timeoutMs: number;
  #leases: ClientLeases;
  /** Each model's input as the servers last listed it (models()): what predict encodes for; and its final activation, for a server that does not name it per query. */
  #inputs = new Map<string, InputSpec & { finalActivation?: FinalActivation; listingError?: string }>();
  #closed = false;
  /** Requests in flight, at most #maxInFlight; the others wait in #queue for a place. */
  #inFlight = 0;
  #maxInFlight: number;
  #queue: (() => void)[] = [];

  private constructor(config: ClusterConfig, endpoint: WsEndpoint, retryMs: number, timeoutMs: number, leases: boolean, maxInFlight: number) {
    this.#config = config;
    this.#endpoint = endpoint;
    this.#retryMs = retryMs;
    this.#timeoutMs = timeoutMs;
    this.#leases = new ClientLeases(leases);
    this.#maxInFlight = maxInFlight;
  }

  /** Connects to the three servers named by a cluster config (a path or a parsed config). */
  static async connect(config: ClusterConfig | string, opts: ClientOptions = {}): Promise<PredictionClient> {
    // The request timeout is a timer's delay; the connect and reconnect waits are deadlines
    // (Infinity: wait as long as it takes; a reconnect wait of 0: fail at once).
    checkTimeoutOption('PredictionClient.connect', 'requestTimeoutMs', opts.requestTimeoutMs);
    for (const k of ['connectTimeoutMs', 'reconnectWaitMs'] as const) {
      const v = opts[k];
      if (v !== undefined && !(typeof v === 'number' && (k === 'reconnectWaitMs' ? v >= 0 : v > 0))) throw new Error(`PredictionClient.connect: ${k} must be a ${k === 'reconnectWaitMs' ? 'non-negative' : 'positive'} number of milliseconds (Infinity: no limit), got ${String(v)}`);
    }
    const c = typeof config === 'string' ? loadClusterConfig(config) : config;
    // Under TLS: the CA and/or the pinned fingerprints the servers are checked against (provision_tls.ts).
    const tls = clientTls(c, opts.asOwner);
    const endpoint = new WsEndpoint({ me: CLIENT, tls, insecure: c.insecure, log: opts.log ?? (() => undefined) });
    // One below the servers' per-client limit: a request sent the moment another failed could
    // otherwise reach a server before that one's abort did, and be refused as one too many.
    const maxInFlight = opts.maxInFlight ?? Math.max(1, c.maxSessionsPerClient - 1);
    if (!Number.isSafeInteger(maxInFlight) || maxInFlight < 1) throw new Error(`PredictionClient.connect: maxInFlight must be a positive integer, got ${String(opts.maxInFlight)}`);
    const client = new PredictionClient(c, endpoint, opts.reconnectWaitMs ?? 5000, opts.requestTimeoutMs ?? c.queryTimeoutMs + 10_000, opts.leases ?? true, maxInFlight);
    try {
      await Promise.all(SERVERS.map((s) => {
        const p = c.parties[s as 'server0'];
        return endpoint.connect({ name: s, host: p.host === '0.0.0.0' ? '127.0.0.1' : p.host, port: p.port }, { asClient: true, timeoutMs: opts.connectTimeoutMs ?? 10_000 });
      }));
    } catch (e) {
      await endpoint.close();
      throw e;
    }
    return client;
  }

  /**
   * Sends `req` to every server, runs `body`, and waits for every server's answer. Always settles
   * within the request timeout: a failed send, a refusal, a dropped link or silent servers end it
   * with an error, the servers are told to drop the session, and its leftovers are freed here.
   */
  async #request<T>(req: ClientRequest, body: (party: Party) => Promise<T>, onAnswer?: (server: string, res: Response) => void): Promise<{ result: T; responses: Response[]; traffic: TrafficReport }> {
    if (this.#closed) throw new Error(`this client is closed: connect again for a ${req.type} request`);
    while (!this.#closed && this.#inFlight >= this.#maxInFlight) await new Promise<void>((r) => this.#queue.push(r));
    if (this.#closed) throw new Error(`this client was closed while the ${req.type} request waited to be sent`);
    this.#inFlight++;
    try {
      return await this.#send(req, body, onAnswer);
    } finally {
      this.#inFlight--;
      this.#queue.shift()?.();
    }
  }

  async #send<T>(req: ClientRequest, body: (party: Party) => Promise<T>, onAnswer?: (server: string, res: Response) => void): Promise<{ result: T; responses: Response[]; traffic: TrafficReport }> {
    await this.#reachable();
    const session = randomUUID();
    const transport = new WebSocketTransport([...SERVERS, CLIENT], new Map([[CLIENT, this.#endpoint]]), session);
    const party = new Party(CLIENT, transport, { fracBits: this.#config.fracBits, truncation: 'local' });
    const answered = new Set<string>();
    const answers = SERVERS.map(async (s) => {
      const p = await this.#endpoint.recv(s, session, RESPONSE_KEY);
      answered.add(s);
      const res = (p.kind === 'control' ? p.data : { ok: false, error: `${s} sent a malformed response` }) as Response;
      if (!res || typeof res !== 'object' || (!res.ok && typeof res.error !== 'string')) throw new Error(`${s} sent a malformed response`);
      if (!res.ok) throw Object.assign(new Error(res.error), { stated: true }, res.refused === true ? { refused: true } : {});
      onAnswer?.(s, res);
      return res;
    });
    for (const a of answers) a.catch(() => undefined); // settled below; never unhandled
    const deadline = answerDeadline(this.#timeoutMs, req.type, SERVERS, answered);
    let ran: Promise<T> | undefined;
    const timeout = deadline.expired;
    try {
      const sent = Promise.all(SERVERS.map((s) => this.#endpoint.send(s, session, REQUEST_KEY, { kind: 'control', data: req }).catch((e: Error) => {
        throw new Error(`could not send the ${req.type} request to ${s}: ${e.message}`);
      })));
      await Promise.race([sent, timeout]);
      // The first failure (a server's refusal, a dropped connection) ends the wait at once.
      ran = body(party);
      const [result, ...responses] = await Promise.race([Promise.all([ran, ...answers]), timeout]);
      return { result: result as T, responses: responses as Response[], traffic: transport.traffic() };
    } catch (e) {
      // What the body made (a prediction's output) when a server's answer failed after it: freed.
      void ran?.then((r) => (r as { dispose?: () => void } | undefined)?.dispose?.(), () => undefined);
      // Prefer a server's stated reason over the local symptom (e.g. "session aborted"): give the
      // other answers a moment, then stop waiting (the abort fails whatever is still waited for).
      // A failure that is a server's stated answer needs a shorter wait: the others may be waiting
      // to be paired with a server0 that refused, and answer only once aborted (each such
      // failure, a stale lease after a reconnect among them, took the whole 500 ms more).
      const grace = (e as { stated?: boolean }).stated ? 50 : 500;
      await Promise.race([Promise.allSettled(answers), new Promise((r) => setTimeout(r, grace))]);
      this.#endpoint.abortSession(session, `the client gave up: ${(e as Error).message.slice(0, 200)}`, SERVERS.filter((s) => this.#endpoint.connected(s)));
      const reasons = await Promise.allSettled(answers);
      const stated = reasons.find((r): r is PromiseRejectedResult => r.status === 'rejected' && !/session .* was (aborted|ended)|closed|gave up/.test(String(r.reason?.message)));
      // Whether some server refused it (started nothing): a deploy then rolls nothing back, as no
      // server commits one without every server.
      const err = (stated ? stated.reason : e) as Error & { refused?: boolean };
      if (reasons.some((r) => r.status === 'rejected' && (r.reason as { refused?: boolean })?.refused === true)) err.refused = true;
      throw err;
    } finally {
      deadline.cancel();
      this.#endpoint.endSession(session);
    }
  }

  /** Waits briefly for every server link (they re-dial after a drop); fails naming the missing. */
  async #reachable(): Promise<void> {
    const deadline = Date.now() + this.#retryMs;
    // A link that dropped is re-dialed with a back-off of up to a second: a query dials now.
    for (const s of SERVERS) if (!this.#endpoint.connected(s)) this.#endpoint.hurry(s);
    for (;;) {
      if (this.#closed) throw new Error('this client was closed while the request waited for the servers');
      const down = SERVERS.filter((s) => !this.#endpoint.connected(s));
      if (down.length === 0) return;
      if (Date.now() > deadline) {
        const why = down.map((s) => this.#endpoint.dialError(s)).map((e, i) => (e ? `${down[i]}: ${e}` : undefined)).filter((e) => e !== undefined);
        throw new Error(`${down.join(' and ')} ${down.length > 1 ? 'are' : 'is'} unreachable${why.length ? ` (last dial: ${why.join('; ')})` : ''}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** The model's input as the servers describe it (asked once per model); undefined: not deployed. */
  async #inputOf(model: string): Promise<InputSpec | undefined> {
    if (!this.#inputs.has(model)) await this.models();
    const m = this.#inputs.get(model);
    if (m?.listingError) throw new Error(m.listingError);
    return m;
  }

  /**
   * Runs an encrypted prediction; only this client ever sees the input and the output. `input`,
   * as every client takes it (lib/api/client_input.ts): nested arrays or {data, shape} (batch
   * axis included), a TensorFlow.js tensor, a typed array of whole examples of the model's input
   * shape, or an image ({ width, height, data: RGBA bytes }) for an image model. A model
   * that starts with an Embedding takes token ids, which are one-hot encoded here before sharing
   * (lib/api/input_encoding.ts). A batch-1 query takes the next one's lease (ClientOptions.leases);
   * `{ last: true }` says no query on this model follows, so none is taken: an unused lease holds
   * one of the servers' pooled recordings until it expires, and then that work is lost.
   */
  async predict(model: string, input: ClientInput, opts: { last?: boolean } = {}): Promise<Prediction> {
    const given = snapshotInput(input, `predict(${model}) input`); // before any await: the caller may reuse it
    return predictEncoded(
      async (again) => {
        if (again) this.#inputs.delete(model); // redeployed since: ask the servers again
        return this.#inputOf(model);
      },
      (m) => encodeClientInput(model, given, m),
      (dense) => this.#predict(model, dense, opts.last === true),
    );
  }

  async #predict(model: string, dense: Dense, last: boolean): Promise<Prediction> {
    const ring = RingTensor.fromFloat64Array(dense.data, dense.shape, { fracBits: this.#config.fracBits });
    const t0 = performance.now();
    const batch1 = dense.shape[0] === 1;
    // With a lease's input mask, the input goes masked (m = x - a to server0 and server1), so the
    // servers need not open it for the first product (input_mask.ts); else it is secret-shared.
    // A batch-1 query also asks for the next one's lease and mask (leaseNext), which come back with
    // it, unless another query on the model has (ClientLeases.ask).
    const lease = batch1 ? this.#leases.take(model, dense.shape) : undefined;
    const leaseNext = batch1 && !last && this.#leases.ask(model);
    let nextMask: RingTensor | undefined;
    const ask = (lease?: HeldLease) =>
      this.#request({ type: 'predict', model, shape: dense.shape, finals: [...FINAL_ACTIVATIONS], ...(lease ? { lease: lease.ref } : {}), ...(lease?.mask ? { maskedInput: true as const } : {}), ...(leaseNext ? { leaseNext: true as const } : {}) }, async (party) => {
        const send = lease?.mask ? sendMaskedInput(party, tag(inputOp(0), 'input'), ring, lease.mask) : shareInput(party, inputOp(0), CLIENT, ring);
        const out = output(party, OUTPUT_OP, null, CLIENT);
        try {
          await Promise.all([send, out, leaseNext && receiveNextMask(party, nextMaskTag(), dense.shape).then((m) => void (nextMask = m))]);
        } catch (e) {
          void out.then((o) => o?.dispose(), () => undefined); // an output that came, or comes, is freed
          throw e;
        }
        return (await out)!;
      });
    const askedAt = Date.now();
    try {
      // A lease the servers no longer know (expired, a new setup) only costs the plain path.
      const { result, traffic, responses } = await ask(lease).catch((e: unknown) => {
        if (!lease || !isLeaseFailure(e)) throw e;
        nextMask?.dispose();
        nextMask = undefined;
        return ask();
      });
      const shape = [...result.shape];
      const data = result.toFloat64Array({ fracBits: this.#config.fracBits });
      result.dispose();
      const latencyMs = performance.now() - t0;
      const read = readAnswer(data, shape, responses[0], this.#inputs.get(model)?.finalActivation);
      const serverTraffic = responses.map((r) => (r as { traffic?: OpTraffic }).traffic ?? { bytes: 0, messages: 0, rounds: 0 });
      const offlineBytes = responses.reduce((a, r) => a + ((r as { offlineBytes?: number }).offlineBytes ?? 0), 0);
      const theirs = responses.map((r) => (r as { fracBits?: number }).fracBits).find((f) => f !== undefined && f !== this.#config.fracBits);
      if (theirs !== undefined) throw new Error(`the servers compute with fracBits ${theirs}, but this client's config says ${this.#config.fracBits}: use the cluster's config file`);
      const granted = (responses[0] as { lease?: LeaseRef & { ttlMs: number } }).lease;
      if (granted) {
        this.#leases.put(model, { ...granted, ...(nextMask ? { mask: nextMask } : {}) }, askedAt);
        nextMask = undefined;
      }
      return { data, shape, toArray: () => toNested(data, shape), ...read, latencyMs, traffic, serverTraffic, offlineBytes };
    } finally {
      if (leaseNext) this.#leases.answered(model);
      ring.dispose();
      lease?.mask?.dispose(); // one query's mask: never used again
      nextMask?.dispose(); // came without a lease, or the query failed
    }
  }

  /**
   * Deploys a TensorFlow.js LayersModel (a path to model.json, a file:// URL or artifacts in
   * memory): the architecture goes to all three servers, the weights are secret-shared to server0
   * and server1. Needs the owner certificate under TLS (connect with `asOwner`). Under Pond a
   * model with relus must be calibrated on the owner's inputs (`calibrate`; the report comes
   * back) or accepted with the default polynomial (`uncalibrated`). The protocol's own options
   * (ProtocolOptions; another protocol's are refused) go beside the name: under FSS, `fssGate` picks
   * the form of the gates (FssGate: 'auto' by default; 'compact' halves the keys a query needs,
   * for a second round per gate; docs/fss.md "Two gate forms"), and `fssBits` the width of its
   * comparisons (64 by default, exact everywhere; narrower is exact while the gates' inputs stay
   * within 2^(fssBits-1) ring units: docs/fss.md "Narrower comparisons"). `inputShapes` fixes the
   * input sizes a model was saved with open (Input(shape=(None,))): the model is deployed, and
   * queried, at that shape. Returns Pond's calibration report, if any, and `rewrites`: what the
   * servers run differently from the model's own layer order (BatchNormalizations folded into the
   * layer before, activations run after the max pool they feed: docs/models.md), as read here.
   */
  async deploy(
    model: ModelSource,
    opts: { name: string; protocol?: ProtocolName; inputShapes?: InputShapes } & ProtocolOptions & PondDeployOptions,
  ): Promise<{ calibration?: CalibrationReport; rewrites: Pick<ModelSpec, 'foldedBatchNorms' | 'poolFirst'> }> {
    checkModelName(opts.name);
    checkDeployKeys(opts);
    const loaded = readLayersModel(model, { inputShapes: opts.inputShapes });
    checkRuns(loaded.json, loaded.weights, 'deploy', loaded.derived);
    const protocol = opts.protocol === undefined ? defaultProtocolFor(loaded.spec.comparisons) : checkProtocol(opts.protocol, 'deploy');
    const options = deployOptions(protocol, opts, 'deploy');
    // Calibration picks its coefficients on this cluster's fixed-point grid.
    const cal = opts.calibrate;
    if (cal?.fracBits !== undefined && cal.fracBits !== this.#config.fracBits) throw new Error(`deploy: calibrate.fracBits ${cal.fracBits} differs from the cluster's fracBits ${this.#config.fracBits}: leave it out`);
    const { source, calibration } = prepareDeploy(model, protocol, cal ? { ...opts, calibrate: { ...cal, fracBits: this.#config.fracBits } } : opts, loaded);
    const read = source === model ? loaded : readLayersModel(source);
    const json = read.json, params = lowPartsAt(read.params, read.spec.params, this.#config.fracBits);
    const weights = json.weightsManifest.flatMap((g) => g.weights.filter((w) => !isOptimizerState(w)).map((w) => ({ name: w.name, shape: w.shape })));
    checkWeightRange(params, this.#config.fracBits, 'deploy');
    const rings = params.map((p) => RingTensor.fromFloat64Array(Float64Array.from(p.data), p.shape, { fracBits: this.#config.fracBits }));
    try {
      await this.#request({ type: 'deploy', model: opts.name, protocol, ...options, topology: json.modelTopology, weights, fracBits: this.#config.fracBits }, (party) =>
        Promise.all(rings.map((r, i) => shareInput(party, inputOp(i), CLIENT, r))),
      );
    } catch (e) {
      // A deploy is kept only once every server has it (the servers' commit step); a server that
      // failed after that (its disk) leaves the others with the model: take it back off them,
      // unless the failure says the name was taken before this deploy.
      // A server that refused the request started nothing, and no server commits without every
      // server (a typo refused by the servers used to undeploy the model already under the name).
      const msg = (e as Error).message;
      if ((e as { refused?: boolean }).refused || /already deployed|being deployed|owner's certificate|not allowed|limit|busy|unreachable|cannot reach|fracBits/.test(msg)) throw e;
      const back = await this.#rollback(opts.name).catch((u: Error) => {
        throw new Error(`${msg}; ${u.message}`);
      });
      throw new Error(back ? `${msg} (rolled back on ${back.join(' and ')})` : msg);
    } finally {
      for (const r of rings) r.dispose();
    }
    return { calibration, rewrites: { foldedBatchNorms: loaded.spec.foldedBatchNorms, poolFirst: loaded.spec.poolFirst } };
  }

  /**
   * Removes a model from every server (the owner's certificate is needed under TLS, as for
   * deploy). Idempotent per server: returns the servers that had it; a server without it is fine,
   * so a model lost on some servers, or a partial deploy, can be removed and deployed again.
   */
  async undeploy(name: string): Promise<string[]> {
    checkModelName(name);
    const { responses } = await this.#request({ type: 'undeploy', model: name }, async () => undefined);
    return SERVERS.filter((_, i) => (responses[i] as { removed?: boolean }).removed);
  }

  /**
   * Undeploys after a failed deploy (retrying while the servers finish it); the servers that had
   * it. A server that removed it in an attempt another server refused (still finishing its half)
   * is remembered: the retry finds it gone there, and the report must still name it.
   *
   * How long to retry: a server still running its half answers "being deployed" until that half
   * ends, which a loaded server may take seconds to reach (it waits for the others' commits, or
   * for its own timer: every server aborts a deploy after queryTimeoutMs). So the retries last up
   * to this client's request timeout (queryTimeoutMs + 10 s by default), backing off to 1 s, not a
   * fixed count: giving up early leaves the model on the servers that kept it.
   */
  async #rollback(name: string): Promise<string[] | undefined> {
    const removed = new Set<string>();
    const note = (s: string, res: Response) => {
      if ((res as { removed?: boolean }).removed) removed.add(s);
    };
    const deadline = Date.now() + this.#timeoutMs;
    for (let wait = 100; ; wait = Math.min(1000, wait * 2)) {
      try {
        await this.#request({ type: 'undeploy', model: name }, async () => undefined, note);
        return removed.size ? SERVERS.filter((s) => removed.has(s)) : undefined;
      } catch (e) {
        if (Date.now() + wait > deadline || !/being deployed|in flight/.test((e as Error).message))
          throw new Error(`the deploy failed and so did its rollback (${(e as Error).message}); run tfe undeploy ${name}`);
        await new Promise((r) => setTimeout(r, wait));
      }
    }
  }

  /** The models deployed on the cluster (as server0 reports them). */
  async models(): Promise<ModelInfo[]> {
    const { responses } = await this.#request({ type: 'models' }, async () => undefined);
    const models = (responses[0] as { models?: ModelInfo[] }).models ?? [];
    this.#inputs.clear();
    for (const m of models) this.#inputs.set(m.name, { ...listedInputSpec(m), finalActivation: finalActivationOf(m.finalActivation) });
    return models;
  }

  /**
   * Each server's status, in server order: ready and the model names for anyone; the counters,
   * memory and limits in use only for the operator (see docs/service.md, "Status").
   */
  async status(): Promise<ServerStatus[]> {
    const { responses } = await this.#request({ type: 'status' }, async () => undefined);
    return responses.map((r) => (r as { status: ServerStatus }).status);
  }

  async close(): Promise<void> {
    this.#closed = true;
    // Requests waiting for a place fail now, saying so.
    for (const wake of this.#queue.splice(0)) wake();
    this.#leases.clear();
    await this.#endpoint.close();
  }
}

/** deploy's own options beside the protocols' (OPTION_SPECS): any other key is refused, naming it (a misspelt one was ignored). */
const DEPLOY_KEYS = new Set(['name', 'protocol', 'inputShapes', 'calibrate', 'uncalibrated']);

function checkDeployKeys(opts: object): void {
  const known = (k: string) => DEPLOY_KEYS.has(k) || OPTION_SPECS.some((s) => s.name === k);
  const unknown = Object.keys(opts).filter((k) => !known(k) && (opts as Record<string, unknown>)[k] !== undefined);
  if (unknown.length) throw new TypeError(`deploy: unknown option${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `'${k}'`).join(', ')}; the options are ${[...DEPLOY_KEYS, ...OPTION_SPECS.map((s) => s.name)].join(', ')}`);
}
