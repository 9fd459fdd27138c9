// The forms FSS's 'auto' takes in the service (docs/fss.md, "Under load, and over far links"). A
// batch-1 query of an 'auto' model takes one round per relu, with two-payload keys (1576 bytes per
// gate and server after a product); the compact form takes a second round for keys under half that
// size (696). When a query has to wait for its keys (its recording still being made or shipped,
// none made, or dealt on the spot), or, over near links (a LAN, one host), comes while server2 is
// still dealing any other, the keys' bytes are what it pays for: it waits for them, or the dealing
// takes the cores it runs on (one host) and the compute servers' event loops take the keys in. So
// server2 deals compact gates until queries stop finding it so (over far links only the large
// ones, LOAD_COMPACT_FROM elements or more, since there a round costs a delay), and when the pool
// keeps up between queries they keep the one-round form and its lower latency, over far links with
// the product after a relu folded into its keys (one delay fewer). server2 decides per query (for a
// recording, when dealing starts) and tells server0 and server1 before anything else of that
// query, in the session its side travels in, so the three agree on every gate.
//
// What the announcement reveals: the form only, a function of server2's load (whether queries
// found it busy dealing, and its links' round trips), public and independent of every input,
// weight and output.
import type { Cluster } from '../protocol/cluster';
import { type OpCtx, SERVER0, SERVER1, SERVER2, tag } from '../protocol/party';
import type { FssGate, ProtocolName } from '../protocol/protocols';
import { optionsOf, type ProtocolOptions } from '../protocol/protocol_options';
import type { PartyName } from '../net/transport';
import { sharedInputShape } from '../api/input_encoding';
import type { ModelSpec, ModelTopology } from '../api/layers_spec';
import { pooledBytes } from './limits';

/** The announcement's op: below every session's op ids, beside the input and output ops (programs.ts). */
export const FORM_OP: OpCtx = { id: (1 << 20) + 1, name: 'gate-form' };
const FORM_TAG = tag(FORM_OP, 'form');

/**
 * The forms a query of an 'auto' model runs in. Over near links: 'auto' (compact from
 * FSS_STEPS.compactFrom elements, 16384: every gate of a batch-1 query of the paper's nets in one
 * round), under load 'compact' (every gate). Over far links: 'folded' ('auto', and a product right
 * after a one-round relu folds into its keys: one round fewer, for more keys; docs/fss.md "Folded
 * products"), under load 'compact-large' (gates of LOAD_COMPACT_FROM elements or more compact).
 */
export type LoadForm = 'auto' | 'folded' | 'compact' | 'compact-large';
const LOAD_FORMS: readonly LoadForm[] = ['auto', 'folded', 'compact', 'compact-large'];

/** Whether a form is one server2 deals under load ('compact', 'compact-large'). */
export const dealtUnderLoad = (form: LoadForm): boolean => form === 'compact' || form === 'compact-large';

/** The form an 'auto' model's queries take when server2 keeps up: over near links 'auto', over far ones 'folded'. */
export const unloadedForm = (near: boolean): LoadForm => (near ? 'auto' : 'folded');

/** How server2 judges its links ('linkDistance' in the cluster config): by their measured round trips (nearLinks), or as the operator says. */
export type LinkDistance = 'measured' | 'near' | 'far';
export const LINK_DISTANCES: readonly LinkDistance[] = ['measured', 'near', 'far'];

/**
 * Under load over far links, the gates of at least this many elements (the batch's) take the
 * compact form and smaller ones keep one round. A compact gate saves each compute server about
 * 880 bytes of key per element (1576 -> 696 after a product) for one round more, which over a 60
 * ms, 300 Mbit/s link costs about what 1300 elements' keys take to send: the small gates' savings
 * are worth less than their rounds. In the paper's max-pool nets the gates from 2048 elements are
 * the first max pool's two levels and the relu after it, 76-89% of the gate elements, in three
 * extra rounds: B_max and C_max take 14 rounds instead of 18, and C_max's queries under load
 * through the emulated WAN 484-539 ms instead of 614-663 (bench/RESULTS.md, twenty-fifth
 * session). Over near links a round costs under a millisecond and every gate is compact: there
 * this threshold made B_max's queries back to back 1.22x slower and C_max's 1.03x.
 */
