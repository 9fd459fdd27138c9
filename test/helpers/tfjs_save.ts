// A TensorFlow.js model saved as model.json + weights.bin, as tfjs writes them (through a save
// handler: no tfjs-node needed), in a fresh temporary directory; returns the model.json path.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function saveTfjsModel(tf: any, model: any, prefix = 'tfe-model-'): Promise<string> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  let a: any;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  await model.save(tf.io.withSaveHandler(async (artifacts: any) => ((a = artifacts), { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } })));
  const data = Array.isArray(a.weightData) ? Buffer.concat(a.weightData.map((b: ArrayBuffer) => Buffer.from(b))) : Buffer.from(a.weightData);
  fs.writeFileSync(path.join(dir, 'weights.bin'), data);
  fs.writeFileSync(path.join(dir, 'model.json'), JSON.stringify({ format: 'layers-model', modelTopology: a.modelTopology, weightsManifest: [{ paths: ['weights.bin'], weights: a.weightSpecs }] }));
  return path.join(dir, 'model.json');
}
