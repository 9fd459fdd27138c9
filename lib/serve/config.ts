// The cluster config file: where each server listens, its TLS material, and service limits.
// Validated field by field so a typo names the field and the file, not a crash at first use.
import * as fs from 'node:fs';
import * as path from 'node:path';

import type { DeviceOption } from '../backend/backends';
import { DEFAULT_LIMITS, LIMIT_RANGES, type ServiceLimits } from './limits';

import { SERVERS } from '../protocol/party';

export interface PartyConfig {
  host: string;
  port: number;
  /** PEM certificate (CN = party name) and key, paths relative to the config file. */
  cert?: string;
  key?: string;
}

export interface ClusterConfig extends ServiceLimits {
  parties: Record<'server0' | 'server1' | 'server2', PartyConfig>;
  /** The cluster CA (PEM). With it, servers use mutual TLS and clients TLS; without, plain ws. */
  ca?: string;
  /** The model owner's client certificate (deploy is refused to anyone else under TLS). */
  owner?: { cert: string; key: string };
  /** Where each server persists its shares: <dataDir>/<party>/. */
  dataDir: string;
  /** Plain ws from non-loopback peers (never for production). */
  insecure: boolean;
  fracBits: number;
  /** A query still running after this long is aborted. */
  queryTimeoutMs: number;
  /** Batch-1 queries per model whose server2 side is precomputed ahead (0: none). */
  precomputePool: number;
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
  /** Connection-level bounds of each server's endpoint (lib/net/limits.ts); absent: its defaults. */
  net: NetLimits;
  /** The directory the file was read from; relative paths resolve against it. */
  baseDir: string;
}

/** The endpoint bounds an operator may set in cluster.json, with their accepted ranges. */
export interface NetLimits {
  maxConnections?: number;
  maxClientConnections?: number;
  maxPendingBytesPerClient?: number;
  handshakeTimeoutMs?: number;
  heartbeatMs?: number;
  /** A client silent this long is closed; always above queryTimeoutMs (a query sends nothing to its client while it runs). */
  clientIdleMs: number;
}

const NET_RANGES: Record<keyof NetLimits, [number, number]> = {
  maxConnections: [2, 1_000_000],
  maxClientConnections: [1, 1_000_000],
  maxPendingBytesPerClient: [1 << 16, 2 ** 40],
  handshakeTimeoutMs: [100, 600_000],
  heartbeatMs: [100, 600_000],
  clientIdleMs: [1000, 86_400_000 * 2],
};
const NET_FIELDS = Object.keys(NET_RANGES) as (keyof NetLimits)[];

const DEFAULTS = { dataDir: 'data', insecure: false, fracBits: 16, queryTimeoutMs: 120_000, precomputePool: 8, ...DEFAULT_LIMITS };
const LIMIT_FIELDS = Object.keys(DEFAULT_LIMITS) as (keyof ServiceLimits)[];

function fail(file: string, msg: string): never {
  throw new Error(`cluster config ${file}: ${msg}`);
}

