// A server's deployed models on disk, so they survive a restart: the public architecture, and on
// server0/server1 that server's own shares of the weights, each file checksummed (SHA-256).
// A model is written to a temporary directory and renamed into place, so a crash mid-write never
// leaves a half model; a share whose checksum fails is refused at load, naming the file.
import { exactProtocolsText, isExact, PROTOCOLS } from '../protocol/protocols';
import { listedOptions, type ProtocolOptions, type ResolvedOptions, resolveOptions, statedOptions } from '../protocol/protocol_options';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { type ModelSpec, parseTopology } from '../api/layers_spec';
import { COMPUTE_VERSION } from '../compute_version';
import { RingTensor } from '../tensor/ring_tensor';
import { checkModelName, type DeployRequest, MODEL_NAME, type ModelInfo, type ProtocolName } from './messages';
import type { Log } from '../log';

/** A deployed model; beside its fields, every protocol option (ResolvedOptions): its protocol's as deployed, the rest at their defaults. */
export interface DeployedModel extends ResolvedOptions {
  name: string;
  protocol: ProtocolName;
  topology: DeployRequest['topology'];
  weights: DeployRequest['weights'];
  spec: ModelSpec;
  /** Identifies the public part; the servers check they all deployed the same. */
  digest: string;
  /** This server's shares of the parameters (null on server2, which holds none). */
  shares: (RingTensor | null)[];
}

/** A stored model's model.json; beside its fields, the options of its protocol that differ from their defaults (absent in models stored before an option existed). */
interface StoredManifest extends ProtocolOptions {
  version: 1;
  /** The compute version that stored it (absent before 18): what its shares were made for. */
  computeVersion?: number;
  name: string;
  protocol: ProtocolName;
  topology: DeployRequest['topology'];
  weights: DeployRequest['weights'];
  digest: string;
  shares: { file: string; shape: number[]; sha256: string }[] | null;
}

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** The spec of a deploy request, checked as the owner's loader checks it (layers, weights). */
export function specOf(req: Pick<DeployRequest, 'topology' | 'weights' | 'protocol'>): ModelSpec {
  const shapes = new Map(req.weights.map((w) => [w.name, w.shape]));
  const spec = parseTopology(req.topology, (n) => shapes.get(n), [...shapes.keys()]);
  if (spec.needsSecureNN && !isExact(req.protocol)) throw new Error(`the model compares values (${spec.exactOnlyLayers.join(', ')}), which the ${req.protocol} protocol cannot do exactly: deploy it with ${exactProtocolsText()}`);
  for (const p of spec.params) {
    if (p.derive) continue; // computed by the owner; its sources were checked by parseTopology
    const n = p.shape.reduce((a, b) => a * b, 1);
    const m = shapes.get(p.weight)!.reduce((a, b) => a * b, 1);
    if (n !== m) throw new Error(`weight '${p.weight}' has shape [${shapes.get(p.weight)}], which cannot be used as [${p.shape}]`);
  }
  return spec;
}

export function digestOf(req: Pick<DeployRequest, 'topology' | 'weights' | 'protocol'> & ProtocolOptions): string {
  // A protocol's options are part of what the servers compute together; an option at its default
  // leaves the digest as it was before the option existed, so stored models keep theirs.
  return sha256(Buffer.from(JSON.stringify({ protocol: req.protocol, ...statedOptions(req.protocol, req), topology: req.topology, weights: req.weights })));
}

export function infoOf(m: DeployedModel): ModelInfo {
  const { spec } = m;
  return {
    name: m.name,
    protocol: m.protocol,
    ...listedOptions(m.protocol, m),
    inputShape: spec.inputShape,
    ...(spec.inputEncoding ? { inputEncoding: spec.inputEncoding } : {}),
    inputs: spec.inputs.map((i) => ({ ...i, inputShape: [...i.inputShape] })),
    layers: spec.layers,
    finalActivation: spec.finalActivation,
    outputs: spec.outputs,
  };
}

