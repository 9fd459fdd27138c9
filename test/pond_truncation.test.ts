// Pond's local truncation: at most the rare failure its rate predicts over 200 000 moderate products, and the predicted failure
// rate |XY| / 2^64 for huge ones: the shared protocol suite run for 'pond'.
import { truncationSuite } from './helpers/protocol_suite';

truncationSuite('pond');