export const LOAD_COMPACT_FROM = 2048;

/** What a load form makes of the query's FSS gates (the fork's fssGate and fssCompactFrom). */
export function loadFormGates(form: LoadForm): { fssGate: FssGate; fssCompactFrom?: number } {
  if (form === 'compact' || form === 'folded') return { fssGate: form };
  return form === 'compact-large' ? { fssGate: 'auto', fssCompactFrom: LOAD_COMPACT_FROM } : { fssGate: 'auto' };
}

/** How long server2 keeps dealing compact gates after a query found it busy dealing. */
export const PRESSURE_HOLD_MS = 2000;

/**
 * A link whose least measured round trip is at most this is a LAN's, a metro link's or one
 * host's: there a compact gate's extra rounds (one per relu layer and max-pool level) cost less
 * than the contention of dealing beside the queries (C_max: 7 rounds, under 1 ms each on a LAN,
 * against 20-30 ms of CPU per query). Over longer links they cost more, and only a query that had
 * to wait for its own keys says the keys are the bottleneck.
 */
export const NEAR_RTT_MS = 10;

/**
 * A link is far once this many of its round trips were timed and even the least took more than
 * NEAR_RTT_MS. Before that it is taken as near: as servers come up their busy event loops answer
 * pings late (on one 2-vCPU host loopback links first read 8-29 ms), and a near link's least
 * round trip only drops below NEAR_RTT_MS once a ping meets both ends idle, while a far link's
 * never does; links are pinged every 250 ms as they come up, so about 2 s.
 */
export const FAR_AFTER_SAMPLES = 8;

/**
 * Whether server2's links to server0 and server1 are near: not far, where a link is far when it
 * has been timed FAR_AFTER_SAMPLES times or more and its least round trip is over NEAR_RTT_MS.
 */
export function nearLinks(link: (peer: PartyName) => { rttMs?: number; samples: number }): boolean {
  return ![SERVER0, SERVER1].some((s) => {
    const { rttMs, samples } = link(s);
    return samples >= FAR_AFTER_SAMPLES && (rttMs ?? Infinity) > NEAR_RTT_MS;
  });
}

/**
 * Whether a query found server2 busy dealing, as it takes its index: it waits for its own keys
 * (none recorded, or its recording not finished), or, over near links, others are being dealt
 * (`making`, its own excluded when finished): the refills then overlap the queries, taking their
 * CPU on shared cores and the compute servers' event loops on any host, which costs more than a
 * round there.
 */
export function foundBusy(q: { recorded: boolean; finished: boolean; making: number; near: boolean }): boolean {
  return !q.recorded || !q.finished || (q.making > 0 && q.near);
}

/** Whether a model's queries follow server2's load: FSS deployed with fssGate 'auto' (any other form is the owner's choice, kept). */
export function followsLoad(m: { protocol: ProtocolName; fssGate: FssGate }): boolean {
  return m.protocol === 'fss' && m.fssGate === 'auto';
}

/**
 * Whether a query of `batch` rows of the model dealt in form `form` differs from one dealt in
 * `other`, as the keys' size estimate tells (limits.ts pooledBytes): 'compact' from 'auto' where
 * some gate has fewer than FSS_STEPS.compactFrom elements, 'compact-large' from 'auto' where some
 * has from LOAD_COMPACT_FROM up to that, from 'folded' also where a product folds. Where none does
 * (a big batch's gates) the two deal the same keys.
 */
export function formsDiffer(m: { topology: ModelTopology; protocol: ProtocolName; spec: ModelSpec } & ProtocolOptions, batch: number, form: LoadForm, other: LoadForm = 'auto'): boolean {
  const bytes = (f: LoadForm) => pooledBytes({ topology: m.topology, protocol: m.protocol, ...optionsOf(m), ...loadFormGates(f), inputShape: sharedInputShape(m.spec) }, batch);
  return bytes(form) !== bytes(other);
}

/**
 * server2's record, per model and batch size, of whether queries find it busy dealing (the pool
 * says when: pool.ts take): one that did puts its model and batch size under pressure for
 * `holdMs`, during which their dealing is compact.
 */
