// A TensorFlow.js model's artifacts as tfjs saves them (through a save handler: no tfjs-node
// needed), in memory or as model.json + weights.bin in a fresh temporary directory.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import type { ModelArtifacts } from '../../lib';

/** The artifacts tfjs saves for `model` (`opts`: its save options, includeOptimizer say). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function tfjsArtifacts(tf: any, model: any, opts?: object): Promise<ModelArtifacts> {
  let a: ModelArtifacts | undefined;
  await model.save(tf.io.withSaveHandler(async (artifacts: ModelArtifacts) => ((a = artifacts), { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } })), opts);
  return a!;
}

/** `model` saved as model.json + weights.bin in a fresh temporary directory; returns the model.json path. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function saveTfjsModel(tf: any, model: any, prefix = 'tfe-model-'): Promise<string> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const a: any = await tfjsArtifacts(tf, model);
  const data = Array.isArray(a.weightData) ? Buffer.concat(a.weightData.map((b: ArrayBuffer) => Buffer.from(b))) : Buffer.from(a.weightData);
  fs.writeFileSync(path.join(dir, 'weights.bin'), data);
  fs.writeFileSync(path.join(dir, 'model.json'), JSON.stringify({ format: 'layers-model', modelTopology: a.modelTopology, weightsManifest: [{ paths: ['weights.bin'], weights: a.weightSpecs }] }));
  return path.join(dir, 'model.json');
}
