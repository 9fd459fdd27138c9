// The cluster config file: where each server listens, its TLS material, and service limits.
// Validated field by field so a typo names the field and the file, not a crash at first use.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as net from 'node:net';

import type { DeviceOption } from '../backend/backends';
import { normalizeFingerprint } from '../net/peer_trust';
import { DEFAULT_LIMITS, LIMIT_RANGES, type ServiceLimits } from './limits';
import { type OpsConfig, parseOpsConfig } from './ops_config';
import { LINK_DISTANCES, type LinkDistance } from './gate_form';

import { MAX_SESSIONS } from '../protocol/cluster';
import { SERVERS } from '../protocol/party';

export interface PartyConfig {
  /** Where the others reach this party (a host name or address its certificate covers). */
  host: string;
  port: number;
  /** The address this party binds (default: host); e.g. 0.0.0.0 behind NAT, where `host` is not an interface's. */
  listen?: string;
  /**
   * PEM certificate (CN = party name) and key, paths relative to the config file. On a real
   * deployment only the host that runs the party has them; a server needs its own under TLS.
   */
  cert?: string;
  key?: string;
  /** Pinned SHA-256 fingerprints of the party's certificate (normalized hex; more than one while rotating). */
  fingerprint?: string[];
  /**
   * Under TLS, the port this server accepts its links' lanes on (lib/net/lane.ts; default 0: any
   * free port, which its links' upgrades announce). Set it where a firewall must let it through.
   */
  lanePort?: number;
}

/** The model owner: its certificate and key (on the owner's host) and/or its pinned fingerprints. */
export interface OwnerConfig {
  cert?: string;
  key?: string;
  fingerprint?: string[];
}

/** `log` (format) and `metrics` (where each server's /metrics and /healthz listen): ops_config.ts. */
export interface ClusterConfig extends ServiceLimits, OpsConfig {
  parties: Record<'server0' | 'server1' | 'server2', PartyConfig>;
  /**
   * The cluster CA (PEM). With it or with pinned fingerprints (parties.<s>.fingerprint), servers
   * use mutual TLS and clients TLS; with neither, plain ws. See usesTls() and docs/operators.md.
   */
  ca?: string;
  /** The model owner's client certificate (deploy is refused to anyone else under TLS) and/or its pin. */
  owner?: OwnerConfig;
  /** Where each server persists its shares: <dataDir>/<party>/. */
  dataDir: string;
  /** Plain ws from non-loopback peers (never for production). */
  insecure: boolean;
  fracBits: number;
  /** A query still running after this long is aborted. */
  queryTimeoutMs: number;
  /**
   * A prediction whose input has not come this long after the server was ready to take it is
   * aborted, its memory and session freed (at most queryTimeoutMs): a request without an input
   * held both for the whole queryTimeoutMs. Raise it for large inputs over slow links.
   */
  inputTimeoutMs: number;
  /** Batch-1 queries per model whose server2 side is precomputed ahead (0: none). */
  precomputePool: number;
  /** How long a session-index lease a client took ahead stays valid unused (leases.ts; 0: no leases). */
  leaseTtlMs: number;
  /** Session indices one setup hands out (each query takes one or two); server0 renews the setup before they run out (epoch_setup.ts). */
  sessionsPerSetup: number;
  /** Where each server computes: 'auto' (a GPU when one is usable), 'cpu' or 'cuda'. TFE_DEVICE overrides. */
  device: DeviceOption;
  /** Origins (scheme://host[:port]) of web pages allowed to connect as clients; '*' any; default none (docs/browser.md). */
  allowedOrigins: string[];
  /**
   * Plain ws only: a file (0600) holding the secret server links present to each other, so a
   * local process cannot pose as a server by its header alone. `tfe cluster --local --plain`
   * writes one. Ignored under TLS, where certificates identify the servers.
   */
  clusterSecret?: string;
  /**
   * How server2 judges its links to server0 and server1 for FSS models deployed 'auto'
   * (docs/fss.md, "Under load, and over far links"): 'measured' (default: near unless a link,
   * timed 8 times or more, never took 10 ms or less; gate_form.ts nearLinks), or 'near' / 'far'
   * as the operator knows them.
   */
  linkDistance: LinkDistance;
  /**
   * Under TLS, give each server link a lane (lib/net/lane.ts: a plain TCP connection beside it,
   * its records sealed with keys from the link's TLS session) that carries its messages at a
   * fraction of the CPU; default true. Links come up without one when either end has it off.
   */
  lanes: boolean;
  /** How long one setup (seeds, every model's masks) may take before it fails and server0 retries. */
  setupTimeoutMs: number;
  /** Connection-level bounds of each server's endpoint (lib/net/limits.ts); absent: its defaults. */
  net: NetLimits;
  /** The directory the file was read from; relative paths resolve against it. */
  baseDir: string;
  /** The file it was read from (a server re-reads it to reload its TLS material). */
  file?: string;
}

