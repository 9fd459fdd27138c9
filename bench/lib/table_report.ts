// The table's outputs: markdown with the paper's numbers beside ours, the section of
// bench/RESULTS.md it owns, and an SVG chart of batch-1 latency.
import * as fs from 'node:fs';
import * as path from 'node:path';

import type { Measured } from './table_eval';

/** The seed paper's table (Pond ms, SecureNN ms, TF acc, Pond acc, SecureNN acc, Pond KL, SecureNN KL). */
export const PAPER: Record<string, [number, number, number, number, number, number, number]> = {
  A: [14, 112, 97.35, 97.18, 97.35, 0.0065, 0.0],
  B: [126, 243, 99.26, 99.0, 99.26, 0.2086, 0.0],
  C: [124, 293, 99.44, 99.41, 99.44, 0.2311, 0.0],
};
/** The SecureNN C++ reference on this machine (max pooling): ms at batch 1, s per batch of 128. */
export const REFERENCE: Record<string, [number, number]> = { A: [24.6, 0.4], B_max: [74.5, 12.0], C_max: [252, 15.5] };

export interface Meta {
  machine: string;
  date: string;
  images: number;
  command: string;
  /** When the table merges several runs: each command, its date and the entries it measured. */
  runs?: { command: string; date: string; entries: string[] }[];
}

const pctStr = (x: number | undefined) => (x === undefined ? '-' : `${(100 * x).toFixed(2)}%`);
const ms = (x: number | undefined) => (x === undefined ? '-' : x.toFixed(1));

export function markdownTable(rows: Measured[], meta: Meta): string {
  const get = (p: string, k: string) => rows.find((r) => r.protocol === p && r.key === k);
  const out = [
    `Over the service (3 processes, mutual TLS on loopback), ${meta.images} test images, ${meta.machine}, ${meta.date}. Ours (paper).`,
    '',
    '| | Pond ms | SecNN ms | FSS ms (ours only) | TF acc | Pond acc | SecNN acc | FSS acc | Pond KL | SecNN KL | FSS KL |',
    '|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const k of ['A', 'B', 'C']) {
    const [pp, ps, pt, pa, sa, pk, sk] = PAPER[k];
    const p = get('pond', k), s = get('securenn', k), f = get('fss', k);
    const tf = s?.tf_accuracy ?? p?.tf_accuracy ?? f?.tf_accuracy;
    out.push(`| ${k} | ${ms(p?.ms_b1_median)} (${pp}) | ${ms(s?.ms_b1_median)} (${ps}) | ${ms(f?.ms_b1_median)} | ${pctStr(tf)} (${pt}%) | ${pctStr(p?.accuracy)} (${pa}%) | ${pctStr(s?.accuracy)} (${sa}%) | ${pctStr(f?.accuracy)} | ${p ? p.kl.toFixed(4) : '-'} (${pk}) | ${s ? s.kl.toExponential(1) : '-'} (${sk}) | ${f ? f.kl.toExponential(1) : '-'} |`);
  }
  out.push('', '| protocol | net | b1 median ms | b1 p90 ms | batch 128 images/s | accuracy | plaintext | KL | bytes b1 | rounds b1 | C++ reference b1 ms / b128 s |', '|---|---|---|---|---|---|---|---|---|---|---|');
  for (const r of rows) {
    const ref = r.protocol === 'securenn' ? REFERENCE[r.key] : undefined;
    out.push(`| ${r.protocol} | ${r.key} | ${ms(r.ms_b1_median)} | ${ms(r.ms_b1_p90)} | ${r.b128_per_s.toFixed(1)} | ${pctStr(r.accuracy)} | ${pctStr(r.tf_accuracy)} | ${r.kl.toExponential(2)} | ${r.bytes_b1} | ${r.rounds_b1} | ${ref ? `${ref[0]} / ${ref[1]}` : '-'} |`);
  }
  if (meta.runs) out.push('', 'Commands:', '', ...meta.runs.map((r) => `- \`${r.command}\` (${r.date}): ${r.entries.join(', ')}`));
  else out.push('', `Command: \`${meta.command}\`.`);
  return out.join('\n');
}

const BEGIN = '<!-- bench:table begin (written by npm run bench:table) -->';
const END = '<!-- bench:table end -->';

/** Replaces the table's section of bench/RESULTS.md (appending it the first time). */
export function writeResults(rows: Measured[], meta: Meta, file = path.join(__dirname, '..', '..', '..', 'bench', 'RESULTS.md')): void {
  const section = `${BEGIN}\n## The seed paper's table (bench:table)\n\n${markdownTable(rows, meta)}\n\n![batch-1 latency](table.svg)\n${END}`;
  const old = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '# Benchmark results\n';
  const a = old.indexOf(BEGIN), b = old.indexOf(END);
  fs.writeFileSync(file, a >= 0 && b > a ? old.slice(0, a) + section + old.slice(b + END.length) : `${old.trimEnd()}\n\n${section}\n`);
}

/** Grouped bars: batch-1 latency, ours vs the paper (Pond, SecureNN) per network, log scale. */
export function writeSvg(rows: Measured[], file: string): void {
  const groups = ['A', 'B', 'C'];
  const series: { label: string; colour: string; value: (k: string) => number | undefined }[] = [
    { label: 'Pond (ours)', colour: '#1f77b4', value: (k) => rows.find((r) => r.protocol === 'pond' && r.key === k)?.ms_b1_median },
    { label: 'Pond (paper)', colour: '#aec7e8', value: (k) => PAPER[k][0] },
    { label: 'SecureNN (ours)', colour: '#d62728', value: (k) => rows.find((r) => r.protocol === 'securenn' && r.key === k)?.ms_b1_median },
    { label: 'SecureNN (paper)', colour: '#ff9896', value: (k) => PAPER[k][1] },
    { label: 'FSS (ours)', colour: '#2ca02c', value: (k) => rows.find((r) => r.protocol === 'fss' && r.key === k)?.ms_b1_median },
  ];
  const W = 780, H = 360, left = 60, bottom = 300, top = 30;
  const y = (v: number) => bottom - ((Math.log10(Math.max(v, 0.1)) + 1) / 4) * (bottom - top); // 0.1 ms .. 1000 ms
  const bw = 30, gw = series.length * bw + 40;
  const parts: string[] = [`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`, `<text x="${left}" y="18" font-size="14">Batch-1 latency per prediction (ms, log scale)</text>`];
  for (const t of [0.1, 1, 10, 100, 1000]) parts.push(`<line x1="${left}" x2="${W - 10}" y1="${y(t)}" y2="${y(t)}" stroke="#ddd"/><text x="${left - 6}" y="${y(t) + 4}" text-anchor="end">${t}</text>`);
  groups.forEach((g, gi) => {
    series.forEach((s, si) => {
      const v = s.value(g);
      if (v === undefined) return;
      const x = left + 20 + gi * gw + si * bw;
      parts.push(`<rect x="${x}" y="${y(v)}" width="${bw - 4}" height="${bottom - y(v)}" fill="${s.colour}"><title>${s.label} ${g}: ${v.toFixed(1)} ms</title></rect>`);
    });
    parts.push(`<text x="${left + 20 + gi * gw + (series.length * bw) / 2}" y="${bottom + 18}" text-anchor="middle">${g}</text>`);
  });
  series.forEach((s, si) => parts.push(`<rect x="${left + si * 140}" y="${H - 28}" width="12" height="12" fill="${s.colour}"/><text x="${left + si * 140 + 16}" y="${H - 18}">${s.label}</text>`));
  parts.push('</svg>');
  fs.writeFileSync(file, parts.join('\n'));
}
