// The options a protocol takes at deploy time (FSS's gate form and comparison width), each
// described once here: a deploy request, the model store and its digest, a model's listing, and
// the CLI's deploy and verify flags all go through OPTION_SPECS and know no option by name. A
// protocol with options of its own adds its fields to ProtocolOptions and its specs to
// OPTION_SPECS, and each option as a ClusterOptions field and a Cluster accessor of the same name
// (cluster.ts ForkOptions: the compiler asks for them), so that it passes to a cluster as it is.
import { checkFssBits, checkFssGate, FSS_BITS_MIN, FSS_GATES, type FssGate, type ProtocolName } from './protocols';

/** Every protocol's deploy options, by their ClusterOptions names; a deploy carries its own protocol's only. */
export interface ProtocolOptions {
  fssGate?: FssGate;
  fssBits?: number;
}

/** Every option with a value: the protocol's own as deployed, the rest at their defaults. */
export type ResolvedOptions = Required<ProtocolOptions>;

type OptionName = keyof ProtocolOptions;

export interface OptionSpec<K extends OptionName = OptionName> {
  name: K;
  /** The protocol the option belongs to: a deploy under another refuses it. */
  protocol: ProtocolName;
  /** The value when unset; a deploy, the store and the digest leave it out. */
  default: ResolvedOptions[K];
  /** The CLI flag with its argument (commander's camel case of the flag is `name`). */
  flag: string;
  /** The flag's help under `tfe deploy` and under `tfe verify`. */
  help: { deploy: string; verify: string };
  /** A value from a request or a stored model, checked; `where` starts the error. */
  check(v: unknown, where: string): ResolvedOptions[K];
  /** A flag's text as a value, checked, naming the flag when wrong. */
  fromFlag(text: string, flag: string): ResolvedOptions[K];
  /** Why a value other than the default cannot go with `tfe verify --debug-ranges`, if it cannot. */
  withDebugRanges?: string;
  /** How a listing says the value ("compact gates"), or undefined to say nothing (a default not worth saying). */
  describe(v: unknown): string | undefined;
}

const fssGate: OptionSpec<'fssGate'> = {
  name: 'fssGate',
  protocol: 'fss',
  default: 'auto',
  flag: '--fss-gate <form>',
  help: {
    deploy: `fss: ${FSS_GATES.join(' | ')} (default auto: one round per relu for gates under 16384 elements, the compact form above; over links of more than 10 ms as folded; and while queries come faster than server2 deals them the compact form for every gate (over links of more than 10 ms, gates of 2048 elements or more); compact: relu keys of 696 bytes instead of 1576 after a Dense or Conv2D layer (936 instead of 2056 on the whole ring) for a second round, for deployments whose key traffic, not rounds, limits them; folded: as auto, and the product right after a one-round relu, by a weight of k columns (a classifier head), folds into that relu's keys: one round fewer per query, a key with 2k payloads more per relu element, for networks with long round trips; compact-folded: as compact, and such a product folds into the compact relu before it with no keys, three dealt words per cell: a relu and the product after it in the compact gate's two rounds)`,
    verify: `fss: ${FSS_GATES.join(' | ')}, as tfe deploy --fss-gate (the answers are the same; with --batch-size 1 each input runs as a batch-1 query would, folded products included)`,
  },
  check: checkFssGate,
  fromFlag: (text, flag) => checkFssGate(text, flag),
  describe: (v) => `${v as FssGate} gates`,
};

const fssBits: OptionSpec<'fssBits'> = {
  name: 'fssBits',
  protocol: 'fss',
  default: 64,
  flag: '--fss-bits <n>',
  help: {
    deploy: `fss: the widest the comparisons may be, ${FSS_BITS_MIN}-64 (default 64, the whole ring: exact everywhere; each gate compares no more bits than its inputs can take given the model's structure, 49 for a relu after a Dense or Conv2D layer). Narrower is exact while every activation's input (relu, relu6, sigmoid...), and every difference a max pool compares, stays under 2^(n-1-fracBits) in magnitude (n 32, fracBits 16: 32768); it halves relu keys at 32 (1032 bytes one-round, 424 compact) and their key work; the comparisons an activation makes of its own constants (relu6's x - 6, sigmoid's knots) keep the width their structure gives. Check it on your inputs with tfe verify --protocol fss --fss-bits <n>`,
    verify: `fss: the widest the comparisons may be, ${FSS_BITS_MIN}-64 (default 64), as tfe deploy --fss-bits: the agreement says whether your inputs stay in its range`,
  },
  check: checkFssBits,
  fromFlag: (text, flag) => {
    const n = Number(text);
    if (!/^\d+$/.test(text.trim()) || n < FSS_BITS_MIN || n > 64) throw new Error(`${flag} must be a whole number of bits (${FSS_BITS_MIN}-64), got ${JSON.stringify(text.slice(0, 20))}`);
    return n;
  },
  // The ranges are measured with the gates themselves: at a narrow width, values past it would be misjudged.
  withDebugRanges: '--debug-ranges measures the ranges with the comparisons themselves: run it without --fss-bits (the whole ring) to see whether the values fit the narrower width',
  describe: (v) => (v === 64 ? undefined : `${v as number}-bit comparisons`),
};

