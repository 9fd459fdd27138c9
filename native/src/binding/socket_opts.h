// TCP options that Node does not expose, on a socket Node owns (socket_opts.cc).
#pragma once

#include <napi.h>

namespace tfe {

void registerSocketOpts(Napi::Env env, Napi::Object exports);

}  // namespace tfe
