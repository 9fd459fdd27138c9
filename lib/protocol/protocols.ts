// The protocols a cluster can run, and what distinguishes them. Pond is the arithmetic core
// (masking, Beaver products, truncation) every protocol shares; the exact protocols add
// comparisons, and differ only in how they compute DReLU (lib/protocol/comparison.ts): SecureNN
// with server2 as an online helper, FSS with server2 as an offline dealer of DCF keys.

export type ProtocolName = 'pond' | 'securenn' | 'fss';

export const PROTOCOLS: readonly ProtocolName[] = ['pond', 'securenn', 'fss'];

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
 */
export type FssGate = 'auto' | 'one-round' | 'compact';

export const FSS_GATES: readonly FssGate[] = ['auto', 'one-round', 'compact'];

/** Checks an FSS gate form from a user, naming where it came from. */
export function checkFssGate(v: unknown, where: string): FssGate {
  if (!FSS_GATES.includes(v as FssGate)) throw new TypeError(`${where}: unknown FSS gate form ${JSON.stringify(typeof v === 'string' ? v.slice(0, 40) : v)} (expected ${FSS_GATES.map((g) => `'${g}'`).join(', ')})`);
  return v as FssGate;
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

/** Checks a deploy's FSS gate form (absent: nothing to check): a form, and only for 'fss'. */
export function checkDeployGate(protocol: ProtocolName, fssGate: unknown): FssGate | undefined {
  if (fssGate === undefined) return undefined;
  checkFssGate(fssGate, 'deploy');
  if (protocol !== 'fss') throw new Error(`deploy: fssGate applies to the fss protocol, not ${protocol}`);
  return fssGate as FssGate;
}

/** Checks a protocol name from a user, naming where it came from. */
export function checkProtocol(name: unknown, where: string): ProtocolName {
  if (!PROTOCOLS.includes(name as ProtocolName)) throw new TypeError(`${where}: unknown protocol ${JSON.stringify(name)} (expected ${PROTOCOLS.map((p) => `'${p}'`).join(', ')})`);
  return name as ProtocolName;
}

export const isExact = (name: ProtocolName): boolean => PROTOCOL_TRAITS[name].exact;
