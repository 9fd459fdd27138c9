// The deadline of a prediction's input (inputTimeoutMs): a request that never sends its input
// must not hold its memory estimate and session for the whole queryTimeoutMs.
//
// A timer alone also aborted honest queries on a busy server: when the event loop is held (a
// long synchronous step, or a CPU shared with the other servers' processes) past the deadline
// while the input is already in the socket, the timer's turn comes before the socket is read, so
// it fired with the input one turn away. So the timer only looks: the abort waits for the I/O of
// that turn of the loop (setImmediate runs after it), and does not come if the input came then.

/** awaited(): the query is ready to take its input (the deadline starts); came(): it has it. */
export interface InputDeadline {
  awaited(): void;
  came(): void;
}

export function inputDeadline(ms: number, abort: (reason: string) => void): InputDeadline {
  let timer: NodeJS.Timeout | undefined;
  let done = false;
  return {
    awaited: () => {
      timer = setTimeout(() => setImmediate(() => done || abort(`the client's input did not come within ${ms} ms (inputTimeoutMs)`)), ms);
    },
    came: () => {
      done = true;
      clearTimeout(timer);
    },
  };
}
