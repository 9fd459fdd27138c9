// Pond inputs and outputs: provider formats, reveal, and defineOutput to one player: the shared
// protocol suite run for 'pond'.
import { ioSuite } from './helpers/protocol_suite';

ioSuite('pond');
