// Saved full-test-set results of bench:table, one file per (protocol, network). A 2-core machine
// cannot run every entry over 10k images in one sitting (SecureNN with max pooling alone takes
// hours), so each full run, filtered or not, saves what it measured, and the RESULTS.md section
// and the chart are drawn from every saved entry, each with the command and date that made it.
import * as fs from 'node:fs';
import * as path from 'node:path';

import type { Measured } from './table_eval';
import type { Meta } from './table_report';

export interface Saved extends Measured {
  meta: Meta;
}

export const RESULTS_DIR = path.join(__dirname, '..', '..', '..', 'bench', 'results', 'table');
const ORDER = ['A', 'B', 'C', 'B_max', 'C_max'];

export function saveEntries(rows: Measured[], meta: Meta, dir = RESULTS_DIR): void {
  fs.mkdirSync(dir, { recursive: true });
  for (const r of rows) fs.writeFileSync(path.join(dir, `${r.protocol}-${r.key}.json`), `${JSON.stringify({ ...r, meta }, null, 2)}\n`);
}

export function loadEntries(dir = RESULTS_DIR): Saved[] {
  if (!fs.existsSync(dir)) return [];
  const rows = fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .map((f) => JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as Saved);
  const rank = (r: Saved) => (r.protocol === 'pond' ? 0 : 10) + ORDER.indexOf(r.key);
  return rows.sort((a, b) => rank(a) - rank(b));
}

/** One Meta for a table drawn from several runs: the machine, the latest date, every command. */
export function mergedMeta(rows: Saved[]): Meta {
  const runs = new Map<string, Saved[]>();
  for (const r of rows) {
    const k = `${r.meta.command} ${r.meta.date}`;
    runs.set(k, [...(runs.get(k) ?? []), r]);
  }
  return {
    machine: rows[0]?.meta.machine ?? 'unknown',
    date: rows.map((r) => r.meta.date).sort().at(-1) ?? '',
    images: Math.min(...rows.map((r) => r.meta.images)),
    command: [...runs.values()].map((rs) => rs[0].meta.command).join('; '),
    runs: [...runs.values()].map((rs) => ({ command: rs[0].meta.command, date: rs[0].meta.date, entries: rs.map((r) => `${r.protocol} ${r.key}`) })),
  };
}
