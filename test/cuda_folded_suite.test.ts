// The FSS protocol suite under the 'folded' gate form on the CUDA backend (protocol x device, as
// cuda_suite.test.ts for the default form): the folded product's ring ops and DCF kernels on the
// device. Without a usable GPU it is skipped, and the skipped test's title says why.
import test from 'ava';

import { packageRoot } from '../lib/backend/backends';
import { probeCuda } from '../lib/backend/cuda_loader';
import { protocolSuite } from './helpers/protocol_suite';
import { setSuiteClusterOptions, setSuiteDevice } from './helpers/suites/harness';

const cuda = probeCuda(packageRoot);
if (cuda.available) {
  setSuiteDevice('cuda');
  setSuiteClusterOptions({ fssGate: 'folded' });
  protocolSuite('fss');
} else {
  test.skip(`the FSS suite under 'folded' on CUDA: skipped, ${cuda.reason}`, () => undefined);
}
