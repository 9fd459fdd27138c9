// `openssl speed` as the reference for the PRG: both are AES-128-CTR keystream generation, and
// OpenSSL's AES-NI code is the well-known yardstick. It runs single-threaded as a child process.
import { spawnSync } from 'node:child_process';

import type { Outcome } from './dgemm';

export interface OpensslResult {
  /** Bytes per second / 1e9 at the block size below. */
  gbps: number;
  blockBytes: number;
  version: string;
}

/**
 * Parses the result table of `openssl speed`, e.g.
 *   type          16384 bytes
 *   AES-128-CTR   10046947.33k
 * Values are in thousands of bytes per second with a trailing 'k'. Takes the last (largest)
 * block-size column. Exported so the parser can be checked against captured output.
 */
export function parseSpeedTable(out: string): { kbps: number; blockBytes: number } | undefined {
  const lines = out.split('\n');
  const header = lines.find((l) => /^type\s/.test(l));
  const row = lines.find((l) => /^aes-128-ctr\s/i.test(l));
  if (!header || !row) return undefined;
  const sizes = [...header.matchAll(/(\d+)\s+bytes/g)].map((m) => Number(m[1]));
  const values = [...row.matchAll(/([\d.]+)k/g)].map((m) => Number(m[1]));
  if (!sizes.length || sizes.length !== values.length) return undefined;
  return { kbps: values[values.length - 1], blockBytes: sizes[sizes.length - 1] };
}

/** 16 KiB is the largest block size of OpenSSL's default table; one size keeps the run short. */
export function runOpensslSpeed(seconds = 2, blockBytes = 16384): Outcome<OpensslResult> {
  const args = ['speed', '-evp', 'aes-128-ctr', '-seconds', String(seconds), '-bytes', String(blockBytes)];
  const r = spawnSync('openssl', args, { encoding: 'utf8', timeout: (seconds + 30) * 1000 });
  if (r.error) return { ok: false, note: `openssl not available (${r.error.message}); PRG reference skipped` };
  if (r.status !== 0) return { ok: false, note: `openssl speed failed (exit ${r.status}): ${(r.stderr || '').trim().slice(0, 200)}` };
  const parsed = parseSpeedTable(r.stdout);
  if (!parsed) return { ok: false, note: `could not parse openssl speed output: ${r.stdout.slice(-200)}` };
  const v = spawnSync('openssl', ['version'], { encoding: 'utf8' });
  return {
    ok: true,
    value: { gbps: (parsed.kbps * 1000) / 1e9, blockBytes: parsed.blockBytes, version: (v.stdout || '').trim() },
  };
}
