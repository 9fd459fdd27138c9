// Imported first by the `tfe` command, before the rest of the library loads: a `tfe server`
// takes SIGHUP from its first moments. Node's default action for SIGHUP ends the process, and
// loading the library takes a few hundred milliseconds, so an operator's reload sent while a
// server was starting (a config-management run restarting and reloading at once) killed it.
// Until the server has its TLS material, a hang-up has nothing to reload: the files are read as
// it starts.

let onHangup: () => void = () => undefined;

if (process.argv[2] === 'server') process.on('SIGHUP', () => onHangup());

/** What a `tfe server` does on SIGHUP from now on. */
export function handleHangup(fn: () => void): void {
  onHangup = fn;
}
