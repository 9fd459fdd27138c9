// The CLI's flags for the protocols' deploy options (lib/protocol/protocol_options.ts), made from
// their specs: `tfe deploy` and `tfe verify` take every protocol's, and check them there
// (flagOptions), so a protocol's options need no code here.
import type { Command } from 'commander';

import { OPTION_SPECS } from '../protocol/protocol_options';

/** Adds every protocol option's flag to `cmd`, with its help under `command`. */
export function addProtocolOptionFlags(cmd: Command, command: 'deploy' | 'verify'): Command {
  for (const s of OPTION_SPECS) cmd.option(s.flag, s.help[command]);
  return cmd;
}

/** The options a model's listing carries, for `--json` helps: "fssGate and fssBits (fss only), ". */
export function listedOptionsHelp(): string {
  const byProtocol = new Map<string, string[]>();
  for (const s of OPTION_SPECS) byProtocol.set(s.protocol, [...(byProtocol.get(s.protocol) ?? []), s.name]);
  return [...byProtocol].map(([p, names]) => `${names.join(' and ')} (${p} only), `).join('');
}
