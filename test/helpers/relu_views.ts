// Every tensor message of one private ReLU under FSS, recorded: the view tests of both gate forms
// (test/fss_view.test.ts, test/fss_compact_view.test.ts) compare these for two secrets.
import type { ExecutionContext } from 'ava';

import * as tfe from '../../lib';
import { FSS_STEPS } from '../../lib/protocol/fss/steps';
import { BEAVER_STEPS } from '../../lib/protocol/pond/arith';
import { DRELU_STEPS } from '../../lib/protocol/securenn/drelu_one_compare';
import { enc } from './fixed';
import { newCluster, type Protocol } from './suites/harness';
import { recordTensors, sameViewStatistics, type Seen } from './view_stats';

/** One private ReLU of `x` under `protocol` (and these cluster options), with what `record` starts recording before it runs. */
export async function recordedRelu<T>(protocol: Protocol, x: ArrayLike<number>, record: (c: tfe.Cluster) => T, opts: tfe.ClusterOptions = {}, op: (x: tfe.PrivateTensor) => tfe.PrivateTensor = tfe.relu): Promise<{ seen: T; out: Float64Array }> {
  const c = newCluster(protocol, opts);
  try {
    const seen = record(c);
    const xs = tfe.definePrivateInput('input-provider', () => ({ data: x, shape: [x.length] }), c);
    const out = (await tfe.defineOutput('output-receiver', op(xs))).data;
    return { seen, out };
  } finally {
    await c.close();
  }
}

export const reluViews = (x: Float64Array): Promise<{ seen: Seen[]; out: Float64Array }> => recordedRelu('fss', x, recordTensors);

/** The comparison gate forms, with the servers whose views each test compares: FSS's two gates, SecureNN's two DReLUs. */
export const GATE_FORMS: [string, Protocol, tfe.ClusterOptions, string[]][] = [
  ['FSS one-round gate', 'fss', { fssGate: 'one-round' }, ['server0', 'server1']],
  ['FSS compact gate', 'fss', { fssGate: 'compact' }, ['server0', 'server1']],
  ['SecureNN one-compare', 'securenn', {}, ['server0', 'server1', 'server2']],
  ["SecureNN paper's DReLU", 'securenn', { securennDrelu: 'paper' }, ['server0', 'server1', 'server2']],
];

/**
 * Runs `run` with the one masking that hides a gate form's comparison input removed: FSS's input
 * mask (FSS_STEPS.maskInput); SecureNN's paper DReLU: the Beaver openings (BEAVER_STEPS.mask: its
 * relu is x times its DReLU bit, so x - a is opened as x); its one-compare DReLU: r
 * (DRELU_STEPS.maskInput: x + r is opened as x). Then `controlFlag`'s opening must differ between
 * two secrets in server0's view: the control of each view test. Serial only.
 */
export async function withoutInputMask<T>(protocol: Protocol, opts: tfe.ClusterOptions, run: () => Promise<T>): Promise<T> {
  if (protocol === 'fss') FSS_STEPS.maskInput = false;
  else if (opts.securennDrelu === 'paper') BEAVER_STEPS.mask = false;
  else DRELU_STEPS.maskInput = false;
  try {
    return await run();
  } finally {
    FSS_STEPS.maskInput = true;
    BEAVER_STEPS.mask = true;
    DRELU_STEPS.maskInput = true;
  }
}

/** The opening a gate form's control must flag (see withoutInputMask). */
export const controlFlag = (protocol: Protocol, opts: tfe.ClusterOptions): RegExp => (protocol === 'fss' ? /fss\.open/ : opts.securennDrelu === 'paper' ? /\/open\// : /dr\.open/);

/** The two secrets: a constant, and values of both signs spread over +-10^6. */
export const constant = new Float64Array(4096).fill(-1.25);
export const spread = Float64Array.from({ length: 4096 }, () => (Math.random() - 0.5) * 2e6);

/**
 * relu in 16-bit fixed point, computed in plaintext: encoded as the library does, ties to even
 * (`spread`'s values fall on a tie about once in 32 runs: Math.round was one unit off there).
 */
export const exactRelu = (x: Float64Array) => [...x].map((v) => (Math.max(v, 0) === 0 ? 0 : enc(v)));

/**
 * A ReLU over 4096 elements with keys of `words` words in chunks of 1000: exact, the keys travel
 * in five messages, and both compute servers' views have the same statistics for two secrets.
 */
export async function checkChunkedRelu(t: ExecutionContext, words: number): Promise<void> {
  const chunkBytes = FSS_STEPS.chunkBytes;
  FSS_STEPS.chunkBytes = 1000 * 8 * words + 100;
  try {
    const [a, b] = [await reluViews(constant), await reluViews(spread)];
    t.deepEqual([...b.out], exactRelu(spread), 'relu is exact');
    const keys = b.seen.filter((m) => m.to === 'server0' && m.key.includes('fss.key'));
    t.deepEqual(keys.map((m) => m.shape), [[1000, words], [1000, words], [1000, words], [1000, words], [96, words]], 'keys travel in chunks');
    sameViewStatistics(t, a.seen, b.seen, ['server0', 'server1']);
  } finally {
    FSS_STEPS.chunkBytes = chunkBytes;
  }
}

/** What one private ReLU over n random values sends, under `protocol` (FSS) with these cluster options. */
export async function reluTraffic(n: number, opts: tfe.ClusterOptions = {}, protocol: Protocol = 'fss'): Promise<{ bytes: number; messages: number; rounds: number }> {
  const c = newCluster(protocol, opts);
  try {
    const x = tfe.definePrivateInput('input-provider', () => ({ data: Array.from({ length: n }, () => Math.random() - 0.5), shape: [n] }), c);
    await x.shares;
    await tfe.relu(x).shares;
    return c.transport.traffic().byOp.relu;
  } finally {
    await c.close();
  }
}
