// Tasks run one after another per key, in the order they are given; different keys run side by
// side. The offline pool (pool.ts) makes one model's recordings of one batch size in a lane, so
// the one the next query takes is shipped first instead of all of them finishing together.

export class SerialLanes {
  /** The last task queued on each lane, settled (a failure does not hold up the lane). */
  #tails = new Map<string, Promise<void>>();

  /** Runs `task` once every task queued on `key` before it has settled; resolves as it does. */
  run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const mine = (this.#tails.get(key) ?? Promise.resolve()).then(task);
    const settled = mine.then(
      () => undefined,
      () => undefined,
    );
    this.#tails.set(key, settled);
    void settled.then(() => {
      if (this.#tails.get(key) === settled) this.#tails.delete(key);
    });
    return mine;
  }

  /** Lanes with a task queued or running. */
  get busy(): number {
    return this.#tails.size;
  }
}
