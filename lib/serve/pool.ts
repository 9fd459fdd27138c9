// The offline phase: server2 runs its side of future queries ahead of time and ships it
// to server0 and server1 before the queries exist. server0 reserves session indices per model and
// batch size (batch 1, and the larger batch a client last ran: reservations.ts) and tells server2,
// which runs the model's program for each index ahead of its query: in Pond and FSS server2 only
// deals (masks, triple corrections, DCF keys, from nonces and shapes), so its whole part of the
// query is known in advance. It sends each message as it is made, in the index's own session
// `pool:<epoch>:<index>`, where the compute servers' mailboxes keep it (nothing of a large
// batch's dealing piles up on server2).
// A query that gets a reserved index reads server2's messages from that session
// (PooledTransport): online, only server0 and server1 (and the client) exchange anything. The
// recording is the very message sequence an online run would produce (same op ids, same nonces),
// so a reserved index whose recording is missing (or failed before sending anything) runs
// server2's side online into the same session with the same result. Models whose server2 side
// needs messages (SecureNN's comparisons) are not reserved.
import { sharedInputShape } from '../api/input_encoding';
import type { ModelSpec, ModelTopology } from '../api/layers_spec';
import type { Cluster } from '../protocol/cluster';
import type { ProtocolName } from '../protocol/protocols';
import { optionsOf, type ResolvedOptions } from '../protocol/protocol_options';
import { SERVER2, SERVERS } from '../protocol/party';
import { type PartyName, type Payload, type Tag, Transport } from '../net/transport';
import type { WsEndpoint } from '../net/ws_endpoint';
import { WebSocketTransport } from '../net/ws_transport';
import { RingTensor } from '../tensor/ring_tensor';
import { CLIENT, type MaskedWeights, predictOnServer } from './programs';
import { SerialLanes } from './serial_lanes';
import { agreeGateForm, dealtUnderLoad, formsDiffer, DealingPressure, followsLoad, foundBusy, type LoadForm, modelBatchKey, unloadedForm } from './gate_form';
import type { Log } from '../log';

/** Thrown into a run ahead whose recording was discarded: it stops dealing. */
class Dropped extends Error {}

/**
 * server2's side of a future query: every message goes straight to the index's pool session (so
 * nothing of a large batch's dealing piles up here), and nothing can be received.
 */
class AheadTransport extends Transport {
  constructor(parties: readonly PartyName[], private readonly out: Transport, private readonly dropped: () => boolean) {
    super(parties);
  }

  override freesSent(from: PartyName): boolean {
    return this.out.freesSent(from);
  }

