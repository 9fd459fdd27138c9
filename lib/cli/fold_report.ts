// What a folding FSS gate form ('folded', 'compact-folded') does to a model (docs/fss.md, "Folded products"): which of its
// products fold into the relu before them in a batch-1 query. Found by running the model's batch-1
// program in this process on a zero input (the owner, who deploys, has the weights), so the answer
// is the rule itself (foldsProduct, as each server applies it), not a second reading of the layers.
import type { InputShapes } from '../api/input_shapes';
import { loadLayersModel } from '../api/model';
import { type AnyTensor, PrivateTensor } from '../api/tensor';
import { Cluster } from '../protocol/cluster';
import { foldsGates } from '../protocol/fss/steps';
import type { ProtocolOptions } from '../protocol/protocol_options';
import type { FssGate } from '../protocol/protocols';
import { sizeOf } from '../tensor/shape';

/** What `tfe deploy --json` says of the report's key. */
export const FOLDS_JSON_HELP = 'under --fss-gate folded or compact-folded also folds: the products that fold in a batch-1 query, their cells, key and dealt bytes';

export interface FoldReport {
  /** The model's gate form. */
  form: FssGate;
  /** Products folded in one batch-1 query. */
  products: number;
  /** Their cells (gate elements times output columns): one two-payload key each after a one-round gate, three dealt words after a compact one. */
  cells: number;
  /** The keys they add per batch-1 query, to each compute server (after one-round gates only). */
  keyBytes: number;
  /** The dealt words they add per batch-1 query, to server1 (server0 expands its own). */
  dealtBytes: number;
}

/**
 * The report for a model as the cluster lists it (`tfe deploy` prints it): undefined unless its
 * options fold products (FSS under 'folded' or 'compact-folded'); a report that cannot be made
 * says why and fails nothing (the model is deployed by then).
 */
export async function foldReportFor(file: string, m: { protocol: string } & ProtocolOptions, inputShapes?: InputShapes): Promise<FoldReport | { error: string } | undefined> {
  if (m.protocol !== 'fss' || !m.fssGate || !foldsGates(m.fssGate)) return undefined;
  return foldReport(file, m.fssGate, m.fssBits, inputShapes).catch((e: Error) => ({ error: e.message }));
}

export async function foldReport(file: string, fssGate: FssGate, fssBits = 64, inputShapes?: InputShapes): Promise<FoldReport> {
  const cluster = new Cluster({ protocol: 'fss', fssGate, fssBits });
  try {
    const model = loadLayersModel(file, { cluster, ...(inputShapes ? { inputShapes } : {}) });
    const shape = [1, ...model.inputShape];
    const x = model.defineInput('input-provider', () => ({ data: new Float64Array(sizeOf(shape)), shape }));
    const y: AnyTensor = model.predict(x);
    if (y instanceof PrivateTensor) await y.shares;
  } finally {
    await cluster.close();
  }
  const { products, cells, keyBytes } = cluster.folds;
  return { form: fssGate, products, cells, keyBytes, dealtBytes: cells * 3 * 8 };
}

/** One line for `tfe deploy`'s output (or why the report could not be made). */
export function describeFolds(r: FoldReport | { error: string }): string {
  if ('error' in r) return `folded: could not count the products that fold in this process (${r.error}); the model is deployed`;
  const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;
  if (r.products === 0) return `folded: no product of this model folds (a Dense right after a relu, at most 8192 cells at batch 1: docs/fss.md, "Folded products"); it runs as '${r.form === 'compact-folded' ? 'compact' : 'auto'}'`;
  const dealt = `${mib(r.dealtBytes)} more dealt to server1 per query`;
  const cost = r.keyBytes > 0 ? `${mib(r.keyBytes)} more keys per query and compute server, ${dealt}` : `${dealt}, no keys`;
  return `folded: ${r.products} ${r.products === 1 ? 'product folds' : 'products fold'} into the relu before ${r.products === 1 ? 'it' : 'them'} in a batch-1 query, one round fewer each (${r.cells} cells: ${cost})`;
}
