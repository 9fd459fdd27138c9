// The seed paper's private-prediction program, line for line in TypeScript.
// Run it with `npm run example`. Everything runs in this process: server0, server1 and server2
// compute on secret shares; 'model-owner' and 'prediction-client' are the input and output players.
import * as tfe from '../lib';

const sizes: [number, number][] = [[784, 128], [128, 128], [128, 10]];
const weights = sizes.flatMap(([i, o]) => [
  { data: Float64Array.from({ length: i * o }, () => (Math.random() * 2 - 1) * Math.sqrt(6 / (i + o))), shape: [i, o] },
  { data: Float64Array.from({ length: o }, () => (Math.random() * 2 - 1) * 0.1), shape: [1, o] },
]);
const image = { data: Float64Array.from({ length: 784 }, () => Math.random()), shape: [1, 784] };

function provideWeights() { return weights; } // load a trained model here
function provideInput() { return image; } // pre-process the client's input here
function receiveOutput(logits: tfe.Decoded) {
  const l = [...logits.data];
  console.log('logits', l.map((v) => v.toFixed(4)).join(' '), '-> class', l.indexOf(Math.max(...l)));
}

async function main() {
  // get model weights as private tensors from owner
  const [w0, b0, w1, b1, w2, b2] = tfe.definePrivateInput('model-owner', provideWeights);

  // get prediction input as private tensors from client
  const x = tfe.definePrivateInput('prediction-client', provideInput);

  // compute private prediction on servers
  const layer0 = tfe.relu(tfe.matmul(x, w0).add(b0));
  const layer1 = tfe.relu(tfe.matmul(layer0, w1).add(b1));
  const logits = tfe.matmul(layer1, w2).add(b2);

  // process result of prediction on client
  await tfe.defineOutput('prediction-client', logits, receiveOutput);

  const traffic = tfe.getCluster().transport.traffic().total;
  console.log(`${traffic.bytes} bytes in ${traffic.messages} messages and ${traffic.rounds} rounds (including sharing the weights)`);
  await tfe.getCluster().close();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
