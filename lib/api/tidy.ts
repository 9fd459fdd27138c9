// Scoped disposal, as tf.tidy: tensors created while `fn` runs and not returned are disposed
// once the returned tensors are ready (they may still be computing from them until then).
import type { AnyTensor } from './tensor';

const scopes: Set<AnyTensor>[] = [];

/** Called by tensor constructors. */
export function track(t: AnyTensor): void {
  scopes[scopes.length - 1]?.add(t);
}

type Kept = AnyTensor | AnyTensor[] | void;

export function tidy<T extends Kept>(fn: () => T): T {
  const scope = new Set<AnyTensor>();
  scopes.push(scope);
  let result: T;
  try {
    result = fn();
  } finally {
    scopes.pop();
  }
  if (result && typeof (result as unknown as Promise<unknown>).then === 'function')
    throw new TypeError('tidy: fn must be synchronous (ops return tensors at once; await them after tidy)');
  const keep = new Set<AnyTensor>(Array.isArray(result) ? result : result ? [result as AnyTensor] : []);
  for (const t of keep) track(t); // kept tensors belong to the enclosing scope
  const ready = [...keep].map((t) => (t.kind === 'private' ? t.shares : t.values));
  void Promise.allSettled(ready).then(() => {
    for (const t of scope) if (!keep.has(t)) void t.dispose();
  });
  return result;
}

/**
 * Runs `fn` (synchronous) and returns what it returned with every tensor created meanwhile, for
 * callers that free them all at a moment of their choosing (a served query, when it ends).
 */
export function collect<T>(fn: () => T): { result: T; tensors: AnyTensor[] } {
  const scope = new Set<AnyTensor>();
  scopes.push(scope);
  try {
    return { result: fn(), tensors: [...scope] };
  } finally {
    scopes.pop();
  }
}
