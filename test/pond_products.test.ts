// Pond's products (mul, square, matmul, conv2d) and avgPool2d against fixed-point and float64
// references with derived error bounds: the shared protocol suite run for 'pond'.
import { productSuite } from './helpers/protocol_suite';

productSuite('pond');
