// Opening one connection to a peer. Servers dial each other as parties (`x-tfe-party`, plus the
// cluster secret on plain ws); clients dial as clients. A refusal comes back with the reason the
// peer gave (e.g. the limit that was hit), not just its HTTP status.
import type { PeerCertificate } from 'node:tls';

import WebSocket from 'ws';

import { CLIENT_HEADER, commonName, PARTY_HEADER, SECRET_HEADER, secretHeader, type TlsMaterial } from './handshake';
import { sanitizeForLog } from './sanitize';
import type { PartyName } from './transport';
import { MAX_FRAME_BYTES } from './wire';

export interface PeerAddress {
  name: PartyName;
  host: string;
  port: number;
}

const ZERO_MASK = (mask: Buffer) => mask.fill(0); // server-to-server: masking only costs (ws skips all-zero masks)

export interface DialOptions {
  me: PartyName;
  asClient: boolean;
  tls?: TlsMaterial;
  clusterSecret?: Buffer | string;
  handshakeTimeoutMs: number;
}

/** Dials once; rejects with an Error carrying the HTTP `status` when the peer refused. */
export function dialOnce(peer: PeerAddress, o: DialOptions): Promise<WebSocket> {
  const { tls, clusterSecret, asClient } = o;
  const headers: Record<string, string> = asClient ? { [CLIENT_HEADER]: o.me } : { [PARTY_HEADER]: o.me };
  if (!asClient && !tls && clusterSecret !== undefined) headers[SECRET_HEADER] = secretHeader(clusterSecret);
  return new Promise<WebSocket>((resolve, reject) => {
    const s = new WebSocket(`${tls ? 'wss' : 'ws'}://${peer.host}:${peer.port}`, {
      headers,
      perMessageDeflate: false,
      maxPayload: MAX_FRAME_BYTES,
      handshakeTimeout: o.handshakeTimeoutMs,
      generateMask: asClient ? undefined : ZERO_MASK,
      ...(tls
        ? {
            ca: tls.ca,
            cert: tls.cert,
            key: tls.key,
            // Identity is the party name in the certificate (from the cluster CA), not the host.
            checkServerIdentity: (_host: string, cert: PeerCertificate) =>
              commonName(cert) === peer.name ? undefined : new Error(`${peer.name} presented a certificate for '${sanitizeForLog(commonName(cert), 40)}'`),
          }
        : {}),
    });
    s.once('open', () => resolve(s));
    s.once('unexpected-response', (_req, res) => {
      // The refusal's reason is in the body (e.g. which limit was hit): say it.
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body = (body + c).slice(0, 512)));
      const done = () => {
        reject(Object.assign(new Error(`refused by ${peer.name}: ${res.statusCode} ${sanitizeForLog(body.trim() || res.statusMessage || '')}`.trim()), { status: res.statusCode }));
        s.terminate();
      };
      res.once('end', done);
      res.once('close', done);
      res.once('error', done);
    });
    s.once('error', reject);
  });
}
