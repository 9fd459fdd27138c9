// The GraphModels made from real Keras 3 models (test/fixtures/graph_models/graph_models.json,
// gen.py), for tests that check what a translation becomes or alter a graph to see it refused.
import * as fs from 'node:fs';
import * as path from 'node:path';

import type * as tfe from '../../lib';
import { readLayersModel } from '../../lib/api/model';
import { type Final, finalRows } from './final_rows';

/** A GraphDef node as the fixtures hold it. */
export type FixtureNode = { name: string; op: string; input?: string[]; attr?: Record<string, unknown> };
/** One model of a fixture file (gen.py, open_gen.py): the GraphModel's JSON, an input, Keras's predict on it and the graph's ops. */
export interface GraphFixture {
  model: { modelTopology: { node: FixtureNode[] }; weightData: string };
  x: number[];
  shape: number[];
  y: number[];
  ops: string[];
}
/** A fixture file of test/fixtures/graph_models by name. */
export const readGraphFixtures = (file: string): Record<string, GraphFixture> => JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', '..', 'test', 'fixtures', 'graph_models', file), 'utf8'));
const FILES = new Map<string, Record<string, GraphFixture>>();

/** A fixture's GraphModel as artifacts (its weights decoded from base64). */
export function graphArtifacts(model: GraphFixture['model']): tfe.ModelArtifacts {
  const bytes = Buffer.from(model.weightData, 'base64');
  return { ...model, weightData: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) } as unknown as tfe.ModelArtifacts;
}

/** Fixture `name`'s files (of `file`) as artifacts, its nodes changed by `edit` first (on a copy). */
export function fixtureArtifacts(name: string, edit: (nodes: FixtureNode[]) => void = () => {}, file = 'graph_models.json'): tfe.ModelArtifacts {
  if (!FILES.has(file)) FILES.set(file, readGraphFixtures(file));
  const f = structuredClone(FILES.get(file)![name]);
  edit(f.model.modelTopology.node);
  return graphArtifacts(f.model);
}

/** Logits `y` (rows of n) after the model's final activation, as Keras's predict gives them. */
export const withFinalActivation = (y: Float64Array, f: Final, n: number): Float64Array => finalRows(y, f, n);

export type TranslatedLayer = { class_name: string; config: Record<string, unknown>; inbound_nodes: unknown[][][] };
/** The layers a GraphModel translates into. */
export const translatedLayers = (a: tfe.ModelArtifacts): TranslatedLayer[] => (readLayersModel(a).json.modelTopology as unknown as { config: { layers: TranslatedLayer[] } }).config.layers;