/** One spec per field of ProtocolOptions (a field without one fails to compile here). */
const SPECS: { [K in OptionName]-?: OptionSpec<K> } = { fssGate, fssBits };

/** Every protocol's deploy options, in the order a digest, a stored model and a listing give them. */
export const OPTION_SPECS: readonly OptionSpec[] = Object.values(SPECS);

/** The bare flag of a spec: '--fss-gate'. */
export const flagOf = (s: OptionSpec): string => s.flag.split(' ')[0];

/**
 * A deploy's options from `source` (a request, the client's arguments), each checked and refused
 * unless it belongs to `protocol`; a value equal to its default is left out, so a deploy that
 * states it and one that does not are the same deploy (and have the same digest).
 */
export function deployOptions(protocol: ProtocolName, source: object, where: string): ProtocolOptions {
  return collect(source, (s, given) => {
    const v = s.check(given, where);
    if (s.protocol !== protocol) throw new Error(`${where}: ${s.name} applies to the ${s.protocol} protocol, not ${protocol}`);
    return v;
  });
}

/**
 * The options of the CLI's flags (commander's parsed `flags`), each checked naming its flag and
 * refused unless `protocol` is the option's; `which` says the protocol in the error (the default
 * when none was named). Defaults are left out, as in deployOptions.
 */
export function flagOptions(protocol: ProtocolName | undefined, flags: object, which: string = protocol ?? 'the default'): ProtocolOptions {
  return collect(flags, (s, given) => {
    const v = s.fromFlag(String(given), flagOf(s));
    if (s.protocol !== protocol) throw new Error(`${flagOf(s)} applies to --protocol ${s.protocol}, not ${which}`);
    return v;
  });
}

/** The options `source` sets, each read by `read` (which checks it), those at their defaults left out. */
function collect(source: object, read: (s: OptionSpec, given: unknown) => unknown): ProtocolOptions {
  const out: Record<string, unknown> = {};
  for (const s of OPTION_SPECS) {
    const given = (source as Record<string, unknown>)[s.name];
    if (given === undefined) continue;
    const v = read(s, given);
    if (v !== s.default) out[s.name] = v;
  }
  return out as ProtocolOptions;
}

/** Every option with a value (checked, and only `protocol`'s set), as a cluster or a fork takes them. */
export function resolveOptions(protocol: ProtocolName, source: object, where: string): ResolvedOptions {
  const given = deployOptions(protocol, source, where) as Record<string, unknown>;
  return Object.fromEntries(OPTION_SPECS.map((s) => [s.name, s.name in given ? given[s.name] : s.default])) as unknown as ResolvedOptions;
}

/** The options set in `m` (a deployed model: every one), without its other fields, as a cluster or a fork takes them. */
export function optionsOf(m: ResolvedOptions): ResolvedOptions;
export function optionsOf(m: ProtocolOptions): ProtocolOptions;
export function optionsOf(m: ProtocolOptions): ProtocolOptions {
  const out: Record<string, unknown> = {};
  for (const s of OPTION_SPECS) if (m[s.name] !== undefined) out[s.name] = m[s.name];
  return out as ProtocolOptions;
}

/** The options of `protocol` that differ from their defaults, in OPTION_SPECS' order: what a digest and a stored model carry. */
export function statedOptions(protocol: ProtocolName, m: ProtocolOptions): ProtocolOptions {
  const out: Record<string, unknown> = {};
  for (const s of OPTION_SPECS) if (s.protocol === protocol && m[s.name] !== undefined && m[s.name] !== s.default) out[s.name] = m[s.name];
  return out as ProtocolOptions;
}

/** Every option of `protocol`, defaults filled in: what a model's listing shows. */
export function listedOptions(protocol: ProtocolName, m: ProtocolOptions): ProtocolOptions {
  return Object.fromEntries(OPTION_SPECS.filter((s) => s.protocol === protocol).map((s) => [s.name, m[s.name] ?? s.default])) as ProtocolOptions;
}

/** What a listing says of a model's options: ['compact gates', '32-bit comparisons']. */
export function describeOptions(protocol: string, m: object): string[] {
  return OPTION_SPECS.flatMap((s) => {
    const v = (m as Record<string, unknown>)[s.name];
    const said = s.protocol === protocol && v !== undefined ? s.describe(v) : undefined;
    return said === undefined ? [] : [said];
  });
}
