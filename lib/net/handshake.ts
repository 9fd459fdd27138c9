// Who may open a connection. With TLS material, servers prove their party name with a
// certificate the cluster trusts (mutual TLS: from the cluster CA, or matching its pin in
// cluster.json, or both; peer_trust.ts) and clients connect over TLS; without it, plain ws
// is accepted only from loopback unless `insecure`, and a server link must also present the
// cluster secret (anyone on the host could otherwise claim `x-tfe-party: server0` and replace the
// real link). Clients never need the secret: what a client may do is bounded elsewhere.
// Browsers cannot set headers: a browser client offers the 'tfe-client' subprotocol instead, and
// always sends an Origin, which must be in the allow-list (none by default), so a page the
// operator did not list cannot use its visitors' browsers as clients. A server link never comes
// from a browser: one with an Origin is refused, whatever else it presents.
import { createHash, timingSafeEqual } from 'node:crypto';
import type * as http from 'node:http';
import type { PeerCertificate, TLSSocket } from 'node:tls';

import { COMPUTE_VERSION, computeMismatch } from '../compute_version';
import type { PartyName } from './transport';
import type { TrustAnchors } from './peer_trust';
import { sanitizeForLog } from './sanitize';
import type { Log } from '../log';

/**
 * PEM material: the cluster CA and/or the pinned fingerprints (peer_trust.ts), and this party's
 * certificate and key (CN = party name). The object may change in place (a certificate rotated
 * without restart): its owner then calls the functions given to `subscribe`, so the listener
 * serves the new certificate to new connections (links already up keep theirs) and the next dial
 * presents it.
 */
export interface TlsMaterial extends TrustAnchors {
  cert?: string | Buffer;
  key?: string | Buffer;
  /** Registers a function to call after the material changed in place; returns its removal. */
  subscribe?: (changed: () => void) => () => void;
  /** Where a dial refused for the peer's identity is reported (the accepting side logs its own refusals). */
  log?: Log;
}

export const PARTY_HEADER = 'x-tfe-party';
export const CLIENT_HEADER = 'x-tfe-client';
export const SECRET_HEADER = 'x-tfe-cluster-secret';
/** A server link's compute version (lib/compute_version.ts): sent by the dialing server, answered by the accepting one. */
export const COMPUTE_HEADER = 'x-tfe-compute';
/** The WebSocket subprotocol by which a browser says it is a client (it cannot send CLIENT_HEADER). */
export const CLIENT_PROTOCOL = 'tfe-client';

/** An address as listeners see it, IPv4 peers of a dual-stack socket (::ffff:a.b.c.d) as a.b.c.d. */
export function plainAddress(a: string | undefined): string {
  return (a ?? '').replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/, '');
}

/**
 * The group a client's address counts in for the per-address bounds: an IPv4 address itself, an
 * IPv6 address its /64 ("2001:db8:0:1::/64"), the block one host or home network is given, so a
 * host cannot take more by using more of its own addresses. Counted alone (the whole address),
 * where a /64 is shared by unrelated clients: an IPv4 address carried in IPv6 (mapped, or
 * translated: NAT64's 64:ff9b::/96 and 64:ff9b:1::/48, whose /64 is the translator's, as Node
 * prints them: 64:ff9b::102:304), link-local fe80::/10 (every host on a link), Teredo 2001::/32
 * (every client of one relay).
 */
export function addressGroup(a: string | undefined): string {
  const plain = plainAddress(a).replace(/%.*$/, ''); // an interface's zone (fe80::1%eth0) is not the host's
  if (!plain.includes(':') || plain.includes('.')) return plain;
  const [head, tail] = plain.includes('::') ? plain.split('::') : [plain, undefined];
  const front = head ? head.split(':') : [];
  const back = tail ? tail.split(':') : [];
  const words = tail === undefined ? front : [...front, ...Array<string>(Math.max(0, 8 - front.length - back.length)).fill('0'), ...back];
  if (words.length !== 8 || words.some((w) => !/^[0-9a-fA-F]{1,4}$/.test(w))) return plain; // not an IPv6 address we parse: counted alone
  const w = words.map((x) => parseInt(x, 16));
  const alone = (w[0] === 0x64 && w[1] === 0xff9b && (w.slice(2, 6).every((x) => x === 0) || w[2] === 1)) || (w[0] & 0xffc0) === 0xfe80 || (w[0] === 0x2001 && w[1] === 0);
  return alone ? w.map((x) => x.toString(16)).join(':') : `${w.slice(0, 4).map((x) => x.toString(16)).join(':')}::/64`;
}

