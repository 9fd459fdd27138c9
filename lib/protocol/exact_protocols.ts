// The exact protocols by name: a new exact protocol adds its line here (and its name and traits
// in protocols.ts). test/protocol_interface.test.ts checks that the exact protocols of
// PROTOCOL_TRAITS and this list agree.
import type { ExactProtocol } from './exact_protocol';
import { fss } from './fss';
import type { ProtocolName } from './protocols';
import { securenn } from './securenn';

export const EXACT_PROTOCOLS: Partial<Record<ProtocolName, ExactProtocol>> = { securenn, fss };

/** Whether `name` has an equality gate of its own (ExactProtocol.isZero: FSS's one DPF key), cheaper than comparisons. */
export const hasEqualityGate = (name: ProtocolName): boolean => EXACT_PROTOCOLS[name]?.isZero !== undefined;
