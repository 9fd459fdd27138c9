// The service's control messages. A client sends the same request to all three servers (key
// 'req', session = a fresh id); server0 then tells server1 and server2 which session index the
// request gets; each server answers the client with a response (key 'res').
import type { InputEncoding, ModelInput } from '../api/input_encoding';
import type { ModelTopology } from '../api/layers_spec';
import type { OpTraffic } from '../net/transport';
import { checkProtocol, type ProtocolName } from '../protocol/protocols';
import { deployOptions, OPTION_SPECS, type ProtocolOptions } from '../protocol/protocol_options';
import { MAX_SESSIONS } from '../protocol/cluster';
import { LEASE_ID, type LeaseRef, MAX_UNLEASE_IDS } from './leases';
import { LIMIT_RANGES } from './limits';
import type { FinalActivation } from '../api/final_activation';

export type { ProtocolName } from '../protocol/protocols';

export interface PredictRequest {
  type: 'predict';
  model: string;
  /** The shape of the shared input, batch dimension first (token ids come one-hot: ModelInfo.inputEncoding). */
  shape: number[];
  /** Batch 1 only: the session index leased ahead (leases.ts), so no server waits for server0's notice. */
  lease?: LeaseRef;
  /** With a lease that came with an input mask: the input is sent as m = x - a to server0 and server1 (input_mask.ts). */
  maskedInput?: true;
  /** Batch 1 only: lease the next query on this model, for an input of this shape, with its input mask's shares (input_mask.ts). */
  leaseNext?: true;
  /**
   * The final activations this client applies to the logits (final_activation.ts). Absent: a
   * client of an earlier release, which applies softmax and sigmoid only and would read any other
   * model's answers as logits; the servers refuse it such a model (limits.ts checkPredictRequest).
   */
  finals?: string[];
}

/** Take the session index of the next batch-1 query on `model` ahead of time (leases.ts). */
export interface LeaseRequest {
  type: 'lease';
  model: string;
}

/** A deploy; its protocol's options (ProtocolOptions: FSS's gate form and width) sit beside the fields below, each absent at its default. */
export interface DeployRequest extends ProtocolOptions {
  type: 'deploy';
  model: string;
  protocol: ProtocolName;
  topology: ModelTopology;
  /** The manifest's weight names and shapes (the values never leave the owner in the clear). */
  weights: { name: string; shape: number[] }[];
  /** The fixed-point fraction bits the owner encoded the weights with: refused unless the cluster's (absent: not checked, an older client). */
  fracBits?: number;
}

export interface ModelsRequest {
  type: 'models';
}

/** The model owner removes a model from a server (idempotent: a server without it says so). */
export interface UndeployRequest {
  type: 'undeploy';
  model: string;
}

/** Whether the cluster serves, and which models; the operator also gets the counters. */
export interface StatusRequest {
  type: 'status';
}

/** What any client is told: whether the server is set up, and the model names. */
export interface PublicStatus {
  party: string;
  /** Whether it serves queries: set up, connected to both peers, not shutting down (as /healthz). */
  ready: boolean;
  /** Why not, or that it is ready ('server1 is not connected to server2'; /healthz's text). */
  reason: string;
  models: string[];
}

