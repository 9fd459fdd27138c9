// Kernel names: the contract between the op layer and every backend (CPU now, CUDA later).
export const Add = 'Add';
export const AddN = 'AddN';
export const Sub = 'Sub';
export const Mul = 'Mul';
export const Neg = 'Neg';
export const AddScalar = 'AddScalar';
export const SubScalar = 'SubScalar';
export const ScalarSub = 'ScalarSub';
export const MulScalar = 'MulScalar';
export const ShiftRightArithmetic = 'ShiftRightArithmetic';
export const ShiftRightLogical = 'ShiftRightLogical';
export const ShiftLeft = 'ShiftLeft';
export const BitExtract = 'BitExtract';
export const BitDecompose = 'BitDecompose';
export const Xor = 'Xor';
export const And = 'And';
export const Cast = 'Cast';
export const PrefixSumReverseExclusive = 'PrefixSumReverseExclusive';
export const MatMul = 'MatMul';
export const Conv2D = 'Conv2D';
export const DepthwiseConv2D = 'DepthwiseConv2D';
export const Im2Col = 'Im2Col';
export const Col2Im = 'Col2Im';
export const Reshape = 'Reshape';
export const Transpose = 'Transpose';
export const Slice = 'Slice';
export const Concat = 'Concat';
export const Pad = 'Pad';
export const Gather = 'Gather';
export const ReduceSum = 'ReduceSum';
export const EncodeFixedPoint = 'EncodeFixedPoint';
export const DecodeFixedPoint = 'DecodeFixedPoint';
export const PrgRing = 'PrgRing';
export const OddRingAdd = 'OddRingAdd';
export const PrivateCompareShares = 'PrivateCompareShares';
export const AnyZeroLastAxis = 'AnyZeroLastAxis';
export const PrivateCompareMasked = 'PrivateCompareMasked';
export const PrivateCompareReveal = 'PrivateCompareReveal';
export const BitsMinusPrgField = 'BitsMinusPrgField';
export const WrapBit = 'WrapBit';
export const ShareConvertFinish = 'ShareConvertFinish';
export const MsbUnmask = 'MsbUnmask';
export const OddRingSub = 'OddRingSub';
export const PrgBits = 'PrgBits';
export const PrgField = 'PrgField';
export const PrgPermutation = 'PrgPermutation';
export const PermuteLastAxis = 'PermuteLastAxis';
export const DcfKeygen = 'DcfKeygen';
export const DcfEval = 'DcfEval';
export const DcfKeygen2 = 'DcfKeygen2';
export const DcfEval2 = 'DcfEval2';
export const DcfKeygenMany = 'DcfKeygenMany';
export const DcfEvalMany = 'DcfEvalMany';
export const DcfBitKeygen = 'DcfBitKeygen';
export const DcfBitEval = 'DcfBitEval';
export const DpfKeygen = 'DpfKeygen';
export const DpfEval = 'DpfEval';
export const DpfEvalAll = 'DpfEvalAll';
export const FssSignFinish = 'FssSignFinish';

export type KernelName =
  | typeof Add | typeof AddN | typeof Sub | typeof Mul | typeof Neg
  | typeof AddScalar | typeof SubScalar | typeof ScalarSub | typeof MulScalar
  | typeof ShiftRightArithmetic | typeof ShiftRightLogical | typeof ShiftLeft
  | typeof BitExtract | typeof BitDecompose | typeof Xor | typeof And | typeof Cast
  | typeof PrefixSumReverseExclusive
  | typeof MatMul | typeof Conv2D | typeof DepthwiseConv2D | typeof Im2Col | typeof Col2Im
  | typeof Reshape | typeof Transpose | typeof Slice | typeof Concat | typeof Pad | typeof Gather
  | typeof ReduceSum | typeof EncodeFixedPoint | typeof DecodeFixedPoint
  | typeof OddRingAdd | typeof OddRingSub | typeof PrivateCompareShares | typeof AnyZeroLastAxis
  | typeof PrivateCompareMasked | typeof PrivateCompareReveal | typeof BitsMinusPrgField | typeof WrapBit
  | typeof ShareConvertFinish | typeof MsbUnmask
  | typeof PrgRing | typeof PrgBits | typeof PrgField | typeof PrgPermutation | typeof PermuteLastAxis
  | typeof DcfKeygen | typeof DcfEval | typeof DcfKeygen2 | typeof DcfEval2 | typeof DcfKeygenMany | typeof DcfEvalMany | typeof DcfBitKeygen | typeof DcfBitEval | typeof DpfKeygen | typeof DpfEval | typeof DpfEvalAll
  | typeof FssSignFinish;
