// Arithmetic in Z_(2^64 - 1) on ring64 tensors (SecureNN's share conversion). 2^64 - 1 reads as 0.
import type { RingTensor } from '../tensor/ring_tensor';
import * as K from './kernel_names';
import { typedBinary } from './typed_binary';

/** a + b mod 2^64 - 1. */
export const oddAdd = (a: RingTensor, b: RingTensor) => typedBinary('oddAdd', K.OddRingAdd, 'ring64', a, b);
/** a - b mod 2^64 - 1. */
export const oddSub = (a: RingTensor, b: RingTensor) => typedBinary('oddSub', K.OddRingSub, 'ring64', a, b);
