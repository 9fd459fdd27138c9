// The Node flags a server process should start with, and which of them a running one lacks.
// A server's JavaScript heap is small (about 9 MB) while tens of MB of wire buffers per query pass
// through it; V8 sizes the old generation's limit from the live heap, so the headroom above 9 MB
// stayed within the young generation's 16 MB and V8 started a full marking every 50 ms or so.
// Configured, the limit stays at 64 MB at least: back to back, FSS C_max's compute servers spent
// about a third less CPU per query (bench/RESULTS.md, "Freeing wire buffers at once"). V8 reads it
// only at start-up (setting it from JavaScript changed nothing) and NODE_OPTIONS refuses it, so
// local clusters pass it to the servers they spawn and operators put it on the command line
// (docs/operators.md, "Starting a server"); a server started without it says so in its log.

export const SERVER_NODE_FLAGS: readonly string[] = ['--initial-old-space-size=64'];

/** The flags of SERVER_NODE_FLAGS that `execArgv` does not set (to any value; V8 takes _ for -). */
export function missingServerFlags(execArgv: readonly string[]): string[] {
  const given = new Set(execArgv.map((a) => a.split('=')[0].replace(/_/g, '-')));
  return SERVER_NODE_FLAGS.filter((f) => !given.has(f.split('=')[0]));
}
