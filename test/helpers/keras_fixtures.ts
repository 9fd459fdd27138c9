// Keras 3 fixtures (test/fixtures/keras3_*.json, each made by its .py beside it with Keras's own
// predict) read by name, as tfjs artifacts: for the tests that take a few of them to a service.
import * as fs from 'node:fs';
import * as path from 'node:path';

import type * as tfe from '../../lib';

export interface KerasFixture {
  topology: object;
  weights: { name: string; shape: number[]; data: number[] }[];
  /** The input's values (strings for a string input) and shape; Keras's predict of them. */
  x: (number | string)[];
  shape: number[];
  y: number[];
  yshape: number[];
}

/** The fixtures of test/fixtures/`file`, by name. */
export const kerasFixtures = (file: string): Record<string, KerasFixture> => JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', '..', 'test', 'fixtures', file), 'utf8'));

/** A fixture as tfjs artifacts (float32 weights in one buffer). */
export const kerasArtifacts = (f: KerasFixture): tfe.ModelArtifacts =>
  ({ modelTopology: f.topology, weightSpecs: f.weights.map((w) => ({ name: w.name, shape: w.shape, dtype: 'float32' })), weightData: new Float32Array(f.weights.flatMap((w) => w.data)).buffer }) as unknown as tfe.ModelArtifacts;
