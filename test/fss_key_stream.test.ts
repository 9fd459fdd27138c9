// server2 deals FSS keys in chunks, sending chunk c while it makes chunk c + 1
// (lib/protocol/fss/key_stream.ts). A send that fails while the next chunk is being made (a
// compute server gone, a run ahead discarded) must end the dealing with that error, not leave a
// rejected promise unhandled: Node ends the process on one, which took server2 down mid-benchmark.
import test from 'ava';

import { dealKeys } from '../lib/protocol/fss/key_stream';
import type { OpCtx, Party } from '../lib/protocol/party';
import { RingTensor } from '../lib/ring';

test('a key send that fails while the next chunk is made rejects dealKeys and leaves nothing unhandled', async (t) => {
  const unhandled: unknown[] = [];
  const onUnhandled = (e: unknown) => unhandled.push(e);
  process.on('unhandledRejection', onUnhandled);
  let made = 0, sends = 0;
  const party = {
    sendTensor: async () => {
      sends++;
      throw new Error('link down');
    },
  } as unknown as Party;
  const op = { id: 1, name: 'relu' } as unknown as OpCtx;
  const make = async (): Promise<[RingTensor, RingTensor]> => {
    made++;
    // Long enough for the failed send's rejection to be noticed while this chunk is made.
    await new Promise((r) => setTimeout(r, 30));
    return [RingTensor.fromBigInts([1n, 2n], [2]), RingTensor.fromBigInts([3n, 4n], [2])];
  };
  try {
    await t.throwsAsync(dealKeys(party, op, [[0, 2], [2, 2], [4, 2]], make), { message: 'link down' });
    await new Promise((r) => setTimeout(r, 50));
    t.deepEqual(unhandled, []);
    t.is(made, 2, 'the dealing stops at the first failed chunk');
    t.is(sends, 2, 'both keys of the first chunk were sent, nothing after');
  } finally {
    process.off('unhandledRejection', onUnhandled);
  }
});
