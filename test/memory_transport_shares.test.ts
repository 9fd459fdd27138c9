// In process, a tensor message is a new handle on the sender's memory, not a copy of its bytes
// made twice (to bytes and back), which was most of an in-process query's time at ImageNet's
// sizes. Checked here: nothing is copied (native bytes do not grow by the message; the control, a
// transport that does not share, grows by it), what arrives is what was sent, each side's tensor
// lives on its own, a recorder still reads the bytes, and a message nobody received is freed.
// Alone in its file: it counts the process's native bytes.
import test from 'ava';

import { MemoryTransport } from '../lib/net/memory_transport';
import { Party, SERVER0, SERVER1, tag } from '../lib/protocol/party';
import { memory } from '../lib/ring';
import { RingTensor } from '../lib/tensor/ring_tensor';
import type { Payload } from '../lib/net/transport';

const N = 1 << 19; // 4 MiB of ring64
const op = { id: 1, name: 'shares-test' };

/** The in-process transport, as a wire-like one that copies (the control). */
class CopyingTransport extends MemoryTransport {
  override sharesTensors(): boolean {
    return false;
  }
}

function randomTensor(): { t: RingTensor; words: BigUint64Array } {
  const words = new BigUint64Array(N);
  for (let i = 0; i < N; i++) words[i] = BigInt.asUintN(64, BigInt(Math.floor(Math.random() * 2 ** 53)) * 2654435761n + BigInt(i));
  return { t: RingTensor.fromBigUint64Array(words), words };
}

async function sendAndReceive(transport: MemoryTransport): Promise<{ grew: number; same: boolean; afterSenderFreed: boolean }> {
  const [p0, p1] = [SERVER0, SERVER1].map((n) => new Party(n, transport, { fracBits: 16, truncation: 'local' }));
  const { t: sent, words } = randomTensor();
  const before = memory().bytes;
  await p0.sendTensor(SERVER1, tag(op, 'x'), sent);
  const got = await p1.recvTensor(SERVER0, tag(op, 'x'), [N], 'ring64');
  const grew = memory().bytes - before;
  const same = got.toBigUint64Array().every((v, i) => v === words[i]);
  sent.dispose();
  const afterSenderFreed = got.toBigUint64Array().every((v, i) => v === words[i]);
  got.dispose();
  return { grew, same, afterSenderFreed };
}

test.serial('a tensor sent in process arrives without a copy; a copying transport (the control) copies', async (t) => {
  const shared = await sendAndReceive(new MemoryTransport([SERVER0, SERVER1]));
  t.true(shared.same, 'what arrives is what was sent');
  t.true(shared.afterSenderFreed, "the receiver's tensor outlives the sender's");
  t.true(shared.grew < N * 8, `${shared.grew} bytes grew for a ${N * 8}-byte message: copied`);
  const copied = await sendAndReceive(new CopyingTransport([SERVER0, SERVER1]));
  t.true(copied.same && copied.afterSenderFreed);
  t.true(copied.grew >= N * 8, `the control grew by ${copied.grew} bytes only`);
});

test.serial("a recorder reads a shared message's bytes; traffic counts them as a wire would", async (t) => {
  const transport = new MemoryTransport([SERVER0, SERVER1]);
  const seen: Payload[] = [];
  const send = transport.send.bind(transport);
  transport.send = (from, to, tg, p) => {
    seen.push(p);
    return send(from, to, tg, p);
  };
  const [p0, p1] = [SERVER0, SERVER1].map((n) => new Party(n, transport, { fracBits: 16, truncation: 'local' }));
  const { t: sent, words } = randomTensor();
  await p0.sendTensor(SERVER1, tag(op, 'x'), sent);
  const p = seen[0];
  if (p.kind !== 'tensor') return t.fail(`recorded a ${p.kind} message`);
  t.truthy(p.local, 'sent as a local tensor');
  const recorded = new BigUint64Array(p.data.buffer, p.data.byteOffset, N);
  t.true(recorded.every((v, i) => v === words[i]), 'the recorded bytes are the tensor');
  t.is(transport.traffic().total.bytes, N * 8);
  (await p1.recvTensor(SERVER0, tag(op, 'x'))).dispose();
  sent.dispose();
});

test.serial('a shared message nobody received is freed when the transport closes', async (t) => {
  const transport = new MemoryTransport([SERVER0, SERVER1]);
  const p0 = new Party(SERVER0, transport, { fracBits: 16, truncation: 'local' });
  const { t: sent } = randomTensor();
  await p0.sendTensor(SERVER1, tag(op, 'x'), sent);
  sent.dispose();
  const held = memory().bytes;
  await transport.close();
  t.true(held - memory().bytes >= N * 8, `closing freed ${held - memory().bytes} bytes of a ${N * 8}-byte message`);
});

test.serial('a shared message of the wrong shape is refused and freed', async (t) => {
  const transport = new MemoryTransport([SERVER0, SERVER1]);
  const [p0, p1] = [SERVER0, SERVER1].map((n) => new Party(n, transport, { fracBits: 16, truncation: 'local' }));
  const { t: sent } = randomTensor();
  await p0.sendTensor(SERVER1, tag(op, 'x'), sent);
  sent.dispose();
  const held = memory().bytes;
  await t.throwsAsync(p1.recvTensor(SERVER0, tag(op, 'x'), [N, 2]), { message: /server0 sent shape \[524288\] where \[524288,2\] was expected/ });
  t.true(held - memory().bytes >= N * 8, 'the refused message was freed');
});
