// The benchmark scripts' option check (bench/lib/args.ts): a mistyped option used to run a whole
// benchmark without it (`npm run bench:b1 -- --help` ran every network for minutes).
import test from 'ava';

import { checkOptions, numberOption } from '../bench/lib/args';

const spec = { flags: ['--json', '--cpu'], values: ['--only', '--rounds'], usage: 'npm run bench:x [-- --only A] [--rounds N] [--json] [--cpu]' };

test('known switches and options with their values pass', (t) => {
  t.notThrows(() => checkOptions([], spec));
  t.notThrows(() => checkOptions(['--only', 'A,C', '--json', '--rounds', '5', '--cpu'], spec));
  t.notThrows(() => checkOptions(['--rounds', '-1'], spec), 'a value may start with one dash (numberOption judges it)');
});

test('an unknown option, a missing value and a stray argument are refused, naming them', (t) => {
  t.throws(() => checkOptions(['--rouns', '5'], spec), { message: /unknown option --rouns \(known: --json, --cpu, --only, --rounds; --help for usage\)/ });
  t.throws(() => checkOptions(['-x'], spec), { message: /unknown option -x/ });
  t.throws(() => checkOptions(['--only'], spec), { message: /--only needs a value/ });
  t.throws(() => checkOptions(['--only', '--json'], spec), { message: /--only needs a value/ });
  t.throws(() => checkOptions(['A'], spec), { message: /unexpected argument "A"/ });
  t.throws(() => checkOptions(['--json', 'extra'], spec), { message: /unexpected argument "extra"/ });
});

test('plain arguments up to `positional` pass, one more is refused', (t) => {
  const withDir = { ...spec, positional: 1 };
  t.notThrows(() => checkOptions(['/tmp/trace', '--json'], withDir));
  t.throws(() => checkOptions(['/tmp/trace', '/tmp/other'], withDir), { message: /unexpected argument "\/tmp\/other"/ });
});

test('numberOption reads a number, its default when absent, and refuses one below its minimum', (t) => {
  t.is(numberOption(['--rounds', '7'], '--rounds', 40), 7);
  t.is(numberOption([], '--rounds', 40), 40);
  t.throws(() => numberOption(['--rounds', '0'], '--rounds', 40, 1), { message: /--rounds wants a number >= 1, got 0/ });
  t.throws(() => numberOption(['--rounds', 'many'], '--rounds', 40), { message: /wants a number/ });
});