export function isLoopback(addr: string | undefined): boolean {
  return !!addr && (addr === '::1' || addr.startsWith('127.') || addr.startsWith('::ffff:127.'));
}

export function commonName(cert: PeerCertificate | undefined): string | undefined {
  const cn = cert?.subject?.CN;
  return Array.isArray(cn) ? cn[0] : cn;
}

/** The header value a server link sends: the secret's bytes, base64url (header-safe). */
export function secretHeader(secret: Buffer | string): string {
  return Buffer.from(secret).toString('base64url');
}

/** Constant-time comparison of a received header with the expected secret (hashed to equal lengths first). */
export function secretMatches(secret: Buffer | string, got: unknown): boolean {
  if (typeof got !== 'string') return false;
  const want = createHash('sha256').update(secretHeader(secret)).digest();
  return timingSafeEqual(want, createHash('sha256').update(got).digest());
}

export interface HandshakePolicy {
  me: PartyName;
  tls: boolean;
  insecure: boolean;
  /** Parties allowed to dial this one (those whose name sorts before it). */
  peers: ReadonlySet<PartyName>;
  clusterSecret?: Buffer | string;
  /** Origins (scheme://host[:port]) whose pages may connect as clients; '*' any. Default: none. */
  allowedOrigins?: readonly string[];
}

/** Whether a browser page from `origin` may connect. */
export function originAllowed(origin: string, allowed: readonly string[] = []): boolean {
  return allowed.includes('*') || allowed.includes(origin);
}

function offersClientProtocol(req: http.IncomingMessage): boolean {
  const offered = req.headers['sec-websocket-protocol'];
  return typeof offered === 'string' && offered.split(',').some((p) => p.trim() === CLIENT_PROTOCOL);
}

/** Why an upgrade request must be refused (undefined: accept); the text goes to the log and the peer. */
export function handshakeRefusal(req: http.IncomingMessage, p: HandshakePolicy): string | undefined {
  const addr = req.socket.remoteAddress;
  const party = req.headers[PARTY_HEADER];
  const client = req.headers[CLIENT_HEADER];
  if (!p.tls && !p.insecure && !isLoopback(addr)) return 'plain ws only on loopback (use TLS, or --insecure)';
  const origin = req.headers.origin;
  if (origin !== undefined) {
    const o = sanitizeForLog(origin, 100);
    if (typeof party === 'string') return `a browser page (origin ${o}) cannot connect as a server`;
    if (!originAllowed(origin, p.allowedOrigins)) return `origin ${o} is not allowed (allowedOrigins in cluster.json)`;
  }
  if (typeof party === 'string') {
    const name = sanitizeForLog(party, 40);
    if (!p.peers.has(party) || party >= p.me) return `unknown party '${name}' (not a peer that dials ${p.me})`;
    if (p.tls) {
      const s = req.socket as TLSSocket;
      // The listener judged the certificate (CA and/or pin) when the TLS connection was made.
      if (!s.authorized) return `party '${name}' has no valid certificate: ${sanitizeForLog(String(s.authorizationError ?? 'none sent'), 300)}`;
      const cn = commonName(s.getPeerCertificate());
      if (cn !== party) return `party '${name}' presented a certificate for '${sanitizeForLog(cn, 40)}'`;
    } else if (p.clusterSecret !== undefined) {
      const got = req.headers[SECRET_HEADER];
      if (got === undefined) return `party '${name}' sent no cluster secret (${SECRET_HEADER}); plain-ws server links need it`;
      if (!secretMatches(p.clusterSecret, got)) return `party '${name}' sent a wrong cluster secret`;
    }
    const v = req.headers[COMPUTE_HEADER];
    if (v !== String(COMPUTE_VERSION)) return computeMismatch(`party '${name}'`, typeof v === 'string' ? sanitizeForLog(v, 20) : undefined);
    return undefined;
  }
  if (typeof client === 'string' || offersClientProtocol(req)) return undefined;
  return `no ${PARTY_HEADER} or ${CLIENT_HEADER} header (or '${CLIENT_PROTOCOL}' subprotocol)`;
}
