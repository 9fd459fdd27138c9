// What `new Cluster(opts)` refuses before it builds anything: an option it does not know (a typo,
// or cluster.json's spelling: fracBits sits in fixedPoint here) and an option of a protocol other
// than the cluster's (fssGate on a SecureNN cluster would otherwise do nothing, silently).
import type { ClusterOptions } from './cluster';
import type { FixedPointConfig } from './party';
import { OPTION_SPECS } from './protocol_options';
import { DEFAULT_PROTOCOL, type ProtocolName } from './protocols';

/** Every ClusterOptions field: an object over its keys, so a field added there fails to compile until listed. */
const KNOWN: Record<keyof ClusterOptions, true> = {
  players: true,
  fixedPoint: true,
  provider: true,
  precompute: true,
  protocol: true,
  fssGate: true,
  fssCompactFrom: true,
  fssBits: true,
  securennDrelu: true,
  transport: true,
  hosted: true,
  device: true,
};

const FIXED_POINT: Record<keyof FixedPointConfig, true> = { fracBits: true, truncation: true };

/** Options that are neither protocol options (OPTION_SPECS) nor general, with the protocol each belongs to. */
const TUNING: Partial<Record<keyof ClusterOptions, ProtocolName>> = { fssCompactFrom: 'fss', securennDrelu: 'securenn' };

/** Where a field of cluster.json or a common misspelling belongs in ClusterOptions. */
const HINTS: Record<string, string> = {
  fracBits: 'fixedPoint: { fracBits }',
  truncation: 'fixedPoint: { truncation }',
};

export function checkClusterOptions(opts: ClusterOptions): void {
  if (opts === null || typeof opts !== 'object' || Array.isArray(opts)) throw new TypeError(`Cluster: options must be an object, got ${opts === null ? 'null' : Array.isArray(opts) ? 'an array' : typeof opts}`);
  for (const key of Object.keys(opts)) {
    if (!(key in KNOWN)) throw new TypeError(`Cluster: unknown option '${key}'${HINTS[key] ? ` (did you mean ${HINTS[key]}?)` : ''}; the options are ${Object.keys(KNOWN).join(', ')}`);
  }
  const fixed = opts.fixedPoint as Record<string, unknown> | undefined;
  if (fixed !== undefined) {
    if (fixed === null || typeof fixed !== 'object' || Array.isArray(fixed)) throw new TypeError('Cluster: fixedPoint must be an object such as { fracBits: 16 }');
    for (const key of Object.keys(fixed)) if (!(key in FIXED_POINT)) throw new TypeError(`Cluster: unknown fixedPoint option '${key}'; the options are ${Object.keys(FIXED_POINT).join(', ')}`);
  }
  const protocol = opts.protocol ?? DEFAULT_PROTOCOL;
  const owners: [string, ProtocolName][] = [...OPTION_SPECS.map((s): [string, ProtocolName] => [s.name, s.protocol]), ...(Object.entries(TUNING) as [string, ProtocolName][])];
  for (const [name, owner] of owners)
    if ((opts as Record<string, unknown>)[name] !== undefined && owner !== protocol)
      throw new TypeError(`Cluster: ${name} is an option of the ${owner} protocol, and this cluster runs ${protocol}${opts.protocol === undefined ? ' (the default)' : ''}: it would have no effect`);
}
