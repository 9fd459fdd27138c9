// AES-128-GCM in place for the server links' bulk lanes (lane_aead.cc).
#pragma once

#include <napi.h>

namespace tfe {

void registerLaneAead(Napi::Env env, Napi::Object exports);

}  // namespace tfe
