// The whole protocol suite again under SecureNN, with the same test bodies as Pond's.
import { protocolSuite } from './helpers/protocol_suite';

protocolSuite('securenn');
