// A trained model's Pond variant on disk: the source files, and the variant written with each ReLU
// replaced by a TfePolynomial layer (the float64 side, fits and accuracy, is bench/lib/pond_variant.ts).
import * as fs from 'node:fs';
import * as path from 'node:path';

import { readModelJson, readWeights } from '../../lib/api/model';
import type { Layer } from '../../bench/lib/plain_forward';
import { withPolynomials } from '../../bench/lib/pond_variant';


export const WEIGHTS_FILE = 'weights.bin';

export interface ModelFile {
  modelTopology: { class_name: string; config: { name?: string; layers: Layer[] } };
  weightsManifest: { paths: string[]; weights: { name: string; shape: number[]; dtype?: string }[] }[];
  [k: string]: unknown;
}

/** The source model's file and float32 weights by manifest name. */
export function readSource(modelPath: string): { json: ModelFile; weights: Map<string, { data: Float32Array; shape: number[] }> } {
  const json = readModelJson(modelPath) as unknown as ModelFile;
  return { json, weights: readWeights(readModelJson(modelPath), path.dirname(modelPath)) };
}

/**
 * Writes the variant: the source's topology with TfePolynomial layers carrying `fits`, and its
 * weights (same names, shapes and order as the source's manifest) from `weight(name)`.
 */
export function writeVariant(dir: string, source: ModelFile, fits: number[][], weight: (name: string) => Float32Array): string {
  const specs = source.weightsManifest.flatMap((g) => g.weights);
  const parts = specs.map((s) => {
    const data = weight(s.name);
    const n = s.shape.reduce((a, b) => a * b, 1);
    if (data.length !== n) throw new Error(`weight ${s.name}: ${data.length} values, expected ${n}`);
    return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  });
  const json: ModelFile = {
    ...source,
    modelTopology: { ...source.modelTopology, config: { ...source.modelTopology.config, layers: withPolynomials(source.modelTopology.config.layers, fits) } },
    weightsManifest: [{ paths: [WEIGHTS_FILE], weights: specs }],
  };
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, WEIGHTS_FILE), Buffer.concat(parts));
  const file = path.join(dir, 'model.json');
  fs.writeFileSync(file, `${JSON.stringify(json)}\n`);
  return file;
}
