// Which fixed-point fractional bits an owner-side command (tfe verify, tfe calibrate) works at:
// the cluster's, so what it checks or fits is what the servers will compute.
import * as fs from 'node:fs';

import type { Command } from 'commander';

import { loadClusterConfig } from '../serve/config';

const DEFAULT_CONFIG = '.tfe-local/cluster.json';

/** fracBits: the flag, else the cluster config's (--config, or the local cluster's when there is one), else 16. */
export function fracBitsOf(opts: { fracBits?: string; config?: string }): { fracBits: number; from: string } {
  if (opts.fracBits !== undefined) {
    const n = Number(opts.fracBits);
    if (!Number.isInteger(n) || n < 1 || n > 30) throw new Error(`--frac-bits must be an integer in [1, 30], got ${JSON.stringify(opts.fracBits)}`);
    return { fracBits: n, from: '--frac-bits' };
  }
  const file = opts.config ?? (fs.existsSync(DEFAULT_CONFIG) ? DEFAULT_CONFIG : undefined);
  if (file) return { fracBits: loadClusterConfig(file).fracBits, from: file };
  return { fracBits: 16, from: 'the default' };
}

export function addFracBitsOptions(cmd: Command): Command {
  return cmd
    .option('--frac-bits <n>', `fixed-point fractional bits (default: the cluster config's fracBits, from --config or ${DEFAULT_CONFIG}, else 16)`)
    .option('--config <file>', 'the cluster config whose fracBits to use');
}
