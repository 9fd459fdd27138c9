// Pond's linear ops (add, sub, neg, layout ops, concat, reduceSum) against float64: the shared
// protocol suite run for 'pond'.
import { linearSuite } from './helpers/protocol_suite';

linearSuite('pond');
