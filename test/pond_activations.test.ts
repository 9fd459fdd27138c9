// Pond's polynomial relu, sigmoid and tanh (and tfe.polynomial) against the float64 evaluation
// of the same polynomials and against the true functions: the shared suite run for 'pond'.
import { activationSuite } from './helpers/protocol_suite';

activationSuite('pond');
