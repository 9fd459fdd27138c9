// FairMemory (lib/serve/fair_memory.ts): bounded, and when full the oldest of whoever holds the
// most goes, so one owner's stream of entries pushes out its own and never a lighter owner's.
import test from 'ava';

import { FairMemory } from '../lib/serve/fair_memory';

test('within its bound it remembers everything; beyond it the largest owner loses its oldest', (t) => {
  const m = new FairMemory(4);
  m.add('a1', 'a');
  m.add('b1', 'b');
  m.add('b2', 'b');
  m.add('b3', 'b');
  t.is(m.size, 4);
  m.add('a2', 'a'); // b holds the most: b1 goes
  t.deepEqual(['a1', 'b1', 'b2', 'b3', 'a2'].map((v) => m.has(v)), [true, false, true, true, true]);
  for (let i = 0; i < 1000; i++) m.add(`b${10 + i}`, 'b');
  t.is(m.size, 4);
  t.true(m.has('a1') && m.has('a2'), "a's two stay through b's thousand");
  t.true(m.has('b1009') && m.has('b1008') && !m.has('b1007'));
});

test('among owners of equal size the first met loses its oldest; a value added again is fresh', (t) => {
  const m = new FairMemory(4);
  for (const v of ['a1', 'b1', 'a2', 'b2']) m.add(v, v[0]);
  m.add('a1', 'a'); // a1 is now a's newest
  m.add('c1', 'c'); // a and b hold 2 each: a (met first) loses its oldest, a2
  t.deepEqual(['a1', 'a2', 'b1', 'b2', 'c1'].map((v) => m.has(v)), [true, false, true, true, true]);
  // An undefined owner is an owner like any other.
  const u = new FairMemory(2);
  u.add('x', undefined);
  u.add('y', undefined);
  u.add('z', 'o');
  t.deepEqual(['x', 'y', 'z'].map((v) => u.has(v)), [false, true, true]);
  t.throws(() => new FairMemory(0), { message: /positive integer/ });
});
