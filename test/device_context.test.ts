// Every tensor a cluster makes lives on its parties' backends (each party's own stream on a
// GPU), never on the process default. Checked by making the process default a different backend
// object over the same CPU module: a tensor made outside a party's context would land there, and
// the kernels refuse to mix backends ("inputs live on different backends").
import { getBackend, registerBackend, setBackend } from '../lib/ring';
import { ioSuite, networkSuite, productSuite } from './helpers/protocol_suite';

registerBackend('cpu-elsewhere', () => getBackend('cpu').native);
setBackend('cpu-elsewhere');

for (const protocol of ['pond', 'securenn'] as const) {
  ioSuite(protocol);
  productSuite(protocol);
  networkSuite(protocol);
}
