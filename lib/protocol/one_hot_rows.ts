// How server2 deals one-hot rows at points only it knows (shared_one_hot.ts): the rows themselves,
// seed-compressed (every protocol: server1 receives 2^bits words per row), or, where the protocol
// says so (ExactProtocol.oneHotRows: FSS), one distributed point function key per row, which each
// compute server expands over the whole domain (2 bits + 3 words per row on the wire).
import { DPF_ALL_MAX_BITS, dpfEvalAll, dpfKeygen, dpfKeyWords, sub } from '../ops';
import { RingTensor } from '../tensor/ring_tensor';
import { nonceFor } from './correlated';
import { deal, ringPrg } from './dealer';
import { type OpCtx, type Party, SERVER0, SERVER1, SERVER2, tag } from './party';

export interface OneHotRows {
  /**
   * server2: deals the rows [n, 2^bits] with the ring's 1 at `points[i]` (each below 2^bits) as
   * slot `slot` of `op`; server0 and server1 (points null): their shares of those rows.
   */
  deal(p: Party, op: OpCtx, slot: number, points: BigUint64Array | null, n: number, bits: number): Promise<RingTensor | null>;
}

/** The rows themselves, dealt as any value is (dealer.ts: server0 expands its share, server1 receives the rest). */
export const DEALT_ROWS: OneHotRows = {
  async deal(p, op, slot, points, n, bits) {
    const W = 2 ** bits, shape = [n, W];
    let rows: RingTensor | null = null;
    if (points) {
      const e = new BigUint64Array(n * W);
      for (let i = 0; i < n; i++) e[i * W + Number(points[i])] = 1n;
      rows = RingTensor.fromBigUint64Array(e, shape);
    }
    try {
      return await deal(p, op, 'onehot.deal', slot, rows, ringPrg(shape), sub, shape);
    } finally {
      rows?.dispose();
    }
  },
};

/**
 * One DPF key per row (native/src/fss/dpf.h, payload 1): server2 makes the pair from its own seed
 * and sends k0 to server0, k1 to server1; each expands its key at every point (dpfEvalAll), and
 * the two expansions sum to the row. What each receives: its key, pseudorandom on its own (it
 * hides the point: dpf.h); server2 receives nothing.
 */
export const DPF_ROWS: OneHotRows = {
  async deal(p, op, slot, points, n, bits) {
    // Rows wider than the expansion takes (2^20 values) go as rows (every party decides alike).
    if (bits > DPF_ALL_MAX_BITS) return DEALT_ROWS.deal(p, op, slot, points, n, bits);
    const t = tag(op, 'onehot.key', String(slot)), words = dpfKeyWords(bits);
    if (p.role === 2 && points) {
      const [alpha, one] = [RingTensor.fromBigUint64Array(points, [n]), RingTensor.fromBigUint64Array(new BigUint64Array(n).fill(1n), [n])];
      try {
        const [k0, k1] = await dpfKeygen(alpha, one, { bits, seed: p.crypto!.ownSeed(p), nonce: nonceFor(op.id, slot) });
        try {
          await Promise.all([p.sendTensor(SERVER0, t, k0), p.sendTensor(SERVER1, t, k1)]);
        } finally {
          k0.dispose();
          k1.dispose();
        }
      } finally {
        alpha.dispose();
        one.dispose();
      }
      return null;
    }
    if (!p.isCompute) return null;
    // The key's shape is checked before it is read (recvTensor).
    const key = await p.recvTensor(SERVER2, t, [n, words]);
    try {
      return await dpfEvalAll(key, { bits, party: p.role as 0 | 1 });
    } finally {
      key.dispose();
    }
  },
};
