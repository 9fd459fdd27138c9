// The service's control messages. A client sends the same request to all three servers (key
// 'req', session = a fresh id); server0 then tells server1 and server2 which session index the
// request gets; each server answers the client with a response (key 'res').
import type { ModelTopology } from '../api/layers_spec';
import type { OpTraffic } from '../net/transport';

export type ProtocolName = 'pond' | 'securenn';

export interface PredictRequest {
  type: 'predict';
  model: string;
  /** The input's shape, batch dimension first. */
  shape: number[];
}

export interface DeployRequest {
  type: 'deploy';
  model: string;
  protocol: ProtocolName;
  topology: ModelTopology;
  /** The manifest's weight names and shapes (the values never leave the owner in the clear). */
  weights: { name: string; shape: number[] }[];
}

export interface ModelsRequest {
  type: 'models';
}

/** A server's own counters: in-flight work and memory (for operators and leak checks). */
export interface StatusRequest {
  type: 'status';
}

export interface ServerStatus {
  party: string;
  epoch?: string;
  /** Whether the epoch's setup has finished. */
  ready: boolean;
  running: number;
  pending: number;
  mailbox: number;
  models: number;
  rssBytes: number;
  heapUsedBytes: number;
  /** server2: queries whose side was precomputed, and how many of those were used. */
  pool: { recorded: number; replayed: number };
  /** Native tensors alive and their bytes (a leak shows here first). */
  liveTensors: number;
  tensorBytes: number;
}

export type ClientRequest = PredictRequest | DeployRequest | ModelsRequest | StatusRequest;

/** server0 -> server1, server2: run this client's request as session `index` of `epoch`. */
export interface StartNotice {
  type: 'start';
  epoch: string;
  index: number;
}

/** server0 -> server1, server2: a new setup (after the cluster (re)connects). */
export interface EpochNotice {
  type: 'epoch';
  epoch: string;
  models: { name: string; digest: string }[];
}

/** server0 -> server2: indices reserved for `model`'s future batch-1 queries; precompute them. */
export interface PoolNotice {
  type: 'pool';
  epoch: string;
  model: string;
  indices: number[];
}

export type ServerNotice = StartNotice | EpochNotice | PoolNotice;

export interface ModelInfo {
  name: string;
  protocol: ProtocolName;
  inputShape: number[];
  layers: string[];
}

export type Response =
  | { ok: true; models?: ModelInfo[]; outputShape?: number[]; status?: ServerStatus; traffic?: OpTraffic }
  | { ok: false; error: string };

export const RESPONSE_KEY = 'res';

const MODEL_NAME = /^[A-Za-z0-9_.-]{1,64}$/;

function isShape(v: unknown): v is number[] {
  return Array.isArray(v) && v.length > 0 && v.length <= 8 && v.every((d) => Number.isSafeInteger(d) && d > 0);
}

/** Checks a request's form (not whether the model exists); throws naming the problem. */
export function validateRequest(raw: unknown): ClientRequest {
  if (!raw || typeof raw !== 'object') throw new Error('request must be an object');
  const r = raw as Record<string, unknown>;
  if (r.type === 'models' || r.type === 'status') return { type: r.type };
  if (typeof r.model !== 'string' || !MODEL_NAME.test(r.model)) throw new Error(`model name ${JSON.stringify(r.model)} must be 1-64 letters, digits, '_', '.' or '-'`);
  if (r.type === 'predict') {
    if (!isShape(r.shape)) throw new Error(`input shape ${JSON.stringify(r.shape)} must be a list of positive integers`);
    return { type: 'predict', model: r.model, shape: r.shape };
  }
  if (r.type === 'deploy') {
    if (r.protocol !== 'pond' && r.protocol !== 'securenn') throw new Error(`protocol ${JSON.stringify(r.protocol)} must be 'pond' or 'securenn'`);
    if (!r.topology || typeof r.topology !== 'object') throw new Error('deploy: the model topology is missing');
    if (!Array.isArray(r.weights) || !r.weights.every((w) => w && typeof w.name === 'string' && isShape(w.shape)))
      throw new Error('deploy: weights must be a list of { name, shape }');
    return { type: 'deploy', model: r.model, protocol: r.protocol, topology: r.topology as ModelTopology, weights: r.weights as DeployRequest['weights'] };
  }
  throw new Error(`unknown request type ${JSON.stringify(r.type)}`);
}
