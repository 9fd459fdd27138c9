// The view check the one-hot rows' tests share (test/vocabulary_table*.test.ts): two runs on
// different secrets give every server the same view; with the distance's mask off (the control,
// ONE_HOT_STEPS.mask) the same comparison flags server1's opening.
import type { ExecutionContext } from 'ava';

import { ONE_HOT_STEPS } from '../../lib/protocol/shared_one_hot';
import { compareViews, sameViewStatistics, type Seen } from './view_stats';

/** `run` records one run per secret; returns the masked runs' results for the caller's own checks. */
export async function viewsAgreeAndControlFails<T extends { seen: Seen[] }>(t: ExecutionContext, run: () => Promise<readonly [T, T]>): Promise<readonly [T, T]> {
  const [a, b] = await run();
  sameViewStatistics(t, a.seen, b.seen, ['server0', 'server1', 'server2']);
  await controlFlagged(t, run, 'mask');
  return [a, b];
}

/**
 * With ONE_HOT_STEPS[`step`] off (`mask`: the distance unmasked; `fraction`: a code's fraction
 * bits unmasked), the same comparison flags server1's opening.
 */
export async function controlFlagged<T extends { seen: Seen[] }>(t: ExecutionContext, run: () => Promise<readonly [T, T]>, step: 'mask' | 'fraction'): Promise<void> {
  ONE_HOT_STEPS[step] = false;
  try {
    const [ca, cb] = await run();
    t.true(compareViews(ca.seen, cb.seen, 'server1').differ.some((d) => /onehot\.open/.test(d)), `the ${step} control is flagged`);
  } finally {
    ONE_HOT_STEPS[step] = true;
  }
}
