// A deploy's size counts what is shared: its parameters, with the kernels the owner derives from
// the manifest's weights. A Conv2D's dilation (or groups, a depthwise multiplier) makes a derived
// kernel far larger than the weight it comes from: a 3x3 kernel dilated by 2000 is 4001x4001.
// Before, only the declared weights were checked (72 bytes here), and server0 expanded the rest.
import * as fs from 'node:fs';
import { createRequire } from 'node:module';

import test from 'ava';

import { checkDeploySize, DEFAULT_LIMITS } from '../lib/serve/limits';
import { specOf } from '../lib/serve/model_store';
import { saveTfjsModel } from './helpers/tfjs_save';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const tf: any = createRequire(__filename)('@tensorflow/tfjs');

test('a dilated kernel is counted at its derived size: refused over maxInputBytes, naming the weights alone', async (t) => {
  const model = tf.sequential({ layers: [tf.layers.conv2d({ inputShape: [9, 9, 1], filters: 1, kernelSize: 3, dilationRate: 2, padding: 'same', useBias: false })] });
  const file = await saveTfjsModel(tf, model, 'tfe-deploy-size-');
  const json = JSON.parse(fs.readFileSync(file, 'utf8'));
  const weights = json.weightsManifest[0].weights.map((w: { name: string; shape: number[] }) => ({ name: w.name, shape: w.shape }));
  const req = (dilation: number) => {
    const topology = structuredClone(json.modelTopology);
    topology.config.layers[0].config.dilation_rate = [dilation, dilation];
    return { type: 'deploy' as const, model: 'm', protocol: 'pond' as const, topology, weights };
  };
  t.notThrows(() => checkDeploySize(DEFAULT_LIMITS, req(2), specOf(req(2))));
  t.throws(() => checkDeploySize(DEFAULT_LIMITS, req(2000), specOf(req(2000))), {
    message: /the model's parameters are 128064008 bytes as shares, with the kernels derived from its layers' dilations, groups and depth multipliers \(its weights alone: 72\), over the limit of 67108864 \(maxInputBytes\)/,
  });
});
