// The receiver of an output frees the share that came when the other fails (a link gone mid-query):
// before, Promise.all rejected at the failure and the share that had arrived was left to the
// garbage collector's backstop, so a long-running client's live tensors drifted up with failures.
import test from 'ava';

import { output } from '../lib/protocol/pond/share';
import { type Party, SERVER0 } from '../lib/protocol/party';
import { CLIENT, OUTPUT_OP } from '../lib/serve/programs';
import { liveTensorCount, RingTensor } from '../lib/tensor/ring_tensor';

test.serial("output frees the share that came when the other share's receive fails", async (t) => {
  const before = liveTensorCount();
  const party = {
    name: CLIENT,
    isCompute: false,
    recvTensor: (from: string) => (from === SERVER0 ? Promise.resolve(RingTensor.fromFloat64Array(Float64Array.of(1, 2, 3), [3], { fracBits: 16 })) : new Promise((_, reject) => setTimeout(() => reject(new Error('server1 disconnected')), 20))),
  } as unknown as Party;
  await t.throwsAsync(output(party, OUTPUT_OP, null, CLIENT), { message: 'server1 disconnected' });
  t.is(liveTensorCount(), before);
});

test.serial('output fails at the first failure, and frees a share that comes after it', async (t) => {
  const before = liveTensorCount();
  const party = {
    name: CLIENT,
    isCompute: false,
    recvTensor: (from: string) =>
      from === SERVER0 ? new Promise((r) => setTimeout(() => r(RingTensor.fromFloat64Array(Float64Array.of(1), [1], { fracBits: 16 })), 100)) : Promise.reject(new Error('server1 disconnected')),
  } as unknown as Party;
  const t0 = Date.now();
  await t.throwsAsync(output(party, OUTPUT_OP, null, CLIENT), { message: 'server1 disconnected' });
  t.true(Date.now() - t0 < 80, 'not after the other share');
  await new Promise((r) => setTimeout(r, 200));
  t.is(liveTensorCount(), before);
});
