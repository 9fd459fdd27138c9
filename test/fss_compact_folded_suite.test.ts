// The whole protocol suite under FSS's 'compact-folded' gate form: every gate compact, and every
// product right after one by a private weight of at most FSS_STEPS.foldMaxCells cells folded into
// it with dealt products of the masks (lib/protocol/fss/folded_product.ts), checked against
// plaintext through the suites' products and networks.
import { protocolSuite } from './helpers/protocol_suite';
import { setSuiteClusterOptions } from './helpers/suites/harness';

setSuiteClusterOptions({ fssGate: 'compact-folded' });
protocolSuite('fss');
