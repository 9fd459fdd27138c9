// A party's view, and whether two views (the same program run on two different secrets) have the
// same statistics. The view is every message the party receives and every message it sends (what
// it sent is a function of what it knows, its shares among them). What is compared, per message
// (keyed by sender, receiver, op, step, part and occurrence): the histogram of each element
// (ring64: its low and top byte; z<p>: its value; bits: the bit), and for every two messages of
// the view in the same step from different senders (say, its own share of an opening and the
// peer's), the histograms of their sum and difference (the joint view, not only the marginals),
// plus, for [.., 64] field pairs, where in the row their sum is zero (what PrivateCompare's
// permutation hides). Two-sample chi-square homogeneity, each at a false-alarm rate near 1e-7.
//
// These statistics do not condition on what the party itself dealt or holds; the attacks that do
// live beside the protocol (test/securenn_view.test.ts).
import type { ExecutionContext } from 'ava';

import * as tfe from '../../lib';

export interface Seen {
  from: string;
  to: string;
  key: string;
  dtype: string;
  shape: number[];
  data: Uint8Array;
}

/** Records every tensor message; `key` names it by sender, op, step, part and occurrence. */
export function recordTensors(c: tfe.Cluster): Seen[] {
  const seen: Seen[] = [];
  const count = new Map<string, number>();
  const send = c.transport.send.bind(c.transport);
  c.transport.send = (from, to, tag, p) => {
    if (p.kind === 'tensor') {
      const base = `${from}>${to} ${tag.op}/${tag.step}/${tag.part ?? ''}`;
      const k = count.get(base) ?? 0;
      count.set(base, k + 1);
      seen.push({ from, to, key: `${base}#${k}`, dtype: p.dtype, shape: [...p.shape], data: p.data });
    }
    return send(from, to, tag, p);
  };
  return seen;
}

function modulusOf(dtype: string): number | null {
  return dtype.startsWith('z') ? Number(dtype.slice(1)) : null;
}

/** Histograms of one message's elements, named. */
function marginals(m: { dtype: string; data: Uint8Array }): Map<string, number[]> {
  const out = new Map<string, number[]>();
  const p = modulusOf(m.dtype);
  if (m.dtype === 'ring64') {
    for (const b of [0, 7]) {
      const h = new Array(256).fill(0);
      for (let i = b; i < m.data.length; i += 8) h[m.data[i]]++;
      out.set(`byte ${b}`, h);
    }
  } else {
    const h = new Array(p ?? 2).fill(0);
    for (const v of m.data) h[v]++;
    out.set('value', h);
  }
  return out;
}

/** Sum and difference of two same-shaped messages, element by element, in their ring or field. */
function combine(a: Seen, b: Seen, op: 1 | -1): { dtype: string; data: Uint8Array } {
  if (a.dtype === 'ring64') {
    const x = new BigUint64Array(a.data.slice().buffer), y = new BigUint64Array(b.data.slice().buffer);
    return { dtype: a.dtype, data: new Uint8Array(x.map((v, i) => BigInt.asUintN(64, op === 1 ? v + y[i] : v - y[i])).buffer) };
  }
  const p = modulusOf(a.dtype) ?? 2;
  return { dtype: a.dtype, data: a.data.map((v, i) => (((v + op * b.data[i]) % p) + p) % p) };
}

/** Where in each row of 64 a field sum is zero (PrivateCompare's rows). */
function zeroColumns(s: { data: Uint8Array }): number[] {
  const h = new Array(64).fill(0);
  s.data.forEach((v, i) => {
    if (v === 0) h[i % 64]++;
  });
  return h;
}

/** Two-sample chi-square homogeneity: the statistic and its degrees of freedom. */
export function homogeneity(a: number[], b: number[]): { chi: number; df: number } {
  const na = a.reduce((s, v) => s + v, 0), nb = b.reduce((s, v) => s + v, 0);
  let chi = 0, df = -1;
  for (let i = 0; i < a.length; i++) {
    const tot = a[i] + b[i];
    if (tot === 0) continue;
    df++;
    const ea = (tot * na) / (na + nb), eb = (tot * nb) / (na + nb);
    chi += (a[i] - ea) ** 2 / ea + (b[i] - eb) ** 2 / eb;
  }
  return { chi, df: Math.max(df, 1) };
}

/** Chi-square critical value at about 1e-7 (Wilson-Hilferty, z = 5.2). */
function critical(df: number): number {
  const v = 2 / (9 * df);
  return df * (1 - v + 5.2 * Math.sqrt(v)) ** 3;
}

export interface ViewComparison {
  /** Statistics compared. */
  checked: number;
  /** Those that differ, named. */
  differ: string[];
  /** Messages in one view and not the other (the traffic pattern itself differs). */
  unmatched: string[];
}

/** Compares what `party` received and sent in two runs. */
export function compareViews(a: Seen[], b: Seen[], party: string): ViewComparison {
  const mine = (v: Seen[]) => new Map(v.filter((m) => m.to === party || m.from === party).map((m) => [m.key, m]));
  const va = mine(a), vb = mine(b);
  const unmatched = [...va.keys()].filter((k) => !vb.has(k)).concat([...vb.keys()].filter((k) => !va.has(k)));
  const differ: string[] = [];
  let checked = 0;
  const check = (name: string, ha: number[], hb: number[]) => {
    checked++;
    const { chi, df } = homogeneity(ha, hb);
    if (chi > critical(df)) differ.push(`${name}: chi2 ${chi.toFixed(0)} (df ${df})`);
  };
  const both = [...va.keys()].filter((k) => vb.has(k));
  for (const k of both) for (const [stat, h] of marginals(va.get(k)!)) check(`${k} ${stat}`, h, marginals(vb.get(k)!).get(stat)!);
  // Joint: pairs from different senders in the same step (same key apart from the parties).
  const step = (k: string) => k.slice(k.indexOf(' '));
  for (const k1 of both)
    for (const k2 of both) {
      const [a1, a2, b1, b2] = [va.get(k1)!, va.get(k2)!, vb.get(k1)!, vb.get(k2)!];
      if (k1 >= k2 || a1.from === a2.from || step(k1) !== step(k2) || a1.dtype !== a2.dtype || a1.data.length !== a2.data.length) continue;
      for (const op of [1, -1] as const) {
        const ca = combine(a1, a2, op), cb = combine(b1, b2, op);
        for (const [stat, h] of marginals(ca)) check(`${k1} ${op === 1 ? '+' : '-'} ${k2} ${stat}`, h, marginals(cb).get(stat)!);
        if (op === 1 && modulusOf(a1.dtype) && a1.shape[a1.shape.length - 1] === 64) check(`${k1} + ${k2} zero columns`, zeroColumns(ca), zeroColumns(cb));
      }
    }
  return { checked, differ, unmatched };
}

/** Asserts that each of `parties` saw the same messages, with the same statistics, in two runs on different secrets. */
export function sameViewStatistics(t: ExecutionContext, a: Seen[], b: Seen[], parties: readonly string[]): void {
  for (const party of parties) {
    const cmp = compareViews(a, b, party);
    t.deepEqual(cmp.unmatched, [], `${party}: the same messages for both secrets`);
    t.deepEqual(cmp.differ, [], `${party}: ${cmp.checked} statistics agree`);
    // Two empty recordings agree too: something must have been compared.
    t.true(cmp.checked > 0, `${party}: nothing was compared`);
  }
}
