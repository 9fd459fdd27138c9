// Whom a TLS peer is, and whether it is trusted. Two ways to vouch for a certificate, usable
// together:
//  - a cluster CA (`ca`): the certificate chains to it, and its CN is the party name;
//  - pins (`pins`): the certificate's SHA-256 fingerprint is one of those listed for the name in
//    its CN (cluster.json parties.<s>.fingerprint, owner.fingerprint). With pins and no CA, no
//    single authority can mint an identity: each party's certificate is accepted only by its
//    hash, which the other operators wrote into their own cluster.json. The certificate's dates
//    are checked too (with a CA, OpenSSL checks them).
// With both, both must hold. The accepting side (listener.ts) judges every TLS connection as it
// is made and records the verdict on the socket (`authorized`, `authorizationError`), so the
// handshake rules (handshake.ts) and the endpoint read one verdict; the dialing side
// (dialer.ts) judges the peer right after the TLS handshake, before any WebSocket traffic.
import { createHash } from 'node:crypto';
import type { PeerCertificate, TLSSocket } from 'node:tls';

import { sanitizeForLog } from './sanitize';

/** A SHA-256 fingerprint as 64 lower-case hex digits (colons, a 'sha256' prefix and case are ignored); undefined if it is not one. */
export function normalizeFingerprint(s: string): string | undefined {
  const hex = s.trim().replace(/^sha-?256(\s*fingerprint)?\s*[:=]?\s*/i, '').replace(/:/g, '').toLowerCase();
  return /^[0-9a-f]{64}$/.test(hex) ? hex : undefined;
}

/** The form fingerprints are shown in (and written to cluster.json): upper-case hex pairs with colons, as `openssl x509 -fingerprint -sha256` prints them. */
export function showFingerprint(hex: string): string {
  return hex.toUpperCase().match(/../g)!.join(':');
}

/** The SHA-256 fingerprint of a DER certificate. */
export function fingerprintOfDer(der: Buffer): string {
  return createHash('sha256').update(der).digest('hex');
}

/** The cluster.json field that pins `name` (for messages). */
export function pinField(name: string): string {
  return name === 'model-owner' ? 'owner.fingerprint' : `parties.${name}.fingerprint`;
}

export interface TrustAnchors {
  /** The cluster CA (PEM); absent: pins alone decide. */
  ca?: string | Buffer;
  /** Accepted fingerprints (normalized hex) per name (server0, server1, server2, model-owner). */
  pins?: Readonly<Record<string, readonly string[]>>;
}

export interface Verdict {
  /** The name the certificate proves (its CN), when trusted. */
  name?: string;
  /** Why it is not trusted (for the log and the peer); undefined when trusted. */
  why?: string;
  fingerprint?: string;
}

function commonNameOf(cert: PeerCertificate): string | undefined {
  const cn = cert.subject?.CN;
  return Array.isArray(cn) ? cn[0] : cn;
}

/**
 * Judges a peer's certificate. `chainOk`/`chainError`: OpenSSL's verdict on the chain (against
 * `ca` when there is one). A peer that sent no certificate is not trusted (a prediction client
 * need not be: the caller decides what an untrusted peer may do).
 */
export function judgeCertificate(t: TrustAnchors, cert: PeerCertificate | undefined, chainOk: boolean, chainError?: string | Error | null, now = Date.now()): Verdict {
  if (!cert || !cert.raw) return { why: 'no certificate was presented' };
  const name = commonNameOf(cert);
  const shown = sanitizeForLog(name ?? '(no CN)', 40);
  const fingerprint = fingerprintOfDer(cert.raw);
  if (t.ca && !chainOk) {
    const err = chainError instanceof Error ? chainError.message : chainError;
    return { fingerprint, why: `the certificate for '${shown}' is not from the cluster CA (${sanitizeForLog(err ?? 'unverified', 80)})` };
  }
  if (!name) return { fingerprint, why: 'the certificate has no CN (the party name)' };
  const pins = t.pins?.[name];
  if (pins) {
    if (!pins.includes(fingerprint)) return { fingerprint, why: `the certificate for '${shown}' (sha256 ${showFingerprint(fingerprint)}) does not match the pin for it (${pinField(name)} in cluster.json)` };
  } else if (!t.ca) {
    return { fingerprint, why: `no pin for '${shown}' in cluster.json (${pinField(name)}) and no CA to vouch for it` };
  }
  if (!t.ca) {
    // OpenSSL checked the dates along with the chain; with pins alone, check them here.
    const from = Date.parse(cert.valid_from), to = Date.parse(cert.valid_to);
    if (!(now >= from)) return { fingerprint, why: `the certificate for '${shown}' is not valid before ${cert.valid_from}` };
    if (!(now <= to)) return { fingerprint, why: `the certificate for '${shown}' expired on ${cert.valid_to}` };
  }
  return { name, fingerprint };
}

/** Judges the peer of a TLS socket whose chain OpenSSL has checked (without rejecting). */
export function judgeSocket(t: TrustAnchors, s: TLSSocket): Verdict {
  let cert: PeerCertificate | undefined;
  try {
    cert = s.getPeerCertificate();
  } catch {
    cert = undefined;
  }
  return judgeCertificate(t, cert, s.authorized, s.authorizationError);
}
