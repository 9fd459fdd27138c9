// Load-time refusals, the same way in every model test: a tfjs model saved, its topology's layers
// optionally patched (a setting tfjs cannot write), then loading must fail with the message.
import * as fs from 'node:fs';

import type { ExecutionContext } from 'ava';

import * as tfe from '../../lib';

export type Layer = { class_name: string; config: Record<string, unknown> };

export interface Refusal {
  name: string;
  build: () => unknown;
  /** Edits the saved topology's layers before loading. */
  patch?: (layers: Layer[]) => void;
  message: RegExp;
}

/** Saves r's model with `save`, patches it, and checks the private loader (and with `plain`, the plain one) refuse it. */
export async function expectRefused(t: ExecutionContext, r: Refusal, save: (model: unknown) => Promise<string>, opts: { plain?: boolean } = {}): Promise<void> {
  const file = await save(r.build());
  if (r.patch) {
    const json = JSON.parse(fs.readFileSync(file, 'utf8'));
    r.patch(json.modelTopology.config.layers);
    fs.writeFileSync(file, JSON.stringify(json));
  }
  const c = new tfe.Cluster();
  try {
    t.throws(() => tfe.loadLayersModel(file, { cluster: c }), { message: r.message });
    if (opts.plain) t.throws(() => tfe.loadPlainModel(file), { message: r.message });
  } finally {
    await c.close();
  }
}