/** The operator's view (see docs/service.md, "Status"): in-flight work, memory, limits in use. */
export interface OperatorCounters {
  epoch?: string;
  running: number;
  pending: number;
  /** Messages and waiters held by the endpoint's mailbox, apart from `prefetched` (0 when idle). */
  mailbox: number;
  /** server0/server1: server2's side of future pooled queries, shipped ahead and held until they come. */
  prefetched: { messages: number; bytes: number };
  rssBytes: number;
  heapUsedBytes: number;
  /**
   * server2's offline phase: queries recorded, served from the pool, held, being recorded or shipped
   * now, dropped unused; bytes shipped ahead; queries of 'auto' FSS models dealt compact because
   * queries found it busy dealing (lib/serve/gate_form.ts).
   */
  pool: { recorded: number; replayed: number; held: number; making: number; discarded: number; offlineBytes: number; compactUnderLoad: number; redealt: number; links: 'near' | 'far' };
  /**
   * The least round trip measured on the links to the other servers, in ms (null before the first
   * pong): pings as a link comes up and with every heartbeat. server2 takes links within
   * NEAR_RTT_MS as a LAN's or one host's (lib/serve/gate_form.ts).
   */
  linkRttMs: Record<string, number | null>;
  /** Whether each link to another server has its lane now (lib/net/lane.ts; under TLS, unless off or unreachable). */
  linkLanes: Record<string, boolean>;
  /**
   * server2: the weight masks its provider keeps for reuse (at most 256 MiB per setup), of the
   * current setup and one a renewal keeps; 0 on the others. Counted in liveTensors and tensorBytes.
   */
  maskCache: { entries: number; bytes: number };
  /** Native tensors alive and their bytes (a leak shows here first). */
  liveTensors: number;
  tensorBytes: number;
  /** Freed native buffers kept for reuse, over the loaded native modules (TFE_HOST_CACHE_MB caps each; unused ones are freed after TFE_HOST_CACHE_IDLE_MS). */
  hostCacheBytes: number;
  /** Requests admitted (running or waiting), their estimated memory, refusals since start. */
  sessions: { sessions: number; pending: number; clients: number; estimatedBytes: number; refused: number };
  /** The setup: server0's session indices left in it (null elsewhere: only server0 hands them out), and renewals begun since start (epoch_setup.ts). */
  setup: { indicesLeft: number | null; renewals: number };
  /** Session-index leases (leases.ts): held now; granted (server0) or announced (others), used, expired or voided unused, dropped as the oldest beyond the bound (server1, server2). */
  leases: { held: number; granted: number; used: number; expired: number; evicted: number };
  /** The endpoint's own counters, when the net layer offers them. */
  endpoint?: unknown;
}

export type ServerStatus = PublicStatus & Partial<OperatorCounters> & { operator: boolean };

export type ClientRequest = PredictRequest | DeployRequest | UndeployRequest | ModelsRequest | StatusRequest | LeaseRequest;

/** server0 -> server1, server2: run this client's request as session `index` of `epoch`. */
export interface StartNotice {
  type: 'start';
  epoch: string;
  index: number;
  /** The index was reserved for the pool: server2's side travels in its pool session (pool.ts). */
  pooled?: boolean;
  /** The request server0 admitted (requestKey): server1 and server2 run only the same one (pairing.ts). */
  request: string;
}

/**
 * What every server must agree on about a client's request before running it: its type, model,
 * and for a prediction the shape (its batch sets what server2 deals) and the lease flags, whether it
 * names a lease among them: a leased copy waiting on server1 for its lease's notice paired with
 * server0's start of a plain request, and its lease then sat in server1's and server2's books. A
 * client sends each server its own copy; server0's start notice carries this key of the one it admitted.
 */
export function requestKey(req: ClientRequest): string {
  if (req.type === 'predict') return JSON.stringify([req.type, req.model, req.shape, req.maskedInput === true, req.leaseNext === true, req.lease !== undefined]);
  if (req.type === 'deploy') return JSON.stringify([req.type, req.model, req.protocol, ...OPTION_SPECS.map((s) => req[s.name] ?? null)]);
  return JSON.stringify([req.type, 'model' in req ? req.model : null]);
}

/** server0 -> server1, server2: a new setup (after the cluster (re)connects, or renewing one whose session indices run low). */
export interface EpochNotice {
  type: 'epoch';
  epoch: string;
  models: { name: string; digest: string }[];
  /** A renewal (epoch_setup.ts): the setup it replaces is sound, and kept for its queries in flight. */
  renewal?: boolean;
}

/** server0 -> server2: indices reserved for `model`'s future queries of `batch` rows (absent: 1); precompute them. */
export interface PoolNotice {
  type: 'pool';
  epoch: string;
  model: string;
  batch?: number;
  indices: number[];
}

