// A server's deployed models on disk, so they survive a restart: the public architecture, and on
// server0/server1 that server's own shares of the weights, each file checksummed (SHA-256).
// A model is written to a temporary directory and renamed into place, so a crash mid-write never
// leaves a half model; a share whose checksum fails is refused at load, naming the file.
import { checkFssBits, checkFssGate, type FssGate, isExact } from '../protocol/protocols';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { type ModelSpec, parseTopology } from '../api/layers_spec';
import { RingTensor } from '../tensor/ring_tensor';
import { checkModelName, type DeployRequest, type ModelInfo, type ProtocolName } from './messages';
import type { Log } from '../log';

export interface DeployedModel {
  name: string;
  protocol: ProtocolName;
  /** Under 'fss', the form of the gates ('auto' unless deployed with another). */
  fssGate: FssGate;
  /** Under 'fss', the width of the comparisons (64 unless deployed with another). */
  fssBits: number;
  topology: DeployRequest['topology'];
  weights: DeployRequest['weights'];
  spec: ModelSpec;
  /** Identifies the public part; the servers check they all deployed the same. */
  digest: string;
  /** This server's shares of the parameters (null on server2, which holds none). */
  shares: (RingTensor | null)[];
}

interface StoredManifest {
  version: 1;
  name: string;
  protocol: ProtocolName;
  /** Absent in models stored before it existed, and for 'auto'. */
  fssGate?: FssGate;
  /** Absent in models stored before it existed, and for 64. */
  fssBits?: number;
  topology: DeployRequest['topology'];
  weights: DeployRequest['weights'];
  digest: string;
  shares: { file: string; shape: number[]; sha256: string }[] | null;
}

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** The spec of a deploy request, checked as the owner's loader checks it (layers, weights). */
export function specOf(req: Pick<DeployRequest, 'topology' | 'weights' | 'protocol'>): ModelSpec {
  const shapes = new Map(req.weights.map((w) => [w.name, w.shape]));
  const spec = parseTopology(req.topology, (n) => shapes.get(n));
  if (spec.needsSecureNN && !isExact(req.protocol)) throw new Error(`the model compares values (max pooling, relu6, leaky relu, sigmoid, ...), which the ${req.protocol} protocol cannot do exactly: deploy it with 'securenn' or 'fss'`);
  for (const p of spec.params) {
    if (p.derive) continue; // computed by the owner; its sources were checked by parseTopology
    const n = p.shape.reduce((a, b) => a * b, 1);
    const m = shapes.get(p.weight)!.reduce((a, b) => a * b, 1);
    if (n !== m) throw new Error(`weight '${p.weight}' has shape [${shapes.get(p.weight)}], which cannot be used as [${p.shape}]`);
  }
  return spec;
}

export function digestOf(req: Pick<DeployRequest, 'topology' | 'weights' | 'protocol' | 'fssGate' | 'fssBits'>): string {
  // The gate form and the comparisons' width are part of what the servers compute together; 'auto'
  // and 64 leave the digest as it was before the options existed, so stored models keep theirs.
  const gate = req.fssGate && req.fssGate !== 'auto' ? { fssGate: req.fssGate } : {};
  const bits = req.fssBits !== undefined && req.fssBits !== 64 ? { fssBits: req.fssBits } : {};
  return sha256(Buffer.from(JSON.stringify({ protocol: req.protocol, ...gate, ...bits, topology: req.topology, weights: req.weights })));
}

export function infoOf(m: DeployedModel): ModelInfo {
  return { name: m.name, protocol: m.protocol, ...(m.protocol === 'fss' ? { fssGate: m.fssGate, fssBits: m.fssBits } : {}), inputShape: m.spec.inputShape, ...(m.spec.inputEncoding ? { inputEncoding: m.spec.inputEncoding } : {}), layers: m.spec.layers, finalActivation: m.spec.finalActivation };
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

  /** Persists a model atomically (replacing an older one of the same name). */
  save(m: DeployedModel): void {
    const final = this.#pathOf(m.name);
    const tmp = this.#pathOf(m.name, `.tmp-${randomBytes(4).toString('hex')}-`);
    fs.mkdirSync(tmp, { mode: 0o700 });
    try {
      const shares = m.shares.every((s) => s === null)
        ? null
        : m.shares.map((s, i) => {
            const bytes = s!.toBytes();
            const file = `share-${i}.bin`;
            fs.writeFileSync(path.join(tmp, file), bytes, { mode: 0o600 });
            return { file, shape: [...s!.shape], sha256: sha256(bytes) };
          });
      const gate = m.fssGate !== 'auto' ? { fssGate: m.fssGate } : {};
      const bits = m.fssBits !== 64 ? { fssBits: m.fssBits } : {};
      const manifest: StoredManifest = { version: 1, name: m.name, protocol: m.protocol, ...gate, ...bits, topology: m.topology, weights: m.weights, digest: m.digest, shares };
      fs.writeFileSync(path.join(tmp, 'model.json'), JSON.stringify(manifest));
      fs.rmSync(final, { recursive: true, force: true });
      fs.renameSync(tmp, final);
    } catch (e) {
      fs.rmSync(tmp, { recursive: true, force: true });
      throw e;
    }
  }

  /** Removes a stored model (renamed aside first, so a crash never leaves half of one); false if absent. */
  remove(name: string): boolean {
    const final = this.#pathOf(name);
    if (!fs.existsSync(final)) return false;
    const aside = this.#pathOf(name, `.removed-${randomBytes(4).toString('hex')}-`);
    fs.renameSync(final, aside);
    fs.rmSync(aside, { recursive: true, force: true });
    return true;
  }

  /** Loads every stored model; a damaged one is logged and left out, the rest still load. */
  loadAll(expectShares: boolean): DeployedModel[] {
    const out: DeployedModel[] = [];
    for (const name of fs.readdirSync(this.dir).sort()) {
      // An interrupted save or removal (this version's names, and older versions' '.<name>.tmp-').
      if (/^\.(?:tmp-[0-9a-f]{8}-|removed-[0-9a-f]{8}-|.+\.tmp-[0-9a-f]{8}$)/.test(name)) {
        fs.rmSync(path.join(this.dir, name), { recursive: true, force: true });
        continue;
      }
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
    const m = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8')) as StoredManifest;
    if (m.version !== 1 || m.name !== name) throw new Error('model.json is not a stored model of this name');
    const spec = specOf(m);
    const fssGate = m.fssGate === undefined ? 'auto' : checkFssGate(m.fssGate, 'model.json');
    const fssBits = m.fssBits === undefined ? 64 : checkFssBits(m.fssBits, 'model.json');
    if (digestOf(m) !== m.digest) throw new Error('model.json does not match its digest');
    let shares: (RingTensor | null)[];
    if (!expectShares) shares = spec.params.map(() => null);
    else {
      if (!m.shares || m.shares.length !== spec.params.length) throw new Error('the shares are missing');
      shares = m.shares.map((s, i) => {
        const bytes = fs.readFileSync(path.join(dir, s.file));
        if (sha256(bytes) !== s.sha256) throw new Error(`${s.file} fails its checksum`);
        const want = spec.params[i].shape;
        if (s.shape.join() !== want.join() || bytes.byteLength !== 8 * want.reduce((a, b) => a * b, 1)) throw new Error(`${s.file} has the wrong size`);
        return RingTensor.fromBytes(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), want, 'ring64');
      });
    }
    return { name: m.name, protocol: m.protocol, fssGate, fssBits, topology: m.topology, weights: m.weights, spec, digest: m.digest, shares };
  }
}
