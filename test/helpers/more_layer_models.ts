// The Keras 3 models of test/fixtures/keras3_more_layer_models.json (made by its .py beside it,
// each with Keras's own predict), as artifacts, and their check over a local service.
import * as fs from 'node:fs';
import * as path from 'node:path';

import type { ExecutionContext } from 'ava';

import type * as tfe from '../../lib';
import { startCluster } from './service';

type Layer = { class_name: string; config: Record<string, unknown>; inbound_nodes: unknown[] };
export interface Fixture {
  topology: { config: { layers: Layer[]; output_layers: unknown[] } };
  weights: { name: string; shape: number[]; data: number[] }[];
  /** One input (x, shape), or several by name (inputs). Strings for a string input. */
  x?: (number | string)[];
  shape?: number[];
  inputs?: { x: (number | string)[]; shape: number[]; name: string }[];
  y: number[];
}

export const FIXTURES: Record<string, Fixture> = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', '..', 'test', 'fixtures', 'keras3_more_layer_models.json'), 'utf8'));

/** A fixture as tfjs artifacts; `topology` in place of its own (an edited copy). */
export const fromFixture = (f: Fixture, topology: object = f.topology) =>
  ({ modelTopology: topology, weightSpecs: f.weights.map((w) => ({ name: w.name, shape: w.shape, dtype: 'float32' })), weightData: new Float32Array(f.weights.flatMap((w) => w.data)).buffer }) as unknown as tfe.ModelArtifacts;

/** The fixture's input as a client sends it: its data and shape, or its inputs by name. */
export const clientInput = (f: Fixture): unknown =>
  f.inputs ? Object.fromEntries(f.inputs.map((i) => [i.name, { data: values(i.x), shape: i.shape }])) : { data: values(f.x!), shape: f.shape! };

/** A string input's values stay strings (a client sends each as its id); numbers as float64. */
const values = (x: (number | string)[]) => (typeof x[0] === 'string' ? x : Float64Array.from(x as number[]));

/** Deploys the fixture on a local service (no TLS) and checks its answer against Keras's within 2e-3. */
export async function answersAsKeras(t: ExecutionContext, f: Fixture, name: string, protocol?: 'securenn' | 'fss'): Promise<void> {
  const c = await startCluster({ tls: false });
  try {
    await c.ready();
    const owner = await c.connect({ asOwner: true });
    await owner.deploy(fromFixture(f) as never, { name, ...(protocol ? { protocol } : {}) });
    const p = await owner.predict(name, clientInput(f) as never);
    const err = Math.max(...f.y.map((v, i) => Math.abs(p.outputs[i] - v)));
    t.true(err < 2e-3, `${name}: max |private - Keras| = ${err}`);
    await owner.close();
  } finally {
    await c.stop();
  }
}
