// The whole protocol suite under FSS with every gate in the compact two-round form (one-bit DCF
// keys, lib/protocol/fss/compact_gate.ts), which FSS takes for gates of FSS_STEPS.compactFrom
// elements or more: the same test bodies, so relu, max pooling, comparisons and argmax are checked
// against plaintext through this form too. (Its own worker process: the switch is process-wide.)
import { FSS_STEPS } from '../lib/protocol/fss/steps';
import { protocolSuite } from './helpers/protocol_suite';

FSS_STEPS.compactFrom = 0;
protocolSuite('fss');