/** server0 -> server1, server2: reserved indices no query will take (their batch size is no longer pooled); free them. */
export interface UnpoolNotice {
  type: 'unpool';
  epoch: string;
  indices: number[];
}

/**
 * server2 -> server0: these indices reserved for `model`'s queries of `batch` rows (absent: 1) hold
 * recordings in a form server2 no longer deals (compact under a load that has passed, or one round
 * per relu before it found its links far); those no query has taken yet are freed and reserved
 * anew (pool.ts, reservations.ts).
 */
export interface RedealNotice {
  type: 'redeal';
  epoch: string;
  model: string;
  batch?: number;
  indices: number[];
}

/** server1, server2 -> server0: this server's setup of `epoch` failed (server0 sets the cluster up again). */
export interface SetupFailedNotice {
  type: 'setup-failed';
  epoch: string;
}

/** server0 -> server1, server2: lease `id` holds `index` of `epoch` for a batch-1 query on `model`. */
export interface LeaseNotice {
  type: 'lease';
  epoch: string;
  id: string;
  model: string;
  index: number;
  pooled: boolean;
  ttlMs: number;
  /** Leased by the query in client session `session` (leaseNext), for inputs of `shape`: its compute servers send the input mask's shares. */
  shape?: number[];
  session?: string;
  /** server0's name for the client connection it was leased to: server1 and server2 bound leases per owner (leases.ts). */
  owner?: string;
}

/**
 * server0 -> server1, server2: these leases ended at server0 without a query that ran on them (a
 * mismatch, or their query, or the one that asked for them, failed there); or (to server2, a few
 * seconds later) their queries ran: drop those still held and free their pooled sides (leases.ts).
 */
export interface UnleaseNotice {
  type: 'unlease';
  epoch: string;
  ids: string[];
}

/**
 * server0 -> server1 in a query's session, for a query that asked for the next one's lease
 * (leaseNext) when server0 granted none (a granted one's notice says so itself).
 */
export interface NoNextLease {
  none: true;
}
export const NEXT_LEASE_KEY = 'next-lease';

export type ServerNotice = StartNotice | EpochNotice | PoolNotice | UnpoolNotice | RedealNotice | SetupFailedNotice | LeaseNotice | UnleaseNotice;

/** A deployed model as the servers list it; every option of its protocol (ProtocolOptions) sits beside the fields below, defaults included. */
export interface ModelInfo extends ProtocolOptions {
  name: string;
  protocol: ProtocolName;
  inputShape: number[];
  /**
   * Set when the model starts with Embeddings: the input is token ids, which the client one-hot
   * encodes over `oneHot` values before sharing (lib/api/input_encoding.ts).
   */
  inputEncoding?: InputEncoding;
  /**
   * Each input's name, shape and encoding, in the model's order (absent from servers of earlier
   * releases). Of a model with several, a client packs them, each example's inputs flattened and
   * laid end to end ([batch, inputShape[0]]), each encoded on its own (lib/api/input_encoding.ts).
   */
  inputs?: ModelInput[];
  layers: string[];
  /** A softmax or sigmoid ending the model, which the client applies to the logits it receives. */
  finalActivation?: FinalActivation;
  /** Each output's name (tfjs's outputNames) and final activation, in the model's order (absent from servers of earlier releases); of several, a prediction's answer gives their shapes. */
  outputs?: { name: string; finalActivation?: FinalActivation }[];
  /** The cluster's fixed-point fractional bits: a client must encode with the same. */
  fracBits?: number;
}

export type Response =
  | {
      ok: true;
      models?: ModelInfo[];
      outputShape?: number[];
      /** A prediction's: the model's final softmax or sigmoid, which the client applies to the logits (null: none; absent: a server of an earlier release, whose model list says). */
      finalActivation?: FinalActivation | null;
      /**
       * A prediction of a model with several outputs: each one's name, shape (without the batch)
       * and final activation, in the order the result lays them end to end per example.
       */
      outputs?: { name: string; shape: number[]; finalActivation: FinalActivation | null }[];
      status?: ServerStatus;
      traffic?: OpTraffic;
      removed?: boolean;
      offlineBytes?: number;
      fracBits?: number;
      lease?: LeaseRef & { ttlMs: number };
    }
  /** refused: this server started nothing for the request (its checks refused it). */
  | { ok: false; error: string; refused?: true };