/** Whether the cluster runs over TLS: a CA, pinned fingerprints, or both. */
export function usesTls(c: Pick<ClusterConfig, 'ca' | 'parties'>): boolean {
  return c.ca !== undefined || SERVERS.some((s) => c.parties[s as 'server0'].fingerprint !== undefined);
}

/** The pinned fingerprints by name (server0.., model-owner), or undefined when nothing is pinned. */
export function pinsOf(c: Pick<ClusterConfig, 'parties' | 'owner'>): Record<string, string[]> | undefined {
  const pins: Record<string, string[]> = {};
  for (const s of SERVERS) {
    const f = c.parties[s as 'server0'].fingerprint;
    if (f) pins[s] = f;
  }
  if (c.owner?.fingerprint) pins['model-owner'] = c.owner.fingerprint;
  return Object.keys(pins).length ? pins : undefined;
}

/** A fingerprint field: one fingerprint or a list (old and new while rotating); normalized hex. */
function parseFingerprints(file: string, field: string, v: unknown): string[] | undefined {
  if (v === undefined) return undefined;
  const list = typeof v === 'string' ? [v] : v;
  if (!Array.isArray(list) || list.length === 0) fail(file, `${field} must be a SHA-256 fingerprint (as \`tfe certs fingerprint\` prints it) or a list of them`);
  return list.map((x, i) => {
    const hex = typeof x === 'string' ? normalizeFingerprint(x) : undefined;
    if (!hex) fail(file, `${field}${Array.isArray(v) ? `[${i}]` : ''}: ${JSON.stringify(x)} is not a SHA-256 fingerprint (64 hex digits, colons allowed; \`tfe certs fingerprint <cert.pem>\` prints it)`);
    return hex;
  });
}

/** A host field that still holds a `tfe cluster --init` placeholder, or is not a host at all. */
function checkHost(file: string, field: string, v: unknown): string {
  if (typeof v !== 'string' || !v) fail(file, `${field} must be a host name or address`);
  if (/[<>\s/]/.test(v)) fail(file, `${field} is ${JSON.stringify(v)}: not a host name or address${v.includes('<') ? ' (fill in the placeholder)' : ''}`);
  // A colon only in an IPv6 address: "h1.example.org:7401" failed only when dialled or bound.
  if (v.includes(':')) {
    const bracketed = v.startsWith('[') && v.endsWith(']');
    if (v.includes('[') !== bracketed || v.includes(']') !== bracketed || !net.isIPv6(bracketed ? v.slice(1, -1) : v))
      fail(file, `${field} is ${JSON.stringify(v)}: a host name or address, without a port (the port goes in its own field)`);
    // Kept bare: listening and TCP take it so; a URL puts it in brackets (net/dialer.ts).
    return bracketed ? v.slice(1, -1) : v;
  }
  return v;
}

/** Fields set to null, anywhere in the object: null read as "the default" silently; refused, naming the path. */
function refuseNulls(file: string, v: unknown, at: string): void {
  if (v === null) fail(file, `'${at}' is null: remove the field for its default, or give a value`);
  if (v && typeof v === 'object') for (const [k, e] of Object.entries(v)) refuseNulls(file, e, at ? `${at}.${k}` : k);
}

