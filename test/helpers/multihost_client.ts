// The model owner and the client of test/multihost.test.ts, run inside their own network
// namespace (`ip netns exec ... node multihost_client.js <command> <config> <state.json>`):
//   deploy:  waits for the cluster, deploys one model per protocol and predicts with each,
//            keeping the inputs and the plaintext answers in state.json;
//   predict: waits for the cluster and predicts the same inputs again (after a restart).
// Prints one JSON line: {ok, results: [{protocol, maxError}], ...} or {ok: false, error}.
import * as fs from 'node:fs';

import * as tfe from '../../lib';
import { waitReady } from '../../lib/serve/local_cluster';
import { mlp } from './model_files';
import { isExact, PROTOCOLS } from '../../lib/protocol/protocols';

const polyRelu = (z: number) => tfe.evalPolynomial(tfe.reluPolynomial(4), z);
const exactRelu = (z: number) => Math.max(z, 0);

interface State {
  inputs: number[];
  want: Record<string, number[]>;
}

async function predictAll(config: string, s: State): Promise<{ protocol: string; maxError: number; latencyMs: number }[]> {
  const client = await tfe.PredictionClient.connect(config);
  try {
    const out = [];
    for (const protocol of PROTOCOLS) {
      const p = await client.predict(`mlp-${protocol}`, { data: Float64Array.from(s.inputs), shape: [1, 24] });
      const maxError = Math.max(...s.want[protocol].map((w, i) => Math.abs(w - p.data[i])));
      out.push({ protocol, maxError, latencyMs: p.latencyMs });
    }
    return out;
  } finally {
    await client.close();
  }
}

async function main(): Promise<void> {
  const [command, config, stateFile] = process.argv.slice(2);
  const epoch = await waitReady(config, 45_000);
  if (command === 'deploy') {
    const inputs = Array.from({ length: 24 }, () => Math.random() * 2 - 1);
    const want: Record<string, number[]> = {};
    const owner = await tfe.PredictionClient.connect(config, { asOwner: true });
    try {
      for (const protocol of PROTOCOLS) {
        const m = mlp([24, 16, 10]);
        await owner.deploy(m.file, { name: `mlp-${protocol}`, protocol, ...(isExact(protocol) ? {} : { uncalibrated: true }) });
        want[protocol] = [...m.forward(Float64Array.from(inputs), isExact(protocol) ? exactRelu : polyRelu)];
      }
    } finally {
      await owner.close();
    }
    const state = { inputs, want };
    fs.writeFileSync(stateFile, JSON.stringify(state));
    console.log(JSON.stringify({ ok: true, epoch, results: await predictAll(config, state) }));
  } else if (command === 'predict') {
    const state = JSON.parse(fs.readFileSync(stateFile, 'utf8')) as State;
    const client = await tfe.PredictionClient.connect(config);
    const models = (await client.models()).map((m) => m.name);
    await client.close();
    console.log(JSON.stringify({ ok: true, epoch, models, results: await predictAll(config, state) }));
  } else {
    throw new Error(`unknown command '${command}'`);
  }
}

main().then(
  () => process.exit(0),
  (e: Error) => {
    console.log(JSON.stringify({ ok: false, error: e.message }));
    process.exit(1);
  },
);