export const RESPONSE_KEY = 'res';

/** A start notice's request key is at most this long (a model name, a shape, two flags). */
const MAX_REQUEST_KEY = 4096;
/** A setup's id (server0 writes 16 hex digits) and a model's digest (64) are at most this long. */
const MAX_EPOCH_ID = 64;
const MAX_DIGEST = 128;
/** A setup notice names at most this many models (each deployed model's own setup session). */
const MAX_SETUP_MODELS = 100_000;
/** leaseTtlMs's largest (config.ts). */
const MAX_LEASE_TTL_MS = 600_000;

/** Model names: a letter or digit, then letters, digits, '_' or '-' (64 at most): never a path. */
export const MODEL_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

/** Throws, naming the rule, unless `name` is a valid model name. */
export function checkModelName(name: unknown): string {
  if (typeof name !== 'string' || !MODEL_NAME.test(name))
    throw new Error(`model name ${JSON.stringify(typeof name === 'string' ? name.slice(0, 80) : name)} is not allowed: use 1-64 letters, digits, '_' or '-', starting with a letter or digit`);
  return name;
}

/** A list of at most 8 positive integers, of at least minRank of them (0: a scalar's [] too). */
function isShape(v: unknown, minRank = 1): v is number[] {
  return Array.isArray(v) && v.length >= minRank && v.length <= 8 && v.every((d) => Number.isSafeInteger(d) && d > 0);
}

/** Checks a request's form (not whether the model exists); throws naming the problem. */
export function validateRequest(raw: unknown): ClientRequest {
  if (!raw || typeof raw !== 'object') throw new Error('request must be an object');
  const r = raw as Record<string, unknown>;
  if (r.type === 'models' || r.type === 'status') return { type: r.type };
  if (!['predict', 'deploy', 'undeploy', 'lease'].includes(r.type as string))
    throw new Error(`unknown request type ${JSON.stringify(typeof r.type === 'string' ? r.type.slice(0, 40) : r.type)}`);
  const model = checkModelName(r.model);
  if (r.type === 'undeploy' || r.type === 'lease') return { type: r.type, model };
  if (r.type === 'predict') {
    if (!isShape(r.shape)) throw new Error(`input shape ${JSON.stringify(r.shape)?.slice(0, 80)} must be a list of positive integers`);
    if (r.maskedInput !== undefined && (r.maskedInput !== true || r.lease === undefined)) throw new Error('maskedInput must be true, and only with a lease');
    if (r.leaseNext !== undefined && (r.leaseNext !== true || r.shape[0] !== 1)) throw new Error('leaseNext must be true, and only for a batch-1 query');
    if (r.finals !== undefined && !(Array.isArray(r.finals) && r.finals.length <= 16 && r.finals.every((f) => typeof f === 'string' && /^[a-z_]{1,40}$/.test(f))))
      throw new Error('finals must be a list of at most 16 activation names');
    const next = { ...(r.leaseNext ? { leaseNext: true as const } : {}), ...(r.finals !== undefined ? { finals: r.finals as string[] } : {}) };
    if (r.lease === undefined) return { type: 'predict', model, shape: r.shape, ...next };
    const l = r.lease as Record<string, unknown> | null;
    if (!l || typeof l !== 'object' || typeof l.id !== 'string' || !LEASE_ID.test(l.id) || !Number.isSafeInteger(l.index) || (l.index as number) < 1)
      throw new Error('lease must be { id: a lease id, index: a positive integer }');
    if (r.shape[0] !== 1) throw new Error(`a lease is for a batch-1 query; this one has batch ${r.shape[0]}`);
    return { type: 'predict', model, shape: r.shape, lease: { id: l.id, index: l.index as number }, ...(r.maskedInput ? { maskedInput: true as const } : {}), ...next };
  }
  checkProtocol(typeof r.protocol === 'string' ? r.protocol.slice(0, 40) : r.protocol, 'deploy');
  if (!r.topology || typeof r.topology !== 'object') throw new Error('deploy: the model topology is missing');
  // A weight may be a scalar (shape []), as Keras's Normalization keeps its count.
  if (!Array.isArray(r.weights) || !r.weights.every((w) => w && typeof w.name === 'string' && isShape(w.shape, 0)))
    throw new Error('deploy: weights must be a list of { name, shape }');
  const options = deployOptions(r.protocol as ProtocolName, r, 'deploy');
  if (r.fracBits !== undefined && !(Number.isSafeInteger(r.fracBits) && (r.fracBits as number) >= 0 && (r.fracBits as number) < 64)) throw new Error('deploy: fracBits must be an integer in [0, 63]');
  const frac = r.fracBits === undefined ? {} : { fracBits: r.fracBits as number };
  return { type: 'deploy', model, protocol: r.protocol as ProtocolName, ...options, topology: r.topology as ModelTopology, weights: r.weights as DeployRequest['weights'], ...frac };
}