/** The endpoint bounds an operator may set in cluster.json, with their accepted ranges. */
export interface NetLimits {
  maxConnections?: number;
  maxClientConnections?: number;
  maxClientConnectionsPerAddress?: number;
  maxPendingBytesPerClient?: number;
  /** Largest request a client may send (JSON, parsed as it comes): a deploy's topology included. */
  maxClientRequestBytes?: number;
  /** What one server link may make this server hold undelivered (server2's dealt material included). */
  maxPendingBytesPerServer?: number;
  handshakeTimeoutMs?: number;
  heartbeatMs?: number;
  /** A client silent this long is closed; always above queryTimeoutMs (a query sends nothing to its client while it runs). */
  clientIdleMs: number;
}

/** The accepted range of each connection-level field (docs/service.md lists them; test/docs_ranges.test.ts holds the two together). */
export const NET_RANGES: Record<keyof NetLimits, [number, number]> = {
  maxConnections: [2, 1_000_000],
  maxClientConnections: [1, 1_000_000],
  maxClientConnectionsPerAddress: [1, 1_000_000],
  maxPendingBytesPerClient: [1 << 16, 2 ** 40],
  maxClientRequestBytes: [1 << 12, 1 << 30],
  maxPendingBytesPerServer: [1 << 20, 2 ** 42],
  handshakeTimeoutMs: [100, 600_000],
  heartbeatMs: [100, 600_000],
  clientIdleMs: [1000, 86_400_000 * 2],
};
const NET_FIELDS = Object.keys(NET_RANGES) as (keyof NetLimits)[];

const DEFAULTS = { dataDir: 'data', insecure: false, fracBits: 16, queryTimeoutMs: 120_000, inputTimeoutMs: 10_000, setupTimeoutMs: 30_000, precomputePool: 8, leaseTtlMs: 30_000, sessionsPerSetup: MAX_SESSIONS, ...DEFAULT_LIMITS };
const LIMIT_FIELDS = Object.keys(DEFAULT_LIMITS) as (keyof ServiceLimits)[];

/** Fewer would renew the setup every few queries. */
const MIN_SESSIONS_PER_SETUP = 32;

