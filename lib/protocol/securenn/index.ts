// SecureNN as an exact protocol (exact_protocol.ts): server2 helps online with its comparisons.
// DReLU in the one-compare form (the default) or the paper's (docs/securenn.md, "DReLU"); the
// one-compare form also has relu in one piece, its last deal carrying r z.
import type { ExactProtocol } from '../exact_protocol';
import { dreluOneCompare, reluBitOneCompare, reluOneCompare } from './drelu_one_compare';
import { drelu as dreluPaper } from './msb';

export const securenn: ExactProtocol = {
  drelu: (p, op, a, n) => (p.securennDrelu === 'paper' ? dreluPaper(p, op, a, n) : dreluOneCompare(p, op, a, n)),
  fusedRelu: (p) => (p.securennDrelu === 'one-compare' ? reluOneCompare : null),
  fusedReluBit: (p) => (p.securennDrelu === 'one-compare' ? reluBitOneCompare : null),
};