/**
 * A notice from another server if it is well formed, else undefined (the caller logs and ignores
 * it: servers are trusted to follow the protocol, not to be bug-free). Whether its sender may send
 * it is the caller's to check.
 */
export function validateNotice(raw: unknown, maxBatch: number): ServerNotice | undefined {
  if (!raw || typeof raw !== 'object') return undefined;
  const n = raw as Record<string, unknown>;
  if (typeof n.epoch !== 'string' || n.epoch.length > MAX_EPOCH_ID) return undefined;
  // Session indices are those a setup hands out, 1 to MAX_SESSIONS (Cluster.fork); a list names at
  // most the reservations one model may hold, maxPoolRecordings at its largest allowed.
  const index = (i: unknown): i is number => Number.isSafeInteger(i) && (i as number) >= 1 && (i as number) <= MAX_SESSIONS;
  const indices = (v: unknown): v is number[] => Array.isArray(v) && v.length <= LIMIT_RANGES.maxPoolRecordings[1] && v.every(index);
  const model = (v: unknown) => typeof v === 'string' && MODEL_NAME.test(v);
  const ok = (() => {
    switch (n.type) {
      case 'epoch':
        return (
          Array.isArray(n.models) && n.models.length <= MAX_SETUP_MODELS &&
          n.models.every((m) => m && typeof m === 'object' && model(m.name) && typeof m.digest === 'string' && m.digest.length <= MAX_DIGEST) &&
          (n.renewal === undefined || typeof n.renewal === 'boolean')
        );
      case 'start':
        return index(n.index) && typeof n.request === 'string' && n.request.length <= MAX_REQUEST_KEY;
      case 'pool':
      case 'redeal':
        return model(n.model) && indices(n.indices) && (n.batch === undefined || (Number.isSafeInteger(n.batch) && (n.batch as number) >= 1 && (n.batch as number) <= maxBatch));
      case 'unpool':
        return indices(n.indices);
      case 'setup-failed':
        return true;
      case 'lease':
        return (
          typeof n.id === 'string' && LEASE_ID.test(n.id) && model(n.model) && index(n.index) && Number.isSafeInteger(n.ttlMs) && (n.ttlMs as number) > 0 && (n.ttlMs as number) <= MAX_LEASE_TTL_MS &&
          (n.shape === undefined || isShape(n.shape)) && (n.session === undefined || (typeof n.session === 'string' && LEASE_ID.test(n.session))) &&
          (n.owner === undefined || (typeof n.owner === 'string' && n.owner.length <= 64))
        );
      case 'unlease':
        return Array.isArray(n.ids) && n.ids.length <= MAX_UNLEASE_IDS && n.ids.every((id) => typeof id === 'string' && LEASE_ID.test(id));
      default:
        return false;
    }
  })();
  return ok ? (raw as ServerNotice) : undefined;
}
