// docs/service.md says the range each cluster.json limit accepts; the config refuses values
// outside the ranges in code (LIMIT_RANGES, NET_RANGES). This holds the two together: a range
// changed in code without the docs (or the reverse) fails here.
import * as fs from 'node:fs';
import * as path from 'node:path';

import test from 'ava';

import { NET_RANGES } from '../lib/serve/config';
import { LIMIT_RANGES } from '../lib/serve/limits';

const DOC = fs.readFileSync(path.join(__dirname, '..', '..', 'docs', 'service.md'), 'utf8');
const RANGE = /(\d+(?:\^\d+)?(?: - 1)?) to (\d+(?:\^\d+)?(?: - 1)?)/g;

/** A number as the docs write it: a power of two from 2^16 as 2^k, others in digits. */
const written = (v: number): string => (v >= 2 ** 16 && Number.isInteger(Math.log2(v)) ? `2^${Math.log2(v)}` : String(v));

/** Each field of the docs' "Accepted values" paragraphs, with the first range written after it. */
function documented(doc: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const [, body] of doc.matchAll(/Accepted values \(integers[^)]*\):([\s\S]*?)(?:Between fields|\n\n)/g)) {
    const ranges = [...body.matchAll(RANGE)].map((m) => ({ at: m.index!, text: `${m[1]} to ${m[2]}` }));
    for (const m of body.matchAll(/`(\w+)`/g)) {
      const next = ranges.find((r) => r.at > m.index!);
      if (next && !out.has(m[1])) out.set(m[1], next.text);
    }
  }
  return out;
}

test('the reader of the docs finds a field\'s range, and one written apart from it (the control)', (t) => {
  const doc = 'Accepted values (integers; x): `a` 1 to 2^20, `b` and `c` 100 to 600000, `d` 0 (none) or 1000 to 2^24 - 1.\n\n';
  t.deepEqual([...documented(doc)], [['a', '1 to 2^20'], ['b', '100 to 600000'], ['c', '100 to 600000'], ['d', '1000 to 2^24 - 1']]);
  t.is(written(1 << 20), '2^20');
  t.is(written(4096), '4096');
  t.is(written(100_000), '100000');
});

test('docs/service.md gives every limit the range the config accepts', (t) => {
  const docs = documented(DOC);
  const ranges = { ...LIMIT_RANGES, ...NET_RANGES } as Record<string, [number, number]>;
  t.true(Object.keys(ranges).length >= 18);
  for (const [field, [lo, hi]] of Object.entries(ranges)) t.is(docs.get(field), `${written(lo)} to ${written(hi)}`, field);
});
