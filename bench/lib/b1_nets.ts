// The networks the batch-1 benchmarks run (bench/b1_ratio.ts, bench/ab_builds.ts) and the
// model file each runs under each protocol.
import * as fs from 'node:fs';
import * as path from 'node:path';

import { isExact, type ProtocolName as Protocol } from '../../lib/protocol/protocols';
import { type NetName, writeNetwork } from './model_files';

export const MODELS = path.join(__dirname, '..', '..', '..', 'bench', 'models');
export const NETS = ['A', 'B', 'C', 'B_max', 'C_max'];
export const FLOOR_NETS = ['A1', 'A1R'];
const floorFiles = new Map<string, string>();
/** The model.json a network runs under `protocol` (undefined: none for that protocol). */
export function modelFile(net: string, protocol: Protocol): string | undefined {
  if (FLOOR_NETS.includes(net)) {
    if (!floorFiles.has(net)) floorFiles.set(net, writeNetwork(net as NetName));
    return floorFiles.get(net);
  }
  const m = model(net, protocol);
  return m && path.join(MODELS, m, 'model.json');
}
// Pond runs its own variant of a model where there is one (polynomial activations, bench/calibrate.ts);
// the max-pool nets have none (Pond has no exact max).
// A protocol that is not exact runs the Pond models (relu as a fitted polynomial), where one exists.
const model = (net: string, protocol: Protocol) => (!isExact(protocol) ? (fs.existsSync(path.join(MODELS, `${net}_pond`, 'model.json')) ? `${net}_pond` : undefined) : net);

export function shuffled<T>(xs: readonly T[]): T[] {
  const a = [...xs];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

/** Removes the floor networks' model files written so far. */
export function removeFloorFiles(): void {
  for (const f of floorFiles.values()) fs.rmSync(path.dirname(f), { recursive: true, force: true });
  floorFiles.clear();
}