/** Validates a parsed config object; `file` and `baseDir` are for messages and relative paths. */
export function parseClusterConfig(raw: unknown, file = '<inline>', baseDir = process.cwd()): ClusterConfig {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) fail(file, 'must be a JSON object');
  const o = raw as Record<string, unknown>;
  const known = new Set(['parties', 'ca', 'owner', 'dataDir', 'insecure', 'fracBits', 'queryTimeoutMs', 'precomputePool', 'device', 'allowedOrigins', 'clusterSecret', ...LIMIT_FIELDS, ...NET_FIELDS]);
  for (const k of Object.keys(o)) if (!known.has(k)) fail(file, `unknown field '${k}' (known: ${[...known].join(', ')})`);
  const parties = o.parties as Record<string, unknown> | undefined;
  if (!parties || typeof parties !== 'object') fail(file, "'parties' must name server0, server1 and server2");
  for (const k of Object.keys(parties)) if (!SERVERS.includes(k)) fail(file, `unknown party '${k}' in 'parties' (expected ${SERVERS.join(', ')})`);
  const out: Record<string, PartyConfig> = {};
  for (const s of SERVERS) {
    const p = parties[s] as Record<string, unknown> | undefined;
    if (!p || typeof p !== 'object') fail(file, `parties.${s} is missing`);
    if (typeof p.host !== 'string' || !p.host) fail(file, `parties.${s}.host must be a host name or address`);
    if (!Number.isInteger(p.port) || (p.port as number) < 0 || (p.port as number) > 65535) fail(file, `parties.${s}.port must be an integer in [0, 65535], got ${JSON.stringify(p.port)}`);
    if ((p.cert === undefined) !== (p.key === undefined)) fail(file, `parties.${s} needs both cert and key, or neither`);
    for (const f of ['cert', 'key'] as const) if (p[f] !== undefined && typeof p[f] !== 'string') fail(file, `parties.${s}.${f} must be a path`);
    out[s] = { host: p.host, port: p.port as number, cert: p.cert as string | undefined, key: p.key as string | undefined };
  }
  if (o.ca !== undefined && typeof o.ca !== 'string') fail(file, "'ca' must be a path to the cluster CA certificate");
  if (o.ca !== undefined) for (const s of SERVERS) if (!out[s].cert) fail(file, `with a CA, parties.${s} needs a cert and key (mutual TLS)`);
  if (o.ca === undefined) for (const s of SERVERS) if (out[s].cert) fail(file, `parties.${s} has a certificate but there is no 'ca' to verify peers with`);
  const owner = o.owner as Record<string, unknown> | undefined;
  if (owner !== undefined && (typeof owner !== 'object' || typeof owner.cert !== 'string' || typeof owner.key !== 'string')) fail(file, "'owner' must be { cert, key } paths");
  const num = (k: keyof typeof DEFAULTS, lo: number, hi: number): number => {
    const v = o[k] ?? DEFAULTS[k];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi) fail(file, `'${k}' must be an integer in [${lo}, ${hi}], got ${JSON.stringify(v)}`);
    return v;
  };
  if (o.insecure !== undefined && typeof o.insecure !== 'boolean') fail(file, "'insecure' must be true or false");
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
  if (net.clientIdleMs <= queryTimeoutMs) fail(file, `'clientIdleMs' (${net.clientIdleMs}) must exceed 'queryTimeoutMs' (${queryTimeoutMs}): a client waiting for a long query hears nothing meanwhile`);
  if (limits.maxQueryBytes > limits.maxTotalQueryBytes) fail(file, `'maxQueryBytes' (${limits.maxQueryBytes}) must not exceed 'maxTotalQueryBytes' (${limits.maxTotalQueryBytes})`);
  if (limits.maxSessionsPerClient > limits.maxSessions) fail(file, `'maxSessionsPerClient' (${limits.maxSessionsPerClient}) must not exceed 'maxSessions' (${limits.maxSessions})`);
  return {
    ...limits,
    parties: out as ClusterConfig['parties'],
    ca: o.ca as string | undefined,
    owner: owner as ClusterConfig['owner'],
    dataDir: (o.dataDir as string | undefined) ?? DEFAULTS.dataDir,
    insecure: (o.insecure as boolean | undefined) ?? DEFAULTS.insecure,
    fracBits: num('fracBits', 1, 30),
    queryTimeoutMs,
    precomputePool: num('precomputePool', 0, 1024),
    device: (o.device as DeviceOption | undefined) ?? 'auto',
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
  return parseClusterConfig(raw, file, path.dirname(path.resolve(file)));
}

/** Resolves a path from the config against the config file's directory. */
export function configPath(c: ClusterConfig, p: string): string {
  return path.resolve(c.baseDir, p);
}

/** Reads a PEM file named by the config; errors name the field's file. */
export function readPem(c: ClusterConfig, p: string, what: string): Buffer {
  try {
    return fs.readFileSync(configPath(c, p));
  } catch (e) {
    throw new Error(`cluster config: cannot read ${what} ${p}: ${(e as Error).message}`);
  }
}
