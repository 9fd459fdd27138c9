// The whole protocol suite under FSS's 'folded' gate form (lib/protocol/fss/folded_product.ts):
// every product right after a one-round relu gate by a private weight of at most
// FSS_STEPS.foldMaxCells cells folds into that gate, so the networks and products of the suites
// are checked against plaintext through the folded product too.
import { protocolSuite } from './helpers/protocol_suite';
import { setSuiteClusterOptions } from './helpers/suites/harness';

setSuiteClusterOptions({ fssGate: 'folded' });
protocolSuite('fss');