/** The known name `k` most likely misspells (at most 2 edits, or a case difference), if any. */
function nearest(k: string, known: readonly string[]): string | undefined {
  const dist = (a: string, b: string): number => {
    let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
    for (let i = 1; i <= a.length; i++) {
      const cur = [i];
      for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
    return prev[b.length];
  };
  if (k.length > 64) return undefined;
  let best: string | undefined, bestD = 3;
  for (const c of known) {
    const d = c.toLowerCase() === k.toLowerCase() ? 0 : dist(k, c);
    if (d < bestD) (best = c), (bestD = d);
  }
  return best;
}

function fail(file: string, msg: string): never {
  throw new Error(`cluster config ${file}: ${msg}`);
}

/** Validates a parsed config object; `file` and `baseDir` are for messages and relative paths. */
export function parseClusterConfig(raw: unknown, file = '<inline>', baseDir = process.cwd()): ClusterConfig {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) fail(file, 'must be a JSON object');
  const o = raw as Record<string, unknown>;
  refuseNulls(file, o, '');
  const known = new Set(['parties', 'ca', 'owner', 'dataDir', 'insecure', 'fracBits', 'queryTimeoutMs', 'inputTimeoutMs', 'setupTimeoutMs', 'precomputePool', 'leaseTtlMs', 'sessionsPerSetup', 'linkDistance', 'lanes', 'device', 'allowedOrigins', 'clusterSecret', 'log', 'metrics', ...LIMIT_FIELDS, ...NET_FIELDS]);
  for (const k of Object.keys(o)) {
    if (known.has(k)) continue;
    const near = nearest(k, [...known]);
    fail(file, `unknown field '${k.slice(0, 60)}'${near ? ` (did you mean '${near}'?)` : ''} (known: ${[...known].join(', ')})`);
  }
  const parties = o.parties as Record<string, unknown> | undefined;
  if (!parties || typeof parties !== 'object') fail(file, "'parties' must name server0, server1 and server2");
  for (const k of Object.keys(parties)) if (!SERVERS.includes(k)) fail(file, `unknown party '${k}' in 'parties' (expected ${SERVERS.join(', ')})`);
  const out: Record<string, PartyConfig> = {};
  for (const s of SERVERS) {
    const p = parties[s] as Record<string, unknown> | undefined;
    if (!p || typeof p !== 'object') fail(file, `parties.${s} is missing`);
    for (const k of Object.keys(p)) if (!['host', 'port', 'listen', 'cert', 'key', 'fingerprint', 'lanePort'].includes(k)) fail(file, `unknown field parties.${s}.${k} (known: host, port, listen, cert, key, fingerprint, lanePort)`);
    const host = checkHost(file, `parties.${s}.host`, p.host);
    // Not 0: a server would listen on a random port that no peer or client could find.
    if (!Number.isInteger(p.port) || (p.port as number) < 1 || (p.port as number) > 65535) fail(file, `parties.${s}.port must be an integer in [1, 65535], got ${JSON.stringify(p.port)}`);
    if (p.lanePort !== undefined && (!Number.isInteger(p.lanePort) || (p.lanePort as number) < 1 || (p.lanePort as number) > 65535)) fail(file, `parties.${s}.lanePort must be an integer in [1, 65535], got ${JSON.stringify(p.lanePort)}`);
    // The lane listens beside the server's port: the same number failed only at start, as a port in use.
    if (p.lanePort !== undefined && p.lanePort === p.port) fail(file, `parties.${s}.lanePort is its port (${String(p.port)}): the lane needs a port of its own (or leave lanePort out: any free port)`);
    if ((p.cert === undefined) !== (p.key === undefined)) fail(file, `parties.${s} needs both cert and key, or neither`);
    for (const f of ['cert', 'key'] as const) if (p[f] !== undefined && (typeof p[f] !== 'string' || !p[f])) fail(file, `parties.${s}.${f} must be a path`);
    const listen = p.listen === undefined ? undefined : checkHost(file, `parties.${s}.listen`, p.listen);
    out[s] = { host, port: p.port as number, listen, cert: p.cert as string | undefined, key: p.key as string | undefined, fingerprint: parseFingerprints(file, `parties.${s}.fingerprint`, p.fingerprint), ...(p.lanePort !== undefined ? { lanePort: p.lanePort as number } : {}) };
  }
  if (o.ca !== undefined && (typeof o.ca !== 'string' || !o.ca)) fail(file, "'ca' must be a path to the cluster CA certificate");
  const pinned = SERVERS.filter((s) => out[s].fingerprint);
  if (pinned.length && pinned.length < 3) fail(file, `parties.${SERVERS.find((s) => !out[s].fingerprint)}.fingerprint is missing: pin all three servers or none (${pinned.join(', ')} ${pinned.length > 1 ? 'are' : 'is'} pinned)`);
  if (o.ca === undefined && !pinned.length) for (const s of SERVERS) if (out[s].cert) fail(file, `parties.${s} has a certificate but there is neither a 'ca' nor pinned fingerprints (parties.*.fingerprint) to verify peers with`);
  const owner = o.owner as Record<string, unknown> | undefined;
  if (owner !== undefined) {
    if (!owner || typeof owner !== 'object' || Array.isArray(owner)) fail(file, "'owner' must be an object: { cert, key } paths (on the owner's host) and/or a fingerprint");
    for (const k of Object.keys(owner)) if (!['cert', 'key', 'fingerprint'].includes(k)) fail(file, `unknown field owner.${k} (known: cert, key, fingerprint)`);
    if ((owner.cert === undefined) !== (owner.key === undefined)) fail(file, 'owner needs both cert and key, or neither');
    for (const f of ['cert', 'key'] as const) if (owner[f] !== undefined && (typeof owner[f] !== 'string' || !owner[f])) fail(file, `owner.${f} must be a path`);
    if (owner.cert === undefined && owner.fingerprint === undefined) fail(file, "'owner' must name a cert and key, or a fingerprint, or both");
  }
  const ownerPins = parseFingerprints(file, 'owner.fingerprint', owner?.fingerprint);
  if (ownerPins && !pinned.length) fail(file, 'owner.fingerprint is set but no server is pinned (parties.*.fingerprint): pin all or nothing');
  if (pinned.length && o.ca === undefined && !ownerPins)
    fail(file, "owner.fingerprint is missing: without a CA the servers know the model owner only by its pinned fingerprint (tfe certs fingerprint <owner cert>), so every copy of cluster.json carries it, a client's too (copy the servers')");
  const num = (k: keyof typeof DEFAULTS, lo: number, hi: number): number => {
    const v = o[k] ?? DEFAULTS[k];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi) fail(file, `'${k}' must be an integer in [${lo}, ${hi}], got ${JSON.stringify(v)}`);
    return v;
  };
  const leaseTtl = () => {
    const v = o.leaseTtlMs ?? DEFAULTS.leaseTtlMs;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1000 || v > 600_000) fail(file, `'leaseTtlMs' must be 0 (no leases) or an integer in [1000, 600000], got ${JSON.stringify(v)}`);
    return v;
  };
  if (o.insecure !== undefined && typeof o.insecure !== 'boolean') fail(file, "'insecure' must be true or false");
  if (o.lanes !== undefined && typeof o.lanes !== 'boolean') fail(file, "'lanes' must be true or false");
  if (o.dataDir !== undefined && typeof o.dataDir !== 'string') fail(file, "'dataDir' must be a path");
  if (o.device !== undefined && !['auto', 'cpu', 'cuda'].includes(o.device as string)) fail(file, `'device' must be "auto", "cpu" or "cuda", got ${JSON.stringify(o.device)}`);
  const origins = o.allowedOrigins ?? [];
  if (!Array.isArray(origins)) fail(file, "'allowedOrigins' must be a list of origins such as \"https://example.com\" (or \"*\")");
  for (const x of origins) {
    let ok = false;
    try {
      ok = typeof x === 'string' && (x === '*' || new URL(x).origin === x);
    } catch {
      // not a URL
    }
    if (!ok) fail(file, `allowedOrigins: ${JSON.stringify(x)} is not an origin (scheme://host[:port], no path or trailing slash, or "*")`);
  }
  const limits = Object.fromEntries(LIMIT_FIELDS.map((k) => [k, num(k, ...LIMIT_RANGES[k])])) as unknown as ServiceLimits;
  if (o.clusterSecret !== undefined && (typeof o.clusterSecret !== 'string' || !o.clusterSecret)) fail(file, "'clusterSecret' must be a path to the file holding the cluster secret (plain ws)");
  // Both are for plain ws; under TLS they were ignored without a word, which hid a config mix-up.
  const tlsConfig = o.ca !== undefined || pinned.length > 0;
  if (tlsConfig && o.clusterSecret !== undefined) fail(file, "'clusterSecret' is for plain ws clusters; this one uses TLS ('ca' or pinned fingerprints), whose certificates authenticate the servers: remove it");
  if (tlsConfig && o.insecure === true) fail(file, "'insecure' is for plain ws clusters; this one uses TLS ('ca' or pinned fingerprints), where it has no effect: remove it");
  const queryTimeoutMs = num('queryTimeoutMs', 100, 86_400_000);
  const net: Partial<NetLimits> = {};
  for (const k of NET_FIELDS) {
    const v = o[k];
    if (v === undefined) continue;
    const [lo, hi] = NET_RANGES[k];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi) fail(file, `'${k}' must be an integer in [${lo}, ${hi}], got ${JSON.stringify(v)}`);
    net[k] = v;
  }
  net.clientIdleMs ??= Math.max(300_000, queryTimeoutMs + 60_000);
  // A value the file left out is its default: said so, or the message names a number nobody wrote.
  const given = (k: keyof ServiceLimits) => `${limits[k]}${o[k] === undefined ? ', the default when unset' : ''}`;
  // A query's dealt material travels on one server link: a query the limits admit must not be cut
  // by that link's own bound (4 GiB unless set).
  if (limits.maxQueryBytes > (net.maxPendingBytesPerServer ?? 4 * 2 ** 30))
    fail(file, `'maxQueryBytes' (${limits.maxQueryBytes}) must not exceed 'maxPendingBytesPerServer' (${net.maxPendingBytesPerServer ?? 4 * 2 ** 30}, the default when unset): raise both`);
  // One input of the largest size the limits accept must fit what one connection may have pending
  // (a client message is its input and 64 KiB of framing): below it, such a query was cut.
  if (net.maxPendingBytesPerClient !== undefined && net.maxPendingBytesPerClient < limits.maxInputBytes + (1 << 16))
    fail(file, `'maxPendingBytesPerClient' (${net.maxPendingBytesPerClient}) must be at least 'maxInputBytes' (${given('maxInputBytes')}) plus 65536: an input the limits accept would not fit; raise it or lower maxInputBytes`);
  if (net.clientIdleMs <= queryTimeoutMs) fail(file, `'clientIdleMs' (${net.clientIdleMs}) must exceed 'queryTimeoutMs' (${queryTimeoutMs}): a client waiting for a long query hears nothing meanwhile`);
  if (limits.maxQueryBytes > limits.maxTotalQueryBytes) fail(file, `'maxQueryBytes' (${given('maxQueryBytes')}) must not exceed 'maxTotalQueryBytes' (${given('maxTotalQueryBytes')})`);
  const sessionsPerSetup = num('sessionsPerSetup', MIN_SESSIONS_PER_SETUP, MAX_SESSIONS);
  // A setup reserves up to maxPoolRecordings indices for its pool as it starts: with too few in
  // all it would be low again at once, and renewed every few queries.
  if (sessionsPerSetup < 4 * limits.maxPoolRecordings)
    fail(file, `'sessionsPerSetup' (${sessionsPerSetup}) must be at least 4 x 'maxPoolRecordings' (${limits.maxPoolRecordings}): a setup's pool reservations alone would spend much of its session indices`);
  if (limits.maxSessionsPerClient > limits.maxSessions) fail(file, `'maxSessionsPerClient' (${given('maxSessionsPerClient')}) must not exceed 'maxSessions' (${given('maxSessions')})`);
  const ops = parseOpsConfig(o, (msg) => fail(file, msg));
  const linkDistance = (): LinkDistance => {
    const v = o.linkDistance ?? 'measured';
    if (!LINK_DISTANCES.includes(v as LinkDistance)) fail(file, `'linkDistance' must be one of ${LINK_DISTANCES.map((d) => `"${d}"`).join(', ')}, got ${JSON.stringify(v)}`);
    return v as LinkDistance;
  };
  return {
    ...limits,
    ...ops,
    parties: out as ClusterConfig['parties'],
    ca: o.ca as string | undefined,
    owner: owner === undefined ? undefined : { cert: owner.cert as string | undefined, key: owner.key as string | undefined, fingerprint: ownerPins },
    dataDir: (o.dataDir as string | undefined) ?? DEFAULTS.dataDir,
    insecure: (o.insecure as boolean | undefined) ?? DEFAULTS.insecure,
    fracBits: num('fracBits', 1, 30),
    queryTimeoutMs,
    inputTimeoutMs: Math.min(num('inputTimeoutMs', 100, 86_400_000), queryTimeoutMs),
    setupTimeoutMs: num('setupTimeoutMs', 100, 600_000),
    precomputePool: num('precomputePool', 0, 1024),
    leaseTtlMs: o.leaseTtlMs === 0 ? 0 : leaseTtl(),
    sessionsPerSetup,
    device: (o.device as DeviceOption | undefined) ?? 'auto',
    linkDistance: linkDistance(),
    lanes: (o.lanes as boolean | undefined) ?? true,
    allowedOrigins: origins as string[],
    clusterSecret: o.clusterSecret as string | undefined,
    net: net as NetLimits,
    baseDir,
  };
}

export function loadClusterConfig(file: string): ClusterConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`cluster config ${file}: ${(e as Error).message}`);
  }
  return { ...parseClusterConfig(raw, file, path.dirname(path.resolve(file))), file: path.resolve(file) };
}

/** Resolves a path from the config against the config file's directory. */
export function configPath(c: ClusterConfig, p: string): string {
  return path.resolve(c.baseDir, p);
}

/** Reads a PEM file named by the config; errors name the field's file. */
export function readPem(c: ClusterConfig, p: string | undefined, what: string): Buffer {
  if (p === undefined) throw new Error(`cluster config ${c.file ?? ''}: no ${what} is configured`.replace('  ', ' '));
  try {
    return fs.readFileSync(configPath(c, p));
  } catch (e) {
    throw new Error(`cluster config: cannot read ${what} ${p}: ${(e as Error).message}`);
  }
}