export class DealingPressure {
  /** Per model and batch size: until when its queries are dealt compact, and when its last query came. */
  #seen = new Map<string, { until: number; last: number }>();
  /** Queries (recorded ahead or run online) dealt in the compact form because of load. */
  compact = 0;

  constructor(readonly holdMs = PRESSURE_HOLD_MS, private readonly now: () => number = Date.now) {}

  /** A query of `batch` rows of `model` came; `busy`: it found server2 busy dealing (foundBusy). */
  noteQuery(model: string, batch: number, busy: boolean): void {
    const now = this.now();
    // Clients pick batch sizes: entries past their hold and quiet for as long go before the map grows past a few.
    if (this.#seen.size >= 64) for (const [k, e] of this.#seen) if (e.until <= now && now - e.last >= this.holdMs) this.#seen.delete(k);
    const e = this.#seen.get(key(model, batch)) ?? { until: -Infinity, last: now };
    e.last = now;
    if (busy) e.until = now + this.holdMs;
    this.#seen.set(key(model, batch), e);
  }

  /**
   * How much longer until `batch` rows of `model` have had no query for the hold, in ms (0: none
   * came for that long): a load has passed once its queries stopped, not merely stopped finding
   * server2 busy (pool.ts deals recordings made under load again only then).
   */
  quietIn(model: string, batch: number): number {
    const e = this.#seen.get(key(model, batch));
    return e ? Math.max(0, e.last + this.holdMs - this.now()) : 0;
  }

  /**
   * The form to deal the next query of `batch` rows of `model` in (counted when compact): under
   * pressure, every gate compact over near links (`near`: nearLinks), the large ones over far links.
   */
  pick(model: string, batch: number, near: boolean): LoadForm {
    const under = (this.#seen.get(key(model, batch))?.until ?? -Infinity) > this.now();
    if (!under) return unloadedForm(near);
    this.compact++;
    return near ? 'compact' : 'compact-large';
  }

  /** How much longer `batch` rows of `model` stay under pressure, in milliseconds (0: not under it). */
  heldFor(model: string, batch: number): number {
    return Math.max(0, (this.#seen.get(key(model, batch))?.until ?? 0) - this.now());
  }

  /** Model and batch-size entries held (expired ones included until pruned). */
  get tracked(): number {
    return this.#seen.size;
  }

  /** The model is gone. */
  forget(model: string): void {
    for (const k of [...this.#seen.keys()]) if (k.startsWith(key(model, ''))) this.#seen.delete(k);
  }
}

/** The key of a model and batch size in the maps kept per both (here and in pool.ts); `''`: the prefix of all the model's. */
export const modelBatchKey = (model: string, batch: number | string): string => `${model}\u0000${batch}`;
const key = modelBatchKey;

/**
 * Every server of one query of an 'auto' model takes the same gate form: server2 announces it to
 * server0 and server1 (`pick` decides it; `sent`: a recording already announced it into this
 * session and failed before anything more, so the run online keeps it without a second message),
 * and they read it before their first step. Sets the fork's form; returns it.
 */
export async function agreeGateForm(fork: Cluster, me: PartyName, server2?: { pick: () => LoadForm } | { sent: LoadForm }): Promise<LoadForm> {
  const party = fork.party(me);
  let form: LoadForm;
  if (me === SERVER2) {
    if (!server2) throw new Error('agreeGateForm: server2 needs the form to announce');
    if ('sent' in server2) form = server2.sent;
    else {
      form = server2.pick();
      await Promise.all([SERVER0, SERVER1].map((s) => party.sendControl(s, FORM_TAG, form)));
    }
  } else {
    const said = await party.recvControl<unknown>(SERVER2, FORM_TAG);
    if (!LOAD_FORMS.includes(said as LoadForm)) throw new Error(`server2 announced the gate form ${JSON.stringify(said).slice(0, 40)}: expected ${LOAD_FORMS.map((f) => `'${f}'`).join(', ')}`);
    form = said as LoadForm;
  }
  const gates = loadFormGates(form);
  fork.fssGate = gates.fssGate;
  fork.fssCompactFrom = gates.fssCompactFrom;
  return form;
}
