// The protocols a cluster can run, and what distinguishes them. Pond is the arithmetic core
// (masking, Beaver products, truncation) every protocol shares; the exact protocols add
// comparisons, and differ only in how they compute DReLU (lib/protocol/comparison.ts): SecureNN
// with server2 as an online helper, FSS with server2 as an offline dealer of DCF keys.

export type ProtocolName = 'pond' | 'securenn' | 'fss';

export const PROTOCOLS: readonly ProtocolName[] = ['pond', 'securenn', 'fss'];

/** What a cluster, a session and a deploy run when none is named. */
export const DEFAULT_PROTOCOL: ProtocolName = 'securenn';

/**
 * What a deploy or a verify of a model with no comparison runs when none is named: a protocol
 * that is not exact (Pond: fewer rounds, and exact for such a model). Named, not the first such
 * in PROTOCOLS: a protocol added before it would have become the default unannounced.
 */
export const DEFAULT_WITHOUT_COMPARISONS: ProtocolName = 'pond';

export interface ProtocolTraits {
  /** relu, max pooling and comparisons are exact (Pond: relu is a polynomial, no comparisons). */
  exact: boolean;
  /** server2 receives messages online (SecureNN's comparisons); otherwise it only deals. */
  server2Online: boolean;
}

export const PROTOCOL_TRAITS: Record<ProtocolName, ProtocolTraits> = {
  pond: { exact: false, server2Online: false },
  securenn: { exact: true, server2Online: true },
  fss: { exact: true, server2Online: false },
};

/**
 * Which form FSS's sign and ReLU gates take (docs/fss.md, "Two gate forms"): 'auto' (the default)
 * picks per gate by its size, one round below FSS_STEPS.compactFrom elements and the compact form
 * from there on; 'one-round' always takes one online round (2056-byte relu keys); 'compact'
 * always takes the compact form (936-byte keys, a second round of one masked bit per element),
 * for deployments that serve many queries and whose key traffic, not rounds, limits them.
 * 'folded' is 'auto', and a product relu(a) W right after a one-round relu gate (or a reshape of
 * its output), W a private weight, folds into that gate's keys (after a gate large enough to be
 * compact, as under 'compact-folded') (docs/fss.md, "Folded products"): no round of its own, for
 * k two-payload keys more per gate element (k = W's columns; 2.6 MiB more per query and compute
 * server for network A's last product), while the product has at most FSS_STEPS.foldMaxCells
 * cells; for round-bound deployments (a WAN) serving classifier heads. 'compact-folded' is
 * 'compact', and such a product folds into the compact gate before it with no keys at all (its
 * opened masked bit makes the product local given three dealt words per cell), so a relu and the
 * product after it take the two rounds of the compact gate alone.
 */
export type FssGate = 'auto' | 'one-round' | 'compact' | 'folded' | 'compact-folded';

export const FSS_GATES: readonly FssGate[] = ['auto', 'one-round', 'compact', 'folded', 'compact-folded'];

/** Checks an FSS gate form from a user, naming where it came from. */
export function checkFssGate(v: unknown, where: string): FssGate {
  if (!FSS_GATES.includes(v as FssGate)) throw new TypeError(`${where}: unknown FSS gate form ${JSON.stringify(typeof v === 'string' ? v.slice(0, 40) : v)} (expected ${FSS_GATES.map((g) => `'${g}'`).join(', ')})`);
  return v as FssGate;
}

/**
 * The width n of FSS's comparisons (docs/fss.md, "Narrower comparisons"): its gates take the sign
 * of x mod 2^n, which is x's sign when |x| < 2^(n-1) in ring units (|value| < 2^(n-1-fracBits)).
 * 64 (the default) is the whole ring, exact everywhere (each gate narrowed further to what its
 * inputs' bounds allow: gate_common.ts gateBits); a narrower width halves the DCF's levels
 * at n = 32 (relu keys of 1032 bytes instead of 2056, half the key work) for models whose gate
 * inputs (activations, and the differences max pooling compares) stay within that range.
 */
export const FSS_BITS_MIN = 16;

/** Checks an FSS comparison width from a user, naming where it came from. */
export function checkFssBits(v: unknown, where: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < FSS_BITS_MIN || v > 64)
    throw new TypeError(`${where}: fssBits must be an integer in [${FSS_BITS_MIN}, 64] (the width of FSS's comparisons; 64, the default, is the whole ring), got ${JSON.stringify(typeof v === 'string' ? v.slice(0, 40) : v)}`);
  return v;
}

/**
 * How SecureNN computes DReLU (docs/securenn.md, "DReLU"): 'one-compare' (the default: the MSB
 * from the carry of a masked opening's low 63 bits, one PrivateCompare, as Falcon does, and relu
 * without a Beaver product) or 'paper' (SecureNN's own ShareConvert then ComputeMSB: two
 * PrivateCompares, about twice the bytes and rounds, kept to compare against). They give the same
 * bits wherever the paper's form is exact (|a| < 2^62); the one-compare form is exact everywhere.
 */
export type SecureNNDrelu = 'one-compare' | 'paper';

export const SECURENN_DRELUS: readonly SecureNNDrelu[] = ['one-compare', 'paper'];

/** Checks a SecureNN DReLU form from a user, naming where it came from. */
export function checkSecureNNDrelu(v: unknown, where: string): SecureNNDrelu {
  if (!SECURENN_DRELUS.includes(v as SecureNNDrelu)) throw new TypeError(`${where}: unknown SecureNN DReLU form ${JSON.stringify(typeof v === 'string' ? v.slice(0, 40) : v)} (expected ${SECURENN_DRELUS.map((g) => `'${g}'`).join(', ')})`);
  return v as SecureNNDrelu;
}

/** Checks a protocol name from a user, naming where it came from. */
export function checkProtocol(name: unknown, where: string): ProtocolName {
  if (!PROTOCOLS.includes(name as ProtocolName)) throw new TypeError(`${where}: unknown protocol ${JSON.stringify(name)} (expected ${PROTOCOLS.map((p) => `'${p}'`).join(', ')})`);
  return name as ProtocolName;
}

export const isExact = (name: ProtocolName): boolean => PROTOCOL_TRAITS[name].exact;

/** What a deploy or a verify runs when no protocol is named: DEFAULT_PROTOCOL for a model that compares values, else DEFAULT_WITHOUT_COMPARISONS. */
export function defaultProtocolFor(comparisons: boolean): ProtocolName {
  return comparisons ? DEFAULT_PROTOCOL : DEFAULT_WITHOUT_COMPARISONS;
}

/** The protocols as a help text lists them, the default first: "securenn | pond | fss". */
export function protocolsHelpText(): string {
  return [DEFAULT_PROTOCOL, ...PROTOCOLS.filter((p) => p !== DEFAULT_PROTOCOL)].join(' | ');
}

/** The exact protocols, for errors that send a user to one: "'securenn' (the default) or 'fss'". */
export function exactProtocolsText(): string {
  const names = PROTOCOLS.filter(isExact).map((n) => `'${n}'${n === DEFAULT_PROTOCOL ? ' (the default)' : ''}`);
  return names.length > 1 ? `${names.slice(0, -1).join(', ')} or ${names[names.length - 1]}` : names.join('');
}
