// The DPF's per-element work (native/src/fss/dpf.h: construction, key layout, randomness) as
// TFE_HD functions over the device's fixed-key hash (dcf_device.h): the CUDA kernels (fss_dcf.cu's
// DpfKeygen, DpfEval) run them one thread per element, and the host check
// (test/host_check_dpf.cc) compiles them with g++ and compares them word for word with the CPU
// kernels (dpf.cc). The per-level steps are dpf.h's own, so only the hashing differs.
#pragma once
#include <cstdint>

#include "core/hd.h"
#include "cuda/dcf_device.h"
#include "fss/dpf.h"

namespace tfe {
namespace cuda {

// Both parties' DPF keys for one element from the drawn root blocks d0, d1 (dcfRootSeeds): word w
// of a key at k[w * stride] (dcf.h "Tiles"). Masks, not branches, on alpha's bits (dpf.h).
TFE_HD void dpfKeygenElement(const AesRoundKeys* fk, const uint32_t* t0, int bits, uint64_t alpha, uint64_t beta, DcfBlock d0, DcfBlock d1,
                             uint64_t* k0, uint64_t* k1, int64_t stride) {
  const uint64_t domain = dcfDomainMaskHd(bits);
  fss::DpfDealer st;
  fss::dpfKeygenRoot(st, d0.lo, d0.hi, d1.lo, d1.hi, k0, k1, stride);
  for (int level = 0; level < bits; ++level) {
    uint64_t Llo[2], Lhi[2], Rlo[2], Rhi[2];
    TFE_DCF_UNROLL
    for (int b = 0; b < 2; ++b) {
      const DcfBlock s{st.sLo[b], st.sHi[b]};
      const DcfBlock L = dcfHash(fk, kDcfLeft, t0, s), R = dcfHash(fk, kDcfRight, t0, s);
      Llo[b] = L.lo, Lhi[b] = L.hi, Rlo[b] = R.lo, Rhi[b] = R.hi;
    }
    uint64_t cwLo, cwHi;
    fss::dpfKeygenLevel(st, Llo, Lhi, Rlo, Rhi, (alpha & domain) >> (bits - 1 - level) & 1, cwLo, cwHi);
    const int64_t w = fss::dpfLevelWord(level);
    k0[w * stride] = k1[w * stride] = cwLo;
    k0[(w + 1) * stride] = k1[(w + 1) * stride] = cwHi;
  }
  const int64_t fw = fss::dpfFinalWord(bits);
  k0[fw * stride] = k1[fw * stride] = fss::dpfKeygenFinal(st, beta);
}

// One party's share of beta [x = alpha] at public x (dpf.cc's evalBatch, one element).
TFE_HD uint64_t dpfEvalElement(const AesRoundKeys* fk, const uint32_t* t0, int bits, uint64_t party, const uint64_t* k, int64_t stride,
                               uint64_t x) {
  x &= dcfDomainMaskHd(bits);
  fss::DpfWalker st;
  fss::dpfEvalRoot(st, k, stride, party);
  for (int level = 0; level < bits; ++level) {
    const uint64_t dir = x >> (bits - 1 - level) & 1;
    const DcfBlock child = dcfHash(fk, dir ? kDcfRight : kDcfLeft, t0, DcfBlock{st.sLo, st.sHi});
    fss::dpfEvalLevel(st, k, stride, level, dir, child.lo, child.hi);
  }
  return fss::dpfEvalOutput(st, k, stride, bits, party);
}

}  // namespace cuda
}  // namespace tfe
