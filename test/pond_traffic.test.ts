// Pond's communication per op equals the analytical byte, message and round counts: the shared
// protocol suite run for 'pond'.
import { trafficSuite } from './helpers/protocol_suite';

trafficSuite('pond');
