// Bad input fails at once with a message that names what is wrong (shapes, the player, the
// index of a bad value), and leaves the cluster usable.
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';

import test from 'ava';

import * as tfe from '../../../lib';
import { enc, rand, within } from '../fixed';
import { open, priv, type Protocol, pub, withCluster } from './harness';

export function errorSuite(protocol: Protocol): void {
  test(`${protocol}: shape errors name both shapes and are thrown when the op is called`, (t) =>
    withCluster(protocol, async (c) => {
      const x = priv(c, rand(3, 1), [1, 3]), w = priv(c, rand(8, 1), [4, 2]), v = priv(c, rand(4, 1), [4]);
      const img = priv(c, rand(2 * 5 * 5 * 3, 1), [2, 5, 5, 3]), f = priv(c, rand(3 * 3 * 2 * 4, 1), [3, 3, 2, 4]);
      t.throws(() => tfe.matmul(x, w), { message: 'matmul: [1,3] x [4,2]: inner dimensions 3 and 4 differ' });
      t.throws(() => x.matmul(w), { message: 'matmul: [1,3] x [4,2]: inner dimensions 3 and 4 differ' });
      t.throws(() => tfe.matmul(x, v), { message: 'matmul: [1,3] x [4]: both inputs must be matrices or stacks of them' });
      t.throws(() => tfe.add(x, w), { message: /^add: shapes \[1,3\] and \[4,2\] cannot be broadcast/ });
      t.throws(() => tfe.sub(w, x), { message: /^sub: shapes \[4,2\] and \[1,3\] cannot be broadcast/ });
      t.throws(() => tfe.mul(x, v), { message: /^mul: shapes \[1,3\] and \[4\] cannot be broadcast/ });
      t.throws(() => tfe.conv2d(img, f), { message: /conv2d: input \[2,5,5,3\] has 3 channels but filter \[3,3,2,4\] expects 2/ });
      t.throws(() => tfe.conv2d(x, f), { message: /conv2d: input must be NHWC \(rank 4\), got shape \[1,3\]/ });
      t.throws(() => tfe.avgPool2d(img, { poolSize: 6 }), { message: /avgPool2d: window 6x6 is larger than the input \[2,5,5,3\]/ });
      t.throws(() => tfe.reshape(w, [3, 3]), { message: 'reshape: cannot reshape [4,2] (8 values) to [3,3]' });
      t.throws(() => tfe.transpose(w, [0, 0]), { message: /transpose: \[0,0\] is not a permutation of the axes of \[4,2\]/ });
      t.throws(() => tfe.slice(w, [3, 0], [2, 2]), { message: /slice: begin \[3,0\] size \[2,2\] is out of bounds for shape \[4,2\]/ });
      t.throws(() => tfe.concat([x, w], 0), { message: /concat: shapes \[1,3\] and \[4,2\] differ outside axis 0/ });
      t.throws(() => tfe.reduceSum(w, 2), { message: /reduceSum: axis 2 is out of range for shape \[4,2\]/ });
      t.throws(() => tfe.pad(w, [[1, 1]]), { message: /pad: paddings must hold one \[before, after\] pair per axis of \[4,2\]/ });
      // After all that, the cluster still computes correctly.
      const a = rand(3, 2);
      within(t, await open(priv(c, a, [1, 3]).add(x).sub(x)), Array.from(a, enc), 0, 'cluster usable after errors');
    }));

  test(`${protocol}: unknown players, servers as players, and failing providers are named`, (t) =>
    withCluster(protocol, async (c) => {
      const ok = () => [[1, 2]];
      t.throws(() => tfe.definePrivateInput('nobody', ok, c), { message: /unknown player 'nobody'/ });
      t.throws(() => tfe.definePublicInput('nobody', ok, c), { message: /unknown player 'nobody'/ });
      t.throws(() => tfe.definePrivateVariable([[1]], { owner: 'nobody', cluster: c }), { message: /unknown player 'nobody'/ });
      await t.throwsAsync(tfe.defineOutput('nobody', priv(c, [1], [1])), { message: /unknown player 'nobody'/ });
      t.throws(() => tfe.definePrivateInput('server1', ok, c), { message: /'server1' is a server/ });
      await t.throwsAsync(tfe.defineOutput('server2', priv(c, [1], [1])), { message: /'server2' is a server, not an output player/ });
      t.throws(() => tfe.definePrivateInput('model-owner', () => { throw new Error('disk on fire'); }, c), {
        message: "definePrivateInput: the provider of 'model-owner' threw: disk on fire",
      });
      t.throws(() => tfe.definePublicInput('input-provider', () => { throw new Error('no data'); }, c), { message: /the provider of 'input-provider' threw: no data/ });
      t.throws(() => tfe.definePrivateInput('model-owner', 42 as never, c), { message: /provider for 'model-owner' must be a function/ });
      t.throws(() => tfe.definePrivateInput('model-owner', (() => Promise.resolve([[1]])) as never, c), { message: /the provider of 'model-owner' returned a Promise/ });
      t.throws(() => tfe.definePrivateInput('prediction-client', (async () => [[1]]) as never, c), { message: /'prediction-client' returned a Promise/ });
    }));

  test(`${protocol}: values that cannot be encoded name their index`, (t) =>
    withCluster(protocol, async (c) => {
      const input = (v: tfe.TensorValue) => () => tfe.definePrivateInput('model-owner', () => v, c);
      t.throws(input([[1, 2], [3, 1e300]]), { message: /'model-owner' value 0: .*value 1e\+300 at index 3 is outside the representable range \[-2\^47, 2\^47\)/ });
      t.throws(input({ data: [0, Number.NaN, 1], shape: [3] }), { message: /NaN at index 1 cannot be encoded/ });
      t.throws(input({ data: [0, 1, -Infinity], shape: [3] }), { message: /-Infinity at index 2 cannot be encoded/ });
      // The range is [-2^47, 2^47): its lower end encodes, its upper end does not.
      t.throws(input([0, 2 ** 47]), { message: /value 140737488355328 at index 1 is outside/ });
      t.deepEqual([...(await open(tfe.definePrivateInput('model-owner', () => [-(2 ** 47)], c)))], [-(2 ** 47)]);
      // In a list, the message names which tensor.
      t.throws(() => tfe.definePrivateInput('model-owner', () => [{ data: [1], shape: [1] }, { data: [1, 2e300], shape: [2] }], c), { message: /value 1: .*at index 1/ });
      t.throws(input([[1, 2], [3]]), { message: /ragged nested array/ });
      t.throws(input({ data: [1, 2, 3], shape: [2, 2] }), { message: /data has 3 elements but shape \[2,2\] needs 4/ });
      t.throws(() => tfe.mul(priv(c, [1], [1]), Number.NaN), { message: /mul: constant NaN is outside the fixed-point range/ });
      t.throws(() => tfe.add(priv(c, [1], [1]), 2 ** 50), { message: /add: scalar 1125899906842624 is outside the fixed-point range/ });
    }));

  test(`${protocol}: unsupported polynomials, public activations and mixed clusters are refused`, (t) =>
    withCluster(protocol, async (c) => {
      const x = priv(c, rand(4, 1), [4]);
      t.throws(() => tfe.polynomial(x, { coeffs: [0, 1, 0, 0, 1], interval: [-1, 1], maxError: 0 }), { message: /degree 4 is not supported/ });
      t.throws(() => tfe.polynomial(x, { coeffs: [1], interval: [-1, 1], maxError: 0 }), { message: /degree 0 is not supported/ });
      t.throws(() => tfe.sigmoid(pub(c, [1, 2], [2])), { message: /sigmoid: expects a private tensor/ });
      t.throws(() => tfe.reluPolynomial(0), { message: /must be positive/ });
      t.throws(() => tfe.setProtocol('spdz' as never), { message: /unknown protocol "spdz"/ });
      t.throws(() => tfe.add(x, 'a' as never), { message: /expected a PrivateTensor or PublicTensor/ });
      await withCluster(protocol, async (other) => {
        t.throws(() => tfe.matmul(priv(c, [1], [1, 1]), priv(other, [1], [1, 1])), { message: 'matmul: tensors belong to different clusters' });
      });
    }));

  // Was a bug: conv2d and avgPool2d took strides and poolSize unvalidated, giving shapes like
  // [1,Infinity,Infinity,1] and late, unclear errors. They now validate when called.
  test(`${protocol}: conv2d and avgPool2d reject bad strides and pool sizes when called, naming them`, (t) =>
    withCluster(protocol, async (c) => {
      const img = priv(c, rand(16, 1), [1, 4, 4, 1]), f = priv(c, rand(1, 1), [1, 1, 1, 1]);
      const bad: [string, () => tfe.AnyTensor, RegExp][] = [
        ['conv2d strides 0', () => tfe.conv2d(img, f, { strides: 0 }), /conv2d: strides/],
        ['conv2d strides -1', () => tfe.conv2d(img, f, { strides: -1 }), /conv2d: strides/],
        ['conv2d strides [1]', () => tfe.conv2d(img, f, { strides: [1] as never }), /conv2d: strides/],
        ['avgPool2d poolSize 0', () => tfe.avgPool2d(img, { poolSize: 0 }), /avgPool2d: poolSize/],
        ['avgPool2d poolSize -2', () => tfe.avgPool2d(img, { poolSize: -2 }), /avgPool2d: poolSize/],
        ['avgPool2d poolSize [2]', () => tfe.avgPool2d(img, { poolSize: [2] as never }), /avgPool2d: poolSize/],
        ['avgPool2d strides -1', () => tfe.avgPool2d(img, { poolSize: 2, strides: -1 }), /avgPool2d: strides/],
      ];
      for (const [name, op, message] of bad) {
        let shape: readonly number[] | undefined;
        const err = t.throws(() => (shape = op().shape), { message }, name);
        if (!err) t.log(`${name}: no error; result shape ${JSON.stringify(shape)}`);
      }
    }));

  // Was a bug: with strides 0 avgPool2d's output size was Infinity and the process died of
  // memory instead of throwing. Run in a child process with a small heap, so that a regression
  // cannot take this test file down.
  test(`${protocol}: avgPool2d with strides 0 throws instead of crashing the process`, (t) => {
    const lib = path.join(__dirname, '../../../lib');
    const script = [
      `const tfe = require(${JSON.stringify(lib)});`,
      `const c = new tfe.Cluster({ protocol: ${JSON.stringify(protocol)} });`,
      `const x = tfe.definePrivateInput('model-owner', () => ({ data: new Array(16).fill(1), shape: [1, 4, 4, 1] }), c);`,
      `try { tfe.avgPool2d(x, { poolSize: 2, strides: 0 }); console.log('no error'); } catch (e) { console.log('threw: ' + e.message); }`,
      `c.close();`,
    ].join('\n');
    const r = spawnSync(process.execPath, ['--max-old-space-size=64', '-e', script], { encoding: 'utf8', timeout: 60_000 });
    t.is(r.status, 0, `child exited with status ${r.status}, signal ${r.signal}: ${r.stderr.split('\n').slice(0, 4).join(' | ')}`);
    t.regex(r.stdout, /threw: avgPool2d: strides/);
  });
}
