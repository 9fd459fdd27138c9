// `npm start`: the three-server prediction service on this machine, with zero configuration.
// 1. writes a cluster config with throwaway certificates under .tfe-local/ and starts server0,
//    server1 and server2 as separate processes (mutual TLS on loopback);
// 2. deploys the bundled MNIST model as the model owner (the servers only ever hold shares);
// 3. runs encrypted predictions for the bundled test digits and prints each one;
// 4. leaves the servers running until Ctrl-C.
import * as fs from 'node:fs';
import * as path from 'node:path';

import { PredictionClient } from '../lib/serve/client';
import { refuseIfRunning, type ServerProcess, startLocalCluster, stopCluster } from '../lib/serve/local_cluster';

const ROOT = path.join(__dirname, '..', '..');
const DIR = path.join(ROOT, '.tfe-local');
// Pond runs the model's Pond variant: its ReLUs are polynomials fine-tuned in the loop, so the
// private accuracy matches plaintext (docs/pond.md).
const MODEL = path.join(ROOT, 'bench', 'models', 'A_pond', 'model.json');
const DIGITS = path.join(ROOT, 'bench', 'models', 'sample-digits.json');
const NAME = 'mnist-a';

let procs: ServerProcess[] = [];
let stopping = false;
async function stop(code = 0): Promise<void> {
  if (stopping) return;
  stopping = true;
  console.log('\nstopping the servers...');
  await stopCluster(procs);
  process.exit(code);
}

async function main(): Promise<void> {
  // A fresh cluster each time: new certificates, no shares left from an earlier run. Not under a
  // cluster still running there (another `npm start`, or `tfe cluster --local --dir .tfe-local`):
  // removing the folder would take its config, certificates and shares from under it.
  try {
    refuseIfRunning(DIR);
  } catch (e) {
    // Nothing of ours is running yet: say so without "stopping the servers", and without the
    // --dir that only `tfe cluster --local` has.
    console.error(`npm start: ${(e as Error).message.replace(/, or use another --dir$/, '')} (npm start always uses ${path.relative(process.cwd(), DIR) || DIR})`);
    process.exit(1);
  }
  fs.rmSync(DIR, { recursive: true, force: true });
  // Server log lines dimmed on a terminal; plain when stderr is a pipe or a file.
  const dim = process.stderr.isTTY ? (l: string) => `\x1b[2m${l}\x1b[0m` : (l: string) => l;
  process.on('SIGINT', () => void stop());
  process.on('SIGTERM', () => void stop());
  const cluster = await startLocalCluster(DIR, { onLine: (line) => process.stderr.write(`${dim(line)}\n`) });
  const config = cluster.config;
  procs = cluster.procs;
  for (const p of procs)
    void p.exited.then((code) => {
      if (!stopping) {
        console.error(`${p.party} exited (${code}); stopping`);
        void stop(1);
      }
    });
  console.log(`three servers up (mutual TLS on loopback), config ${path.relative(process.cwd(), config)}`);

  const owner = await PredictionClient.connect(config, { asOwner: true });
  const t0 = performance.now();
  await owner.deploy(MODEL, { name: NAME, protocol: 'pond' });
  await owner.close();
  console.log(`deployed ${path.relative(process.cwd(), MODEL)} as '${NAME}' (Pond) in ${(performance.now() - t0).toFixed(0)} ms: server0 and server1 hold shares of the weights, nobody holds them in the clear\n`);

  const { images, labels } = JSON.parse(fs.readFileSync(DIGITS, 'utf8')) as { images: number[][]; labels: number[] };
  const client = await PredictionClient.connect(config);
  let correct = 0;
  console.log('digit  predicted  true  p(pred)  latency');
  for (const [i, im] of images.entries()) {
    const p = await client.predict(NAME, { data: Float64Array.from(im), shape: [1, im.length] });
    const k = p.classes[0];
    if (k === labels[i]) correct++;
    console.log(`${String(i).padStart(5)}  ${String(k).padStart(9)}  ${String(labels[i]).padStart(4)}  ${p.probabilities[k].toFixed(3).padStart(7)}  ${p.latencyMs.toFixed(1).padStart(5)} ms`);
  }
  await client.close();
  console.log(`\n${correct}/${images.length} correct. The servers keep running; Ctrl-C stops them. More queries, from another terminal:`);
  console.log(`  npx tfe predict --config ${path.relative(process.cwd(), config)} --model ${NAME} --input bench/models/sample-digits.json`);
  console.log(`  npx tfe predict --config ${path.relative(process.cwd(), config)} --model ${NAME} --input my-digit.png   (white on black; any size, gray or RGB: fitted to 28x28)`);
}

main().catch((e: Error) => {
  console.error(`npm start: ${e.message}`);
  void stop(1);
});
