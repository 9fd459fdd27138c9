// TCP_USER_TIMEOUT on a server lane's socket (lib/net/lane.ts), which Node's net module cannot
// set. A lane whose peer stops acknowledging while data is outstanding (an on-path box that
// drops a busy lane's packets, a host gone without a reset) is otherwise found only by TCP's
// retransmission timeout, about 15 minutes, while its link's WebSocket stays healthy on pings
// and every query on it waits for its own timeout. With the option the kernel ends the
// connection once sent data has gone unacknowledged for that long (and keep-alive probes, which
// the lane also sends, are bounded by it too), the lane closes and its link is dialed again.
//
// tcpUserTimeout(fd, ms?) -> number: sets the option when ms is given, then returns what the
// kernel holds (ms; 0 is the system's default behaviour), or -1 where the option does not exist
// (not Linux). The fd is the one Node's TCP handle owns; nothing here closes or keeps it.
#include "binding/socket_opts.h"

#include <cerrno>
#include <cstring>
#include <string>

#if defined(__linux__)
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#endif

#include "binding/convert.h"

namespace tfe {
namespace {

Napi::Value TcpUserTimeout(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* usage = "tcpUserTimeout(fd: integer >= 0, ms?: integer in [0, 2^31))";
  TFE_ARG_CHECK(env, info.Length() >= 1 && info[0].IsNumber(), usage);
  double fdv = info[0].As<Napi::Number>().DoubleValue();
  TFE_ARG_CHECK(env, fdv >= 0 && fdv <= 2147483647.0 && fdv == static_cast<double>(static_cast<int>(fdv)), usage);
  bool set = info.Length() >= 2 && !info[1].IsUndefined();
  double msv = 0;
  if (set) {
    TFE_ARG_CHECK(env, info[1].IsNumber(), usage);
    msv = info[1].As<Napi::Number>().DoubleValue();
    TFE_ARG_CHECK(env, msv >= 0 && msv <= 2147483647.0 && msv == static_cast<double>(static_cast<unsigned>(msv)), usage);
  }
#if defined(__linux__) && defined(TCP_USER_TIMEOUT)
  int fd = static_cast<int>(fdv);
  auto fail = [&](const char* what) {
    throw Napi::Error::New(env, std::string(what) + " TCP_USER_TIMEOUT on fd " + std::to_string(fd) + ": " + std::strerror(errno) + TFE_WHERE);
  };
  if (set) {
    unsigned ms = static_cast<unsigned>(msv);
    if (setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &ms, sizeof ms) != 0) fail("cannot set");
  }
  unsigned got = 0;
  socklen_t len = sizeof got;
  if (getsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &got, &len) != 0) fail("cannot read");
  return Napi::Number::New(env, got);
#else
  return Napi::Number::New(env, -1);
#endif
}

}  // namespace

void registerSocketOpts(Napi::Env env, Napi::Object exports) {
  exports.Set("tcpUserTimeout", Napi::Function::New(env, TcpUserTimeout));
}

}  // namespace tfe
