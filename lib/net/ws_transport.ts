// The Transport interface over WebSockets. Protocol code is unchanged: it sees the same send and
// recv, and the base class counts bytes and rounds exactly as for the in-memory transport.
// One process may host several parties' endpoints (tests, `tfe.localWebSocketCluster`), or just one.
import { randomBytes } from 'node:crypto';

import { type PartyName, type Payload, type Received, Transport } from './transport';
import { type PeerAddress, WsEndpoint, type WsEndpointOptions } from './ws_endpoint';

export class WebSocketTransport extends Transport {
  readonly session: string;
  #endpoints: Map<PartyName, WsEndpoint>;
  #aliases: ReadonlyMap<PartyName, string>;

  /**
   * `aliases` maps a party name to the endpoint's name for that connection: a server calls its
   * client 'client' in the protocol, while its endpoint knows the connection as 'client#7'.
   */
  constructor(parties: readonly PartyName[], endpoints: Map<PartyName, WsEndpoint>, session = 'default', aliases: ReadonlyMap<PartyName, string> = new Map()) {
    super(parties);
    this.#endpoints = endpoints;
    this.session = session;
    this.#aliases = aliases;
  }

  #local(name: PartyName, what: string): WsEndpoint {
    const e = this.#endpoints.get(name);
    if (!e) throw new Error(`${what} '${name}' is not hosted by this process`);
    return e;
  }

  /**
   * The endpoint session the messages between `a` and `b` travel in: this transport's session,
   * unless a subclass routes some pairs elsewhere (the service sends server2's dealt material for
   * a pooled query ahead of time, in a session of its own).
   */
  protected sessionFor(_a: PartyName, _b: PartyName): string {
    return this.session;
  }

  override freesSent(from: PartyName): boolean {
    return this.#endpoints.get(from)?.releasesSent ?? false;
  }

  protected deliver(from: PartyName, to: PartyName, key: string, payload: Payload): Promise<void> {
    return this.#local(from, 'sender').send(this.#aliases.get(to) ?? to, this.sessionFor(from, to), key, payload, { work: true });
  }

  protected receive(to: PartyName, from: PartyName, key: string): Promise<Received> {
    return this.#local(to, 'receiver').recv(this.#aliases.get(from) ?? from, this.sessionFor(to, from), key);
  }

  async close(): Promise<void> {
    await Promise.all([...this.#endpoints.values()].map((e) => e.close()));
  }

  /**
   * Starts an endpoint for every party on loopback and connects them all: every party runs in
   * this process but every message crosses a real WebSocket.
   */
  static async loopback(parties: readonly PartyName[], opts: Omit<WsEndpointOptions, 'me'> = {}): Promise<WebSocketTransport> {
    // Every endpoint is in this process: a fresh secret costs nothing and keeps other local
    // processes from joining as a party.
    const clusterSecret = opts.clusterSecret ?? randomBytes(32);
    const endpoints = new Map(parties.map((p) => [p, new WsEndpoint({ ...opts, clusterSecret, me: p })]));
    await Promise.all([...endpoints.values()].map((e) => e.start(parties.filter((p) => p !== e.me))));
    const addr = (p: PartyName): PeerAddress => ({ name: p, host: opts.host ?? '127.0.0.1', port: endpoints.get(p)!.port });
    await Promise.all(
      parties.flatMap((a) => parties.filter((b) => a < b).map((b) => endpoints.get(a)!.connect(addr(b)))),
    );
    return new WebSocketTransport(parties, endpoints);
  }
}
