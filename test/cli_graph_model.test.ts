// tfe deploy and tfe predict with a GraphModel's model.json: the CLI reads it through the owner's
// reader (translated into layers), and its note of what predict runs differently (a folded batch
// norm, from the topology) comes from the translated layers too.
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';

import test from 'ava';

import { tfeCli } from '../lib/serve/local_cluster';
import { cnn, reference } from './helpers/graph_models';
import { startCliCluster } from './helpers/service';

const cli = (args: string[]) => promisify(execFile)(process.execPath, [tfeCli(), ...args]);

test('tfe deploy and predict take a GraphModel', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tfe-cli-graph-'));
  const cluster = await startCliCluster(dir);
  try {
    const { g, out } = cnn();
    const { file, artifacts } = g.save({ output_0: out }, { input_1: 'input_1' });
    const deployed = (await cli(['deploy', '--model', file, '--name', 'graph', '--config', cluster.config])).stdout;
    t.regex(deployed, /deployed 'graph' \(securenn, input \[8,8,3\], \d+ layers\)\n {2}1 BatchNormalization folded into the layer before \(no product\)/);
    const x = Array.from({ length: 192 }, () => Math.random() * 2 - 1);
    const input = path.join(dir, 'x.json');
    fs.writeFileSync(input, JSON.stringify({ data: x, shape: [1, 8, 8, 3] }));
    const p = JSON.parse((await cli(['predict', '--model', 'graph', '--input', input, '--json', '--config', cluster.config])).stdout) as { outputs: number[] };
    const want = await reference(artifacts, Float64Array.from(x), [1, 8, 8, 3]);
    const err = Math.max(...[...want].map((v, i) => Math.abs(p.outputs[i] - v)));
    t.true(err < 5e-3, `max |tfe predict - tfjs| = ${err}`);
  } finally {
    await cluster.stop();
  }
});
