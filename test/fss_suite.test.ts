// The whole protocol suite again under FSS (DReLU from DCF keys dealt by server2), with the same
// test bodies as Pond's and SecureNN's.
import { protocolSuite } from './helpers/protocol_suite';

protocolSuite('fss');
