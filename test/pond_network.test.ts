// The seed paper's three-layer network end to end under Pond, against float64 with the same
// polynomial relu and a propagated error bound: the shared protocol suite run for 'pond'.
import { networkSuite } from './helpers/protocol_suite';

networkSuite('pond');
