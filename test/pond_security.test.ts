// What Pond's parties see: uniform shares and wire traffic for constant data, server2 silent
// after setup, outputs only to their player: the shared protocol suite run for 'pond'.
import { securitySuite } from './helpers/protocol_suite';

securitySuite('pond');
