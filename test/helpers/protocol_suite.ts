// The protocol test suite: every body is a function of the protocol name, so that each protocol
// runs the same tests (test/pond_*.test.ts call them for 'pond', one file per suite; every other
// protocol has a <name>_suite.test.ts calling protocolSuite: test/protocol_interface.test.ts
// checks that each protocol runs each suite). The bodies live in ./suites/, one module per area,
// to keep files short; where protocols legitimately differ, the bodies consult TRAITS
// (./suites/harness.ts).
//
// Bounds are derived, not measured: see the header of ./fixed.ts.
import type { Protocol } from './suites/harness';
import { activationSuite } from './suites/activations';
import { comparisonSuite } from './suites/comparisons';
import { errorSuite } from './suites/errors';
import { ioSuite } from './suites/io';
import { linearSuite } from './suites/linear';
import { networkSuite } from './suites/network';
import { productSuite } from './suites/products';
import { securitySuite } from './suites/security';
import { trafficSuite } from './suites/traffic';
import { truncationSuite } from './suites/truncation';

export { TRAITS, type Protocol, type Traits } from './suites/harness';
export { activationSuite, comparisonSuite, errorSuite, ioSuite, linearSuite, networkSuite, productSuite, securitySuite, trafficSuite, truncationSuite };

/** Every suite, for a protocol file that wants them all. */
export function protocolSuite(protocol: Protocol): void {
  linearSuite(protocol);
  productSuite(protocol);
  activationSuite(protocol);
  comparisonSuite(protocol);
  ioSuite(protocol);
  networkSuite(protocol);
  trafficSuite(protocol);
  truncationSuite(protocol);
  securitySuite(protocol);
  errorSuite(protocol);
}
