// The protocol test suite: every body is a function of the protocol name, so that each protocol
// runs the same tests (test/pond_*.test.ts call them for 'pond'; a SecureNN file calls them for
// 'securenn'). The bodies live in ./suites/, one module per area, to keep files short; where
// protocols legitimately differ, the bodies consult TRAITS (./suites/harness.ts).
//
// Bounds are derived, not measured: see the header of ./fixed.ts.
import type { Protocol } from './suites/harness';
import { activationSuite } from './suites/activations';
import { linearSuite } from './suites/linear';
import { productSuite } from './suites/products';

export { TRAITS, type Protocol, type Traits } from './suites/harness';
export { activationSuite, linearSuite, productSuite };

/** Every suite, for a protocol file that wants them all. */
export function protocolSuite(protocol: Protocol): void {
  linearSuite(protocol);
  productSuite(protocol);
  activationSuite(protocol);
}