  override async send(from: PartyName, to: PartyName, tag: Tag, payload: Payload): Promise<void> {
    if (this.dropped()) throw new Dropped('discarded');
    await this.out.send(from, to, tag, payload);
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

/** What was sent ahead for one query. */
export interface Shipped {
  bytes: number;
}

/**
 * How a run ahead ended: shipped; discarded; or failed, before anything was shipped but its gate
 * form's announcement (its query runs server2's side online, in that form) or part way (it
 * cannot: the session holds part of a run).
 */
type Outcome = Shipped | { dropped: true } | { failed: string; partWay: boolean };

interface Recording {
  model: string;
  /** The batch size it was recorded for. */
  batch: number;
  run: Promise<Outcome>;
  /** Discarded while being made: it is not shipped. */
  dropped: boolean;
  /** Made and shipped, or ended otherwise: a query taking it does not wait. */
  settled: boolean;
  /** The gate form it announced (an 'auto' FSS model's: gate_form.ts), and the model's layers, to tell whether another form would deal other keys. */
  form?: LoadForm;
  layers?: FormModel;
  /** Made and shipped whole. */
  shipped: boolean;
  /** Dealt in a form the pool would no longer deal (a load that has passed, links found far): server0 was asked to reserve its index anew. */
  redealAsked: boolean;
}

/** What formsDiffer reads of a model. */
type FormModel = { name: string; protocol: ProtocolName; spec: ModelSpec; topology?: ModelTopology } & ResolvedOptions;

/** How often a pool holding recordings of another form than it would deal now looks again whether it may deal them anew. */
export const STALE_RECHECK_MS = 250;

/** server2's ask to server0: free these reserved indices of `batch` rows of `model` and reserve new ones. */
export type AskRedeal = (model: string, batch: number, indices: number[]) => void;

/** What server2 does for a query with a reserved index: nothing (it was shipped ahead), or its side online, in the form a failed recording announced if it did. */
export type Taken = { shipped: Shipped } | { online: true; form?: LoadForm };

/** server2's recordings, by session index, for one epoch (at most `max` held at once). */
export class PrecomputePool {
  #ready = new Map<number, Recording>();
  /** Recordings a query took and still waits for (take), so that its early end can drop them (abandon). */
  #taken = new Map<number, Recording>();
  /** Indices whose pool notice came but is not acted on yet (a deploy or setup still finishing). */
  #noticed = new Set<number>();
  /** Of those, the ones freed meanwhile: the notice, acted on, skips them. */
  #freed = new Set<number>();
  #unpoolable = new Set<string>();
  /** One lane per model and batch size: its recordings are made one after another. */
  #lanes = new SerialLanes();
  recorded = 0;
  replayed = 0;
  /** Recordings dropped unused (their query never came, or the model was removed). */
  discarded = 0;
  /** Bytes shipped ahead of queries (server2's whole side of each pooled query). */
  offlineBytes = 0;
  /** Recordings not finished yet: being made or shipped, or queued in their lane behind one that is. */
  making = 0;
  /** Recordings in a form the pool no longer deals (a load that passed, links found far) freed by server0 on this server's ask (askRedeal) before a query took them, to be dealt again. */
  redealt = 0;
  /** Whether queries find this server busy dealing, per model and batch size: an 'auto' FSS model's form (gate_form.ts). */
  readonly pressure: DealingPressure;
  readonly #askRedeal?: AskRedeal;
  #staleTimer?: NodeJS.Timeout;
  /** The links' distance when the last query came (take). */
  #near = true;
  /** Per model, batch size and pair of forms: whether they deal different keys (formsDiffer). */
  #formsDiffer = new Map<string, boolean>();

  /**
   * `near`: whether the links to server0 and server1 are a LAN's or one host's (gate_form.ts
   * nearLinks). `askRedeal`: how to ask server0 to reserve anew the indices of recordings made in
   * a form the pool no longer deals (#checkStale; none: they stay until taken).
   */
  constructor(private readonly log: Log, private readonly max: number, readonly near: () => boolean, opts: { askRedeal?: AskRedeal; pressure?: DealingPressure } = {}) {
    this.pressure = opts.pressure ?? new DealingPressure();
    this.#askRedeal = opts.askRedeal;
  }

  /** Recordings held (made or being made). */
  get held(): number {
    return this.#ready.size;
  }

  /**
   * Runs server2's side of a query of `batch` rows of `model` for each index, in the background.
   * Indices beyond the `max` held are not prepared: their queries run online.
   */
  prepare(root: Cluster, me: PartyName, model: { name: string; protocol: ProtocolName; spec: ModelSpec; shares: (RingTensor | null)[]; topology?: ModelTopology } & ResolvedOptions, masks: MaskedWeights, batch: number, indices: number[], ship: (index: number) => Transport): void {
    for (const index of this.acted(indices)) {
      if (this.#unpoolable.has(model.name) || this.#ready.size >= this.max) return;
      const rec: Recording = { model: model.name, batch, run: Promise.resolve({ dropped: true }), dropped: false, settled: false, shipped: false, redealAsked: false };
      this.making++;
      // Shipped as it is made: the compute servers hold it until the query with this index comes.
      const out = ship(index);
      // One model's recordings of one batch size are made one after another, in index order (the
      // order server0 hands the indices out): run side by side they would share the links and all
      // finish together, so a query that finds the pool drained would wait for the whole refill
      // (at 300 Mbit/s, FSS C_max: about 3.4 s for four recordings, against 0.84 s for its own).
      rec.run = this.#lanes.run(key(model.name, batch), async (): Promise<Outcome> => {
        if (rec.dropped) throw new Dropped('discarded');
        const transport = new AheadTransport([...SERVERS, CLIENT], out, () => rec.dropped);
        const fork = root.fork(transport, index, { protocol: model.protocol, ...optionsOf(model), players: [CLIENT], dealerOnly: true });
        // The form is picked as the dealing starts, so it answers the load of that moment.
        // Kept once both announcements are out: a run online after a failure then keeps the form
        // without announcing it again (after one of the two, the run failed part way).
        if (followsLoad(model)) {
          rec.layers = model;
          rec.form = await agreeGateForm(fork, me, { pick: () => this.pressure.pick(model.name, batch, this.near()) });
        }
        await predictOnServer(fork, me, model.spec, model.shares, masks, [batch, ...sharedInputShape(model.spec)], { index, maskedInput: false });
        this.recorded++;
        rec.shipped = true;
        const { bytes } = out.traffic().total;
        this.offlineBytes += bytes;
        return { bytes };
      }).catch((e: Error): Outcome => {
        if (e instanceof Dropped || rec.dropped) return { dropped: true };
        if (!this.#unpoolable.has(model.name)) this.log(`model '${model.name}' is not pooled: ${e.message}`, 'pool-disabled', { model: model.name, reason: e.message });
        this.#unpoolable.add(model.name);
        // The form's two announcements alone leave the session as an online run would start it.
        return { failed: e.message, partWay: out.traffic().total.messages > (rec.form ? 2 : 0) };
      }).finally(() => {
        this.making--;
        rec.settled = true;
        if (rec.form && rec.form !== unloadedForm(this.near())) this.#checkStaleLater(this.pressure.heldFor(model.name, batch));
      });
      this.#ready.set(index, rec);
    }
  }

  /**
   * Whether server2's side of the query with `index`, of `batch` rows of `model`, was shipped ahead
   * (waiting for it if it is still being made or sent), taken out of the pool; else run it online
   * (nothing was prepared for it, or its recording failed before its first step). A run ahead that
   * failed part way fails the query (what it did ship is in the session), as does a recording of
   * another batch size (server0's bug, not the client's). `follows`: the model whose form follows
   * the load (gate_form.ts followsLoad), for which this notes whether the query found server2 busy
   * dealing (`pressure`, foundBusy). `early`: rejects when the query ends early (its wait ends then).
   */
  async take(index: number, batch: number, follows?: string, early?: Promise<never>): Promise<Taken> {
    // The links' distance decided (gate_form.ts nearLinks) or changed: the recordings made before
    // in the other unloaded form may be dealt again.
    const near = this.near();
    if (near !== this.#near) {
      this.#near = near;
      if (this.#askRedeal) this.log(`server2 takes its links to server0 and server1 as ${near ? 'near' : 'far'}: 'auto' FSS models ${near ? 'keep one round per relu, and under load compact every gate' : 'fold the product after a relu, and under load compact only gates of 2048 elements or more'} (docs/fss.md, "Under load, and over far links")`, 'links-judged', { links: near ? 'near' : 'far' });
      this.#checkStaleLater(0);
    }
    const r = this.#ready.get(index);
    this.#ready.delete(index);
    if (follows !== undefined) this.pressure.noteQuery(follows, batch, foundBusy({ recorded: !!r, finished: r?.settled ?? false, making: this.making, near }));
    if (r && r.batch !== batch) {
      r.dropped = true;
      this.discarded++;
      throw new Error(`pool index ${index} was recorded for batch ${r.batch}, the query has batch ${batch}`);
    }
    if (!r) return { online: true };
    this.#taken.set(index, r);
    // Raced with the query's early end (`early`, query_end.ts): a recording queued in its lane
    // behind others, one of them stuck sending to a stalled server, would hold the query past it.
    const run = r.run.finally(() => this.#taken.delete(index));
    const outcome = await (early ? Promise.race([run, early]) : run);
    if ('failed' in outcome) {
      if (!outcome.partWay) return { online: true, ...(r.form ? { form: r.form } : {}) };
      throw new Error(`server2's side of this query, dealt ahead, failed part way: ${outcome.failed}`);
    }
    if ('dropped' in outcome) throw new Error(`server2's side of this query was discarded (pool index ${index})`);
    this.replayed++;
    return { shipped: outcome };
  }

  /**
   * The query that took `index` ended early (timed out, aborted, its client gone): the recording it
   * waits for, if still being made, is dropped, so that take() ends as the recording's next step
   * (or its send, which the caller then aborts) fails, and the model stays pooled (a recording that
   * fails otherwise takes it out of the pool). Whether one was dropped.
   */
  abandon(index: number): boolean {
    const r = this.#taken.get(index);
    // Dropped already: an early end seen twice (its abort, then the failure it made) counts once.
    if (!r || r.settled || r.dropped) return false;
    r.dropped = true;
    this.discarded++;
    return true;
  }

  /**
   * Drops the recording for `index` (its query will never run here, or ran without taking it), or,
   * when its pool notice is not acted on yet (the setup still being made), has the notice skip it.
   */
  discard(index: number): void {
    const r = this.#ready.get(index);
    if (!r) {
      if (this.#noticed.has(index)) this.#freed.add(index);
      return;
    }
    r.dropped = true;
    this.#ready.delete(index);
    this.discarded++;
  }

  /** A pool notice for `indices` came; prepare (or acted, when nothing is prepared) follows. */
  noticed(indices: readonly number[]): void {
    for (const i of indices) this.#noticed.add(i);
  }

  /**
   * A pool notice is acted on: its indices are no longer waited for, and those freed meanwhile
   * are left out (returned: the rest). Only indices still waited for are remembered as freed, so
   * what a client's churn frees after its notice was acted on (or skipped: the pool full) leaves
   * nothing behind.
   */
  acted(indices: readonly number[]): number[] {
    return indices.filter((i) => {
      this.#noticed.delete(i);
      return !this.#freed.delete(i);
    });
  }

  /** server0 freed a reserved index: its recording goes, or the pool notice still to be acted on skips it. */
  unreserved(index: number): void {
    if (this.#ready.get(index)?.redealAsked) this.redealt++;
    this.discard(index);
  }

  /** Drops every recording of `model` (it was removed). */
  discardModel(model: string): void {
    for (const [index, r] of this.#ready) if (r.model === model) this.discard(index);
    this.#unpoolable.delete(model);
    this.pressure.forget(model);
    // A model deployed again under the name may have other layers.
    for (const k of [...this.#formsDiffer.keys()]) if (k.startsWith(key(model, ''))) this.#formsDiffer.delete(k);
  }

  /** Drops every recording (the setup is retired): what was shipped is freed by the receivers. */
  clear(): void {
    this.discarded += this.#ready.size;
    for (const r of this.#ready.values()) r.dropped = true;
    this.#ready.clear();
    this.#noticed.clear();
    this.#freed.clear();
    clearTimeout(this.#staleTimer);
    this.#staleTimer = undefined;
  }

  /**
   * Recordings of an 'auto' model in another form than the pool would deal now: dealt under a load
   * that has passed (compact), or before server2 found its links far (one round where it now
   * folds). Once their model's and batch size's pressure is over and nothing is being dealt,
   * server2 asks server0 to free their indices (if no query took them meanwhile) and reserve new
   * ones, which it deals in the form of that moment. Otherwise the queries after a burst would take
   * the compact gates' extra rounds (on a 60 ms WAN, 0.2 s more for C_max) until the pool had
   * turned over (docs/fss.md, "Under load"). Only where the two forms deal different keys at that
   * batch size (formsDiffer).
   */
  #checkStale(): void {
    this.#staleTimer = undefined;
    const asks = new Map<string, { model: string; batch: number; indices: number[] }>();
    const want = unloadedForm(this.near());
    let wait = 0;
    for (const [index, r] of this.#ready) {
      if (!r.form || !r.layers || r.form === want || r.redealAsked || r.dropped) continue;
      // Made under load: only once its queries have stopped for the hold. Under a steady load
      // that merely stopped finding server2 busy for a while, dealing them again would take the
      // cores the queries need and put it under pressure again (measured: queries 75-225 ms apart
      // on one host had 19 of 103 C_max recordings dealt twice, and the queries took the compact
      // ones anyway).
      const held = this.pressure.heldFor(r.model, r.batch);
      const quiet = dealtUnderLoad(r.form) ? this.pressure.quietIn(r.model, r.batch) : 0;
      if (!r.settled || held > 0 || quiet > 0 || this.making > 0) {
        wait = Math.max(wait, held, quiet, STALE_RECHECK_MS);
        continue;
      }
      // Failed before its first step (its query runs online, in its form), or no other keys.
      if (!r.shipped || !this.#formsDifferFor(r.layers, r.batch, r.form, want)) continue;
      r.redealAsked = true;
      const k = key(r.model, r.batch);
      const ask = asks.get(k) ?? { model: r.model, batch: r.batch, indices: [] };
      asks.set(k, ask);
      ask.indices.push(index);
    }
    for (const a of asks.values()) this.#askRedeal!(a.model, a.batch, a.indices);
    if (wait > 0) this.#checkStaleLater(wait);
  }

  #checkStaleLater(ms: number): void {
    if (!this.#askRedeal || this.#staleTimer) return;
    this.#staleTimer = setTimeout(() => this.#checkStale(), Math.max(ms, STALE_RECHECK_MS));
    this.#staleTimer.unref();
  }

  /** formsDiffer, once per model, batch size and pair of forms. */
  #formsDifferFor(model: FormModel, batch: number, form: LoadForm, other: LoadForm): boolean {
    const k = `${key(model.name, batch)}\u0000${form}\u0000${other}`;
    let differs = this.#formsDiffer.get(k);
    if (differs === undefined) this.#formsDiffer.set(k, (differs = model.topology !== undefined && formsDiffer({ ...model, topology: model.topology }, batch, form, other)));
    return differs;
  }
}

const key = modelBatchKey;

const POOL = 'pool:';

/** The session the servers' pool notices travel in (messages.ts: pool, unpool, redeal). */
export const poolNoticeSession = (epoch: string): string => `${POOL}${epoch}`;

/** The prefix of a setup's pool sessions. */
export const poolSessionPrefix = (epoch: string): string => `${POOL}${epoch}:`;

/** The session server2's side of the pooled query with `index` travels in. */
export const poolSession = (epoch: string, index: number): string => `${poolSessionPrefix(epoch)}${index}`;

/**
 * A pooled query's transport: everything to or from server2 travels in the index's pool session
 * (shipped ahead, or sent online into the same session when there was no recording); everything
 * else in the query's own session.
 */
export class PooledTransport extends WebSocketTransport {
  readonly #dealerSession: string;

  constructor(parties: readonly PartyName[], endpoints: Map<PartyName, WsEndpoint>, session: string, aliases: ReadonlyMap<PartyName, string>, dealerSession: string) {
    super(parties, endpoints, session, aliases);
    this.#dealerSession = dealerSession;
  }

  protected override sessionFor(a: PartyName, b: PartyName): string {
    return a === SERVER2 || b === SERVER2 ? this.#dealerSession : this.session;
  }
}
