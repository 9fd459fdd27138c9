// Bad input under Pond fails at once with messages naming shapes, players and indices: the
// shared protocol suite run for 'pond'.
import { errorSuite } from './helpers/protocol_suite';

errorSuite('pond');
