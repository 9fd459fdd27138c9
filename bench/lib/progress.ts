// A progress bar with an ETA on stderr, for the long runs (redrawn in place on a TTY, a line per
// 10% otherwise so CI logs stay short).
export class Progress {
  #start = performance.now();
  #lastDecile = -1;

  constructor(readonly label: string, readonly total: number) {}

  tick(done: number): void {
    const frac = this.total ? done / this.total : 1;
    const elapsed = (performance.now() - this.#start) / 1000;
    const eta = frac > 0 ? elapsed * (1 / frac - 1) : Number.NaN;
    const width = 28;
    const bar = '#'.repeat(Math.round(frac * width)).padEnd(width, '.');
    const line = `${this.label.padEnd(24)} [${bar}] ${done}/${this.total}  ${elapsed.toFixed(0)} s, ETA ${Number.isFinite(eta) ? eta.toFixed(0) : '?'} s`;
    if (process.stderr.isTTY) process.stderr.write(`\r${line}${done >= this.total ? '\n' : ''}`);
    else {
      const decile = Math.floor(frac * 10);
      if (decile !== this.#lastDecile) {
        this.#lastDecile = decile;
        process.stderr.write(`${line}\n`);
      }
    }
  }
}
