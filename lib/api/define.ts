// Getting values into and out of the private computation, as in tf-encrypted:
// definePrivateInput, definePrivateVariable, definePublicInput and defineOutput.
import type { PartyName } from '../net/transport';
import type { Cluster } from '../protocol/cluster';
import { type Party, tag } from '../protocol/party';
import { output, shareInput } from '../protocol/pond/share';
import { RingTensor } from '../tensor/ring_tensor';
import { getCluster } from './session';
import { type AnyTensor, PrivateTensor, PublicTensor } from './tensor';
import { type Dense, type NestedArray, type TensorValue, toDense, toNested } from './values';

export type Provider = () => TensorValue | TensorValue[];

function isList(v: unknown): v is TensorValue[] {
  return Array.isArray(v) && v.length > 0 && v.every((e) => typeof e === 'object' && e !== null && !Array.isArray(e));
}

/** Runs a player's provider and encodes its tensors; errors name the player. */
function provide(fn: string, cluster: Cluster, player: PartyName, provider: Provider): { list: boolean; values: { dense: Dense; ring: RingTensor }[] } {
  const party = cluster.party(player);
  if (party.role !== 'player') throw new Error(`${fn}: '${player}' is a server, not an input player`);
  if (typeof provider !== 'function') throw new TypeError(`${fn}: provider for '${player}' must be a function`);
  let v: TensorValue | TensorValue[];
  try {
    v = provider();
  } catch (e) {
    throw new Error(`${fn}: the provider of '${player}' threw: ${(e as Error).message}`);
  }
  if (v && typeof (v as unknown as Promise<unknown>).then === 'function')
    throw new TypeError(`${fn}: the provider of '${player}' returned a Promise; await the data first and return it synchronously`);
  const list = isList(v);
  const items: TensorValue[] = list ? (v as TensorValue[]) : [v as TensorValue];
  const values = items.map((t, i) => {
    const what = `${fn}: '${player}' value ${i}`;
    let dense: Dense;
    try {
      dense = toDense(t, what);
    } catch (e) {
      // Nested arrays are one tensor: a list of differently shaped ones reads as a ragged array.
      if (/ragged nested array/.test((e as Error).message)) throw new TypeError(`${(e as Error).message}; a provider returning several tensors returns each as {data, shape} or a TensorFlow.js tensor (a list of nested arrays is one tensor)`);
      throw e;
    }
    try {
      // Encoded where the player's tensors live (its own stream on a GPU).
      return { dense, ring: cluster.inParty(player, () => RingTensor.fromFloat64Array(dense.data, dense.shape, { fracBits: cluster.fixed.fracBits })) };
    } catch (e) {
      throw new Error(`${what}: ${(e as Error).message}`);
    }
  });
  return { list, values };
}

function shareFrom(cluster: Cluster, player: PartyName, ring: RingTensor, shape: number[]): PrivateTensor {
  const op = cluster.nextOp('input');
  const shares = cluster.run(op, (p: Party, o) => shareInput(p, o, player, p.name === player ? ring : undefined), true);
  shares.finally(() => ring.dispose()).catch(() => undefined);
  return new PrivateTensor(cluster, shape, shares);
}

/**
 * The player runs `provider` and secret-shares what it returns between server0 and server1.
 * A provider returning a list of tensors (TensorFlow.js tensors or {data, shape}) gives a list.
 */
export function definePrivateInput(player: PartyName, provider: () => TensorValue, cluster?: Cluster): PrivateTensor;
export function definePrivateInput(player: PartyName, provider: () => TensorValue[], cluster?: Cluster): PrivateTensor[];
export function definePrivateInput(player: PartyName, provider: Provider, cluster = getCluster()): PrivateTensor | PrivateTensor[] {
  const { list, values } = provide('definePrivateInput', cluster, player, provider);
  const tensors = values.map((v) => shareFrom(cluster, player, v.ring, v.dense.shape));
  return list ? tensors : tensors[0];
}

/** A private value set up by `owner` (default: 'model-owner'), e.g. model weights. */
export function definePrivateVariable(initial: TensorValue, opts: { owner?: PartyName; cluster?: Cluster } = {}): PrivateTensor {
  const cluster = opts.cluster ?? getCluster();
  const { values } = provide('definePrivateVariable', cluster, opts.owner ?? 'model-owner', () => initial);
  if (values.length !== 1) throw new Error(`definePrivateVariable: takes one tensor, got a list of ${values.length}`);
  const [v] = values;
  return shareFrom(cluster, opts.owner ?? 'model-owner', v.ring, v.dense.shape);
}

/** The player sends a public value to both compute servers. */
export function definePublicInput(player: PartyName, provider: Provider, cluster = getCluster()): PublicTensor {
  const { values } = provide('definePublicInput', cluster, player, provider);
  if (values.length !== 1) throw new Error('definePublicInput: the provider must return one tensor');
  const { dense, ring } = values[0];
  const op = cluster.nextOp('publicInput');
  const t = tag(op, 'input');
  const run = cluster.run(op, async (p) => {
    if (p.name === player) {
      await Promise.all([p.sendTensor('server0', t, ring), p.sendTensor('server1', t, ring)]);
      return null;
    }
    return p.isCompute ? p.recvTensor(player, t, dense.shape) : null;
  }, true);
  run.finally(() => ring.dispose()).catch(() => undefined);
  return new PublicTensor(cluster, dense.shape, run);
}

/** What a receiver gets: the decoded output. */
export interface Decoded {
  data: Float64Array;
  shape: number[];
  toArray(): NestedArray;
}

/**
 * Sends `x` to `player` only (the servers send their shares; nobody else learns it), decodes it
 * there and calls `receiver`. Resolves with what the receiver returned (or the decoded value).
 */
export async function defineOutput<R = Decoded>(player: PartyName, x: AnyTensor, receiver?: (v: Decoded) => R): Promise<R> {
  const cluster = x.cluster;
  const party = cluster.party(player);
  if (party.role !== 'player') throw new Error(`defineOutput: '${player}' is a server, not an output player`);
  const op = cluster.nextOp('output');
  let result: Map<PartyName, RingTensor | null>;
  if (x.kind === 'private') {
    const shares = await x.shares;
    result = await cluster.run(op, (p, o) => output(p, o, shares.get(p.name) ?? null, player), true);
  } else {
    const values = await x.values;
    const t = tag(op, 'output');
    result = await cluster.run(op, async (p) => {
      if (p.role === 0) await p.sendTensor(player, t, values.get(p.name)!);
      return p.name === player ? p.recvTensor('server0', t) : null;
    }, true);
  }
  const ring = result.get(player)!;
  const data = ring.toFloat64Array({ fracBits: cluster.fixed.fracBits });
  ring.dispose();
  const decoded: Decoded = { data, shape: [...x.shape], toArray: () => toNested(data, x.shape) };
  return receiver ? receiver(decoded) : (decoded as unknown as R);
}
