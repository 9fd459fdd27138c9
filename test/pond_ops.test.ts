// Pond's linear ops (add, sub, neg, layout ops, concat, reduceSum) against float64, and its
// refusal of the comparison ops: the shared protocol suites run for 'pond'. Also a check that the
// suites' bound assertion can fail.
import test from 'ava';

import { U, within } from './helpers/fixed';
import { comparisonSuite, linearSuite } from './helpers/protocol_suite';

linearSuite('pond');
comparisonSuite('pond');

test('the bound assertion rejects an error just over its bound, and NaN', async (t) => {
  // An attempt must be discarded or committed before the outer test asserts again.
  const attempt = async (got: number[], want: number[], bound: number): Promise<boolean> => {
    const r = await t.try((tt) => within(tt, got, want, bound, 'attempt'));
    r.discard();
    return r.passed;
  };
  t.false(await attempt([1, 1 + 1.01 * U], [1, 1], U), 'one unit and a bit');
  t.false(await attempt([Number.NaN], [0], 1), 'NaN');
  t.false(await attempt([1, 2], [1], 1), 'length mismatch');
  t.true(await attempt([1 + U], [1], U), 'exactly the bound');
});
