// The protocols' test controls (lib/protocol/test_switches.ts): outside the test runner's
// environment, switching a hiding step off throws and leaves it on; its safe value can always be
// set; the settings beside them stay settable. Under TFE_TEST_CONTROLS=1 (the ava config) the
// view tests can switch them off, which is the control here.
import test from 'ava';

import { FSS_STEPS } from '../lib/protocol/fss/steps';
import { DRELU_STEPS } from '../lib/protocol/securenn/drelu_one_compare';
import { PRIVATE_COMPARE_STEPS } from '../lib/protocol/securenn/private_compare';

test.serial('hiding steps cannot be switched off outside the tests; restoring and the settings beside them can', (t) => {
  const env = process.env.TFE_TEST_CONTROLS;
  t.is(env, '1', 'the ava config sets it');
  delete process.env.TFE_TEST_CONTROLS;
  try {
    t.throws(() => (FSS_STEPS.maskInput = false), { message: /FSS_STEPS\.maskInput is a test control: setting it to false would weaken/ });
    t.throws(() => (FSS_STEPS.maskBit = false), { message: /FSS_STEPS\.maskBit is a test control/ });
    t.throws(() => (FSS_STEPS.widthCut = 2), { message: /FSS_STEPS\.widthCut is a test control/ });
    t.throws(() => (FSS_STEPS.internalWide = false), { message: /FSS_STEPS\.internalWide is a test control/ });
    t.throws(() => Object.assign(PRIVATE_COMPARE_STEPS, { permute: false }), { message: /PRIVATE_COMPARE_STEPS\.permute is a test control/ });
    t.throws(() => (PRIVATE_COMPARE_STEPS.rerandomise = false), { message: /rerandomise/ });
    t.throws(() => (DRELU_STEPS.maskInput = false), { message: /DRELU_STEPS\.maskInput is a test control/ });
    t.deepEqual([FSS_STEPS.maskInput, FSS_STEPS.maskBit, FSS_STEPS.widthCut, FSS_STEPS.internalWide, PRIVATE_COMPARE_STEPS.permute, PRIVATE_COMPARE_STEPS.rerandomise], [true, true, 0, true, true, true], 'all still on');
    t.notThrows(() => (FSS_STEPS.maskInput = true));
    const from = FSS_STEPS.compactFrom;
    t.notThrows(() => (FSS_STEPS.compactFrom = 99));
    FSS_STEPS.compactFrom = from;
    t.throws(() => ((FSS_STEPS as Record<string, unknown>).extra = 1), undefined, 'sealed: no new switches');
  } finally {
    process.env.TFE_TEST_CONTROLS = env;
  }
  // Control: in the tests' environment they switch off (and back).
  FSS_STEPS.maskInput = false;
  t.false(FSS_STEPS.maskInput);
  FSS_STEPS.maskInput = true;
  t.deepEqual({ ...PRIVATE_COMPARE_STEPS }, { permute: true, rerandomise: true }, 'spreading reads them as fields');
});
