// The offline phase: server2 runs its side of future batch-1 queries ahead of time. server0
// reserves session indices per model and tells server2, which runs the model's program for each
// index against a recording transport: in Pond, server2 only deals (masks, triple corrections,
// from nonces and shapes; in FSS, DCF keys and dealt shares likewise), so its whole part of the
// query is computed before the query exists.
// When a query gets a reserved index, server2 just sends what it recorded. The recording is the
// very message sequence an online run would produce (same op ids, same nonces), so a query whose
// recording is missing or unfinished simply runs online with the same result. Models whose
// server2 side needs messages (SecureNN's comparisons) are not pooled.
import type { ModelSpec } from '../api/layers_spec';
import type { Cluster } from '../protocol/cluster';
import type { ProtocolName } from '../protocol/protocols';
import { SERVERS } from '../protocol/party';
import { type PartyName, type Payload, type Tag, Transport } from '../net/transport';
import type { RingTensor } from '../tensor/ring_tensor';
import { CLIENT, type MaskedWeights, predictOnServer } from './programs';

class RecordingTransport extends Transport {
  readonly sent: { from: PartyName; to: PartyName; tag: Tag; payload: Payload }[] = [];

  override async send(from: PartyName, to: PartyName, tag: Tag, payload: Payload): Promise<void> {
    this.sent.push({ from, to, tag, payload });
  }

  protected deliver(): Promise<void> {
    return Promise.resolve();
  }

  protected receive(_to: PartyName, from: PartyName): Promise<Payload> {
    return Promise.reject(new Error(`server2's side receives from ${from}: it cannot run ahead`));
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

export type Recording = RecordingTransport['sent'];

/** server2's recordings, by session index, for one epoch (at most `max` held at once). */
export class PrecomputePool {
  #ready = new Map<number, { model: string; run: Promise<Recording | undefined> }>();
  #unpoolable = new Set<string>();
  recorded = 0;
  replayed = 0;
  /** Recordings dropped unused (their query never came, or the model was removed). */
  discarded = 0;

  constructor(private readonly log: (m: string) => void, private readonly max: number) {}

  /** Recordings held (made or being made). */
  get held(): number {
    return this.#ready.size;
  }

  /**
   * Runs server2's side of a batch-1 query of `model` for each index, in the background. Indices
   * beyond the `max` held are not prepared: their queries run online.
   */
  prepare(root: Cluster, me: PartyName, model: { name: string; protocol: ProtocolName; spec: ModelSpec; shares: (RingTensor | null)[] }, masks: MaskedWeights, indices: number[]): void {
    for (const index of indices) {
      if (this.#unpoolable.has(model.name) || this.#ready.size >= this.max) return;
      const run = (async () => {
        const transport = new RecordingTransport([...SERVERS, CLIENT]);
        const fork = root.fork(transport, index, { protocol: model.protocol, players: [CLIENT] });
        await predictOnServer(fork, me, model.spec, model.shares, masks, [1, ...model.spec.inputShape]);
        this.recorded++;
        return transport.sent;
      })().catch((e: Error) => {
        if (!this.#unpoolable.has(model.name)) this.log(`model '${model.name}' is not pooled: ${e.message}`);
        this.#unpoolable.add(model.name);
        return undefined;
      });
      this.#ready.set(index, { model: model.name, run });
    }
  }

  /** The recording for `index` (waiting for it if it is still being made), taken out of the pool. */
  async take(index: number): Promise<Recording | undefined> {
    const r = this.#ready.get(index);
    this.#ready.delete(index);
    return r?.run;
  }

  /** Drops the recording for `index` (its query will never run here). */
  discard(index: number): void {
    if (this.#ready.delete(index)) this.discarded++;
  }

  /** Drops every recording of `model` (it was removed). */
  discardModel(model: string): void {
    for (const [index, r] of this.#ready) if (r.model === model) this.discard(index);
    this.#unpoolable.delete(model);
  }

  /** Sends a recording over the query's real transport, as the online run would have. */
  async replay(rec: Recording, transport: Transport): Promise<void> {
    await Promise.all(rec.map((m) => transport.send(m.from, m.to, m.tag, m.payload)));
    this.replayed++;
  }
}
