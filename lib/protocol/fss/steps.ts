// The FSS gates' process-wide switches (lib/protocol/fss/drelu.ts, compact_gate.ts).
import { CHUNK_BYTES } from '../../net/wire';
import type { Party } from '../party';
import type { FssGate } from '../protocols';
import { defineGuardedSwitches } from '../test_switches';

/**
 * `maskInput`, `maskBit`, `widthCut` and `maskOwnSeed` (below) are test controls (test_switches.ts: any other value
 * throws outside the tests); `chunkBytes` and `foldMaxCells` are tests' knobs, `compactFrom` a
 * setting. With maskInput false server2 draws r = 0 (and the
 * compact gate's output mask m = 0), so the opened x^ is the input itself; with maskBit false only
 * m is 0, so the compact gate's second opening is DReLU itself. The view tests use them as the
 * controls that must fail. `chunkBytes` bounds one key message (tests lower it to run many chunks;
 * server2 and the compute servers must agree on it). Why one wire chunk (CHUNK_BYTES, 4 MiB: 2040
 * relu keys, 2716 DReLU keys, 4481 compact keys): a message of one chunk reaches the mailbox
 * without being reassembled (one copy fewer on the compute servers), and buffers stay below
 * glibc's 32 MB mmap threshold, so they are reused rather than fresh pages (faulted in at about
 * 0.2 GB/s on the benchmark VM); in-process network A at batch 128 took about 1 s with
 * 32768-element chunks and 0.2 s with 1024 to 4096.
 *
 * `compactFrom`: under the 'auto' gate form (the default; FssGate in protocols.ts), a gate over
 * at least this many elements takes the compact two-round form
 * (compact_gate.ts: 936-byte keys, under half the dealing and hashing) instead of the one-round gate
 * (2056 bytes for relu). Small gates, where rounds decide the latency, keep one round; every
 * gate of a batch-1 query of the paper's networks is below it (the largest, the first level of
 * C_max's first max pool, has 5760 elements). docs/fss.md "Two gate forms" gives the measurements behind the value.
 * server2 and the compute servers must agree on it (it is not negotiated).
 *
 * `foldMaxCells`: under the folding gate forms, a product relu(a) W is folded into the gate
 * before it (folded_product.ts) only while its cells (gate elements times W's columns) are at most
 * this many: a batch-1 classifier head (A's last product is 1280 cells, C's 5000); a larger
 * product (a wide layer, a batch) keeps its round. After a one-round gate a cell costs two payload
 * words per level of its gate element's many-payload key (about 1 KB at the full width for k >= 10
 * columns, 2056 bytes at k = 1: 8 to 16 MiB per compute server at the limit), after a compact gate
 * three dealt words (24 bytes to server1). The compact fold is cheap enough for a higher limit,
 * but folding A's middle product (16384 cells, 393 KB) made A's queries back to back 17% slower
 * under 'compact-folded' (bench/RESULTS.md, "Folded products"), which is the form for deployments
 * bound by their traffic; so one limit. Agreed like compactFrom.
 *
 * `widthCut` (tests only, 0 otherwise): gates whose width comes from a bound on their inputs
 * (gate_common.ts gateBits) take this many bits fewer, so that the width tests' inputs at the
 * bound fall outside it: the control that must fail. `internalWide` (tests only, true otherwise):
 * false caps internal ops' gates (OpCtx.internal) at the deployment's fssBits like the rest, the
 * control of test/fss_bits_internal.test.ts.
 */
export const FSS_STEPS = defineGuardedSwitches({ chunkBytes: CHUNK_BYTES, compactFrom: 16384, foldMaxCells: 8192 }, 'FSS_STEPS', { maskInput: true, maskBit: true, widthCut: 0, maskOwnSeed: true, internalWide: true });

/**
 * server2's seed for the gates' masks r and m: its own, which no other server holds; under the
 * test control maskOwnSeed = false the one it shares with server0, so that server0 could expand
 * r itself (test/fss_view_attacks.test.ts: the attack that must succeed then).
 */
export const maskSeed = (p: Party): Uint8Array => (FSS_STEPS.maskOwnSeed ? p.crypto!.ownSeed(p) : p.crypto!.dealerSeed(p));

/**
 * Whether a gate over n elements takes the compact form under `form` (server2 and the compute
 * servers decide alike): always under 'compact' and 'compact-folded', never under 'one-round', and
 * under 'auto' and 'folded' from `compactFrom` elements (a cluster's fssCompactFrom; the service
 * lowers it for the queries server2 deals under load: lib/serve/gate_form.ts).
 */
export function takesCompactForm(form: FssGate, n: number, compactFrom = FSS_STEPS.compactFrom): boolean {
  return form === 'compact' || form === 'compact-folded' || (form !== 'one-round' && n >= compactFrom);
}

/** Whether `form` folds products into the relu gates before them (folded_product.ts). */
export const foldsGates = (form: FssGate): boolean => form === 'folded' || form === 'compact-folded';

/** Whether a product of `cells` cells (gate elements times output columns) folds under `form` into the relu gate before it. */
export function foldsProduct(form: FssGate, cells: number): boolean {
  return foldsGates(form) && cells <= FSS_STEPS.foldMaxCells;
}