/** Writes a file and syncs it to its disk before returning. */
function writeSynced(file: string, bytes: Uint8Array, mode: number): void {
  const fd = fs.openSync(file, 'w', mode);
  try {
    for (let at = 0; at < bytes.byteLength; ) at += fs.writeSync(fd, bytes, at);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** Syncs a folder's entries (a rename in it) to its disk. */
function syncDir(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

export class ModelStore {
  constructor(readonly dir: string, private readonly log: Log) {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  }

  /** The directory of model `name`: refused unless the name is valid and the path inside the store. */
  #pathOf(name: string, prefix = ''): string {
    checkModelName(name);
    const p = path.resolve(this.dir, `${prefix}${name}`);
    if (path.dirname(p) !== path.resolve(this.dir)) throw new Error(`model name '${name}' points outside the model store`);
    return p;
  }

  /**
   * Persists a model atomically and durably (replacing an older one of the same name): its files
   * are written into a temporary folder and synced, model.json last, then the folder takes the
   * name and the store is synced. An older copy is moved aside first, not deleted, so a crash
   * between the two renames leaves a complete copy that the next start finishes (loadAll).
   */
  save(m: DeployedModel): void {
    const final = this.#pathOf(m.name);
    const tmp = this.#pathOf(m.name, `.tmp-${randomBytes(4).toString('hex')}-`);
    fs.mkdirSync(tmp, { mode: 0o700 });
    try {
      // server2 holds no shares (every entry null); a model without parameters has none to hold
      // (an empty list, not null: null made its compute servers refuse it at the next start).
      const shares = m.shares.length > 0 && m.shares.every((s) => s === null)
        ? null
        : m.shares.map((s, i) => {
            const bytes = s!.toBytes();
            const file = `share-${i}.bin`;
            writeSynced(path.join(tmp, file), bytes, 0o600);
            return { file, shape: [...s!.shape], sha256: sha256(bytes) };
          });
      const manifest: StoredManifest = { version: 1, computeVersion: COMPUTE_VERSION, name: m.name, protocol: m.protocol, ...statedOptions(m.protocol, m), topology: m.topology, weights: m.weights, digest: m.digest, shares };
      writeSynced(path.join(tmp, 'model.json'), Buffer.from(JSON.stringify(manifest)), 0o600);
      syncDir(tmp);
      const aside = fs.existsSync(final) ? this.#pathOf(m.name, `.removed-${randomBytes(4).toString('hex')}-`) : undefined;
      if (aside) fs.renameSync(final, aside);
      fs.renameSync(tmp, final);
      syncDir(this.dir);
      if (aside) fs.rmSync(aside, { recursive: true, force: true });
    } catch (e) {
      fs.rmSync(tmp, { recursive: true, force: true });
      throw e;
    }
  }

  /** Removes a stored model (renamed aside first, so a crash never leaves half of one); false if absent. */
  remove(name: string): boolean {
    const final = this.#pathOf(name);
    // By its exact name: on a case-insensitive file system 'NET' would find (and remove) 'net'.
    if (!fs.existsSync(final) || !fs.readdirSync(this.dir).includes(name)) return false;
    const aside = this.#pathOf(name, `.removed-${randomBytes(4).toString('hex')}-`);
    fs.renameSync(final, aside);
    fs.rmSync(aside, { recursive: true, force: true });
    return true;
  }

  /** Loads every stored model; a damaged one is logged and left out, the rest still load. */
  loadAll(expectShares: boolean): DeployedModel[] {
    const out: DeployedModel[] = [];
    // The leftovers first (a finished save is then loaded below with the rest).
    for (const name of fs.readdirSync(this.dir).sort()) {
      if (!name.startsWith('.')) continue;
      // A save interrupted after its files were synced but before the folder took its name (the
      // older copy moved aside already): finished now. model.json is written last, so a folder
      // that has it is complete (its checksums are checked as it loads).
      const saved = /^\.tmp-[0-9a-f]{8}-(.+)$/.exec(name);
      if (saved && MODEL_NAME.test(saved[1]) && !fs.existsSync(path.join(this.dir, saved[1])) && fs.existsSync(path.join(this.dir, name, 'model.json'))) {
        fs.renameSync(path.join(this.dir, name), path.join(this.dir, saved[1]));
        this.log(`finished saving model '${saved[1]}' (a save interrupted at its last step)`, 'stored-model-recovered', { model: saved[1] });
        continue;
      }
      // An interrupted save or removal (this version's names, and older versions' '.<name>.tmp-').
      if (/^\.(?:tmp-[0-9a-f]{8}-|removed-[0-9a-f]{8}-|.+\.tmp-[0-9a-f]{8}$)/.test(name)) fs.rmSync(path.join(this.dir, name), { recursive: true, force: true });
      else this.log(`refusing stored model '${name}': not a model name`, 'stored-model-refused', { model: name, reason: 'not a model name' });
    }
    for (const name of fs.readdirSync(this.dir).sort()) {
      if (name.startsWith('.')) continue;
      try {
        checkModelName(name);
        out.push(this.#load(name, expectShares));
      } catch (e) {
        this.log(`refusing stored model '${name}': ${(e as Error).message}`, 'stored-model-refused', { model: name, reason: (e as Error).message });
      }
    }
    return out;
  }

  #load(name: string, expectShares: boolean): DeployedModel {
    const dir = this.#pathOf(name);
    const file = path.join(dir, 'model.json');
    let m: StoredManifest;
    try {
      m = JSON.parse(fs.readFileSync(file, 'utf8')) as StoredManifest;
    } catch (e) {
      throw new Error(`${file}: ${(e as Error).message}`);
    }
    if (!m || typeof m !== 'object' || m.version !== 1 || m.name !== name) throw new Error(`${file} is not a stored model of this name`);
    // A model stored by a release that runs other protocols (a rollback, a protocol renamed or
    // removed) was listed as ready and then failed every query with a TypeError. Before specOf, which reads
    // the protocol's traits.
    if (!PROTOCOLS.includes(m.protocol)) throw new Error(`${file}: its protocol ${JSON.stringify(m.protocol)?.slice(0, 40)} is not one this release runs (${PROTOCOLS.join(', ')}): redeploy the model under one of them`);
    const spec = specOf(m);
    const options = resolveOptions(m.protocol, m, 'model.json');
    if (digestOf(m) !== m.digest) throw new Error('model.json does not match its digest');
    let shares: (RingTensor | null)[];
    if (!expectShares) shares = spec.params.map(() => null);
    else {
      // A release whose layers take other parameters (compute version 18: an unfolded
      // BatchNormalization's and a Normalization's scale, one more; 19: a depthwise, grouped or
      // wide separable convolution's kernels as saved, not expanded) finds a model stored before
      // it with other shares: it says so, and what to do.
      const stored = Array.isArray(m.shares) ? m.shares : undefined;
      const other = stored && stored.findIndex((s, i) => !Array.isArray(s?.shape) || s.shape.join() !== spec.params[i]?.shape.join());
      if (stored && m.computeVersion !== COMPUTE_VERSION && (stored.length !== spec.params.length || (other !== undefined && other >= 0))) {
        const what = stored.length !== spec.params.length ? `${spec.params.length} parameters, not ${stored.length}` : `parameter ${other} ('${spec.params[other!].weight}') of shape [${spec.params[other!].shape}], not [${stored[other!]?.shape}]`;
        throw new Error(`${file}: it was stored under compute version ${m.computeVersion ?? '17 or older'}, and this release (${COMPUTE_VERSION}) computes it with ${what}: redeploy it (docs/operators.md, "Upgrading to compute version ${COMPUTE_VERSION}")`);
      }
      if (!stored || stored.length !== spec.params.length) throw new Error(`${file}: the shares are missing`);
      shares = stored.map((s, i) => {
        // A plain name in the model's own folder (as save writes it): never a path elsewhere.
        if (!s || typeof s.file !== 'string' || !/^share-\d+\.bin$/.test(s.file)) throw new Error(`${file}: share ${i} names ${JSON.stringify(s?.file)?.slice(0, 60)}, not a share file of this folder`);
        const bytes = fs.readFileSync(path.join(dir, s.file));
        if (sha256(bytes) !== s.sha256) throw new Error(`${s.file} fails its checksum`);
        const want = spec.params[i].shape;
        if (s.shape.join() !== want.join() || bytes.byteLength !== 8 * want.reduce((a, b) => a * b, 1)) throw new Error(`${s.file} has the wrong size`);
        return RingTensor.fromBytes(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), want, 'ring64');
      });
    }
    return { name: m.name, protocol: m.protocol, ...options, topology: m.topology, weights: m.weights, spec, digest: m.digest, shares };
  }
}
