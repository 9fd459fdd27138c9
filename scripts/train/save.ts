// Writes a model in TensorFlow.js's LayersModel format (model.json + one weights file) without
// tfjs-node's file:// handler: tf.io.withSaveHandler hands us the artifacts and we write them.
import * as fs from 'node:fs';
import * as path from 'node:path';

import { type ModelArtifacts, type Sequential, tf } from './tf';

export const WEIGHTS_FILE = 'weights.bin';

/** Saves `model` as dir/model.json + dir/weights.bin; returns model.json's path. */
export async function saveLayersModel(model: Sequential, dir: string): Promise<string> {
  let artifacts: ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler(async (a) => {
      artifacts = a;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  if (!artifacts?.modelTopology || !artifacts.weightSpecs || !artifacts.weightData) throw new Error('model.save() produced no topology or weights');
  const parts = Array.isArray(artifacts.weightData) ? artifacts.weightData : [artifacts.weightData];
  const weights = Buffer.concat(parts.map((b) => Buffer.from(b)));
  const json = {
    modelTopology: artifacts.modelTopology,
    format: artifacts.format ?? 'layers-model',
    generatedBy: artifacts.generatedBy,
    convertedBy: artifacts.convertedBy ?? null,
    weightsManifest: [{ paths: [WEIGHTS_FILE], weights: artifacts.weightSpecs }],
  };
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, WEIGHTS_FILE), weights);
  const file = path.join(dir, 'model.json');
  fs.writeFileSync(file, `${JSON.stringify(json)}\n`);
  return file;
}
