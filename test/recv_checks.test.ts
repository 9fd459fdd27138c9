// What a party receives is checked against what it expects before it is built: a client's input
// share of another dtype (a bit tensor, an eighth of the bytes) used to be taken, and the query
// then failed deep inside with "sub: dtypes ring64 and bit differ" instead of naming the input.
import test from 'ava';

import { MemoryTransport } from '../lib/net/memory_transport';
import { Party, SERVER1, tag } from '../lib/protocol/party';
import { CLIENT, inputOp, receiveInputs } from '../lib/serve/programs';

test("server1 refuses a client's input share of another dtype, naming it", async (t) => {
  const transport = new MemoryTransport([CLIENT, 'server0', SERVER1, 'server2']);
  const server1 = new Party(SERVER1, transport, { fracBits: 16, truncation: 'local' });
  await transport.send(CLIENT, SERVER1, tag(inputOp(0), 'input'), { kind: 'tensor', dtype: 'bit', shape: [1, 4], data: new Uint8Array(4) });
  await t.throwsAsync(receiveInputs(server1, [[1, 4]]), { message: /client sent a bit tensor where ring64 was expected/ });
});
