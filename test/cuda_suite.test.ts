// The protocol suites again on the CUDA backend (protocol x device), with each party on its own
// stream of the one GPU. Without a usable GPU they are skipped, and the skipped test's title says
// why (ava prints it).
import test from 'ava';

import { packageRoot } from '../lib/backend/backends';
import { probeCuda } from '../lib/backend/cuda_loader';
import { PROTOCOLS } from '../lib/protocol/protocols';
import { protocolSuite } from './helpers/protocol_suite';
import { setSuiteDevice } from './helpers/suites/harness';

const cuda = probeCuda(packageRoot);
if (cuda.available) {
  setSuiteDevice('cuda');
  // Every protocol (FSS's DCF keygen and evaluation run on the device: native/cuda/fss_dcf.cu).
  for (const protocol of PROTOCOLS) protocolSuite(protocol);
} else {
  test.skip(`protocol suites on CUDA: skipped, ${cuda.reason}`, () => undefined);
}
