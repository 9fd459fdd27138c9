// The GraphModels made from real Keras 3 models (test/fixtures/graph_models/graph_models.json,
// gen.py), for tests that check what a translation becomes or alter a graph to see it refused.
import * as fs from 'node:fs';
import * as path from 'node:path';

import type * as tfe from '../../lib';
import { readLayersModel } from '../../lib/api/model';

/** A GraphDef node as the fixtures hold it. */
export type FixtureNode = { name: string; op: string; input?: string[]; attr?: Record<string, unknown> };
interface Fixture {
  model: { modelTopology: { node: FixtureNode[] }; weightData: string };
}
const FIXTURES: Record<string, Fixture> = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', '..', 'test', 'fixtures', 'graph_models', 'graph_models.json'), 'utf8'));

/** Fixture `name`'s files as artifacts, its nodes changed by `edit` first (on a copy). */
export function fixtureArtifacts(name: string, edit: (nodes: FixtureNode[]) => void = () => {}): tfe.ModelArtifacts {
  const f = structuredClone(FIXTURES[name]);
  edit(f.model.modelTopology.node);
  const bytes = Buffer.from(f.model.weightData, 'base64');
  return { ...f.model, weightData: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) } as unknown as tfe.ModelArtifacts;
}

export type TranslatedLayer = { class_name: string; config: Record<string, unknown>; inbound_nodes: unknown[][][] };
/** The layers a GraphModel translates into. */
export const translatedLayers = (a: tfe.ModelArtifacts): TranslatedLayer[] => (readLayersModel(a).json.modelTopology as unknown as { config: { layers: TranslatedLayer[] } }).config.layers;
