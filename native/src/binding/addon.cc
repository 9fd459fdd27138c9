// The N-API surface: one generic kernel entry point (sync and async), tensor transfer in and
// out of native memory, and introspection. TypeScript validates; this layer converts and dispatches.
#include <napi.h>

#include <cstring>
#include <fstream>
#include <memory>

#if defined(__linux__)
#include <sys/random.h>
#endif

#include "binding/backend.h"
#include "binding/convert.h"
#include "binding/lane_aead.h"
#include "binding/socket_opts.h"
#include "core/host_allocator.h"
#include "core/registry.h"
#include "core/thread_pool.h"
#include "prg/aes128.h"

namespace tfe {
namespace {

// Wraps an entry point so that any C++ exception becomes a JS exception with its location.
template <typename Fn>
Napi::Value guard(const Napi::CallbackInfo& info, const char* where, Fn fn) {
  try {
    return fn();
  } catch (const Napi::Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Napi::Error::New(info.Env(), std::string(e.what()) + " [" + where + "]");
  }
}
#define TFE_ENTRY(info, ...) return guard(info, __FILE__ ":" TFE_STR(__LINE__), [&]() -> Napi::Value __VA_ARGS__)

struct KernelCall {
  std::string name;
  const KernelInfo* kernel;
  Inputs inputs;
  Attrs attrs;
};

KernelCall prepare(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  TFE_ARG_CHECK(env, info.Length() >= 2 && info[0].IsString() && info[1].IsArray(),
                "expected (kernelName: string, inputs: handle[], attrs?: object)");
  KernelCall c;
  c.name = info[0].As<Napi::String>().Utf8Value();
  c.kernel = resolveKernel(c.name);
  TFE_ARG_CHECK(env, c.kernel != nullptr, "unknown kernel '" + c.name + "'");
  Napi::Array in = info[1].As<Napi::Array>();
  TFE_ARG_CHECK(env, c.kernel->arity < 0 || static_cast<int>(in.Length()) == c.kernel->arity,
                c.name + ": expected " + std::to_string(c.kernel->arity) + " inputs, got " + std::to_string(in.Length()));
  for (uint32_t i = 0; i < in.Length(); ++i) c.inputs.push_back(unwrapTensor(env, in.Get(i), c.name + ": input " + std::to_string(i)));
  c.attrs = toAttrs(env, info.Length() > 2 ? info[2] : env.Undefined());
  return c;
}

Napi::Array describeAll(Napi::Env env, const Outputs& outs) {
  Napi::Array a = Napi::Array::New(env, outs.size());
  for (size_t i = 0; i < outs.size(); ++i) a.Set(static_cast<uint32_t>(i), describeTensor(env, outs[i]));
  return a;
}

// Runs a kernel on the libuv pool so that the JS thread (and other parties' kernels) keep going.
class KernelWorker : public Napi::AsyncWorker {
 public:
  KernelWorker(Napi::Env env, KernelCall call) : Napi::AsyncWorker(env, "tfe.kernel"), call_(std::move(call)), deferred_(env) {}
  Napi::Promise promise() { return deferred_.Promise(); }

  void Execute() override {
    try {
      outputs_ = call_.kernel->fn(call_.inputs, call_.attrs);
    } catch (const std::exception& e) {
      SetError(message(e.what()));
    }
    call_.inputs.clear();  // drop references to inputs as soon as the kernel is done
  }
  void OnOK() override { deferred_.Resolve(describeAll(Env(), outputs_)); }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  std::string message(const std::string& what) const {
    // Kernel errors already start with the op name; others get the kernel name prefixed.
    return what.compare(0, call_.name.size() + 1, call_.name + ":") == 0 ? what : call_.name + ": " + what;
  }
  KernelCall call_;
  Napi::Promise::Deferred deferred_;
  Outputs outputs_;
};

Napi::Value Run(const Napi::CallbackInfo& info) {
  TFE_ENTRY(info, {
    auto* w = new KernelWorker(info.Env(), prepare(info));
    Napi::Promise p = w->promise();
    w->Queue();
    return p;
  });
}

Napi::Value RunSync(const Napi::CallbackInfo& info) {
  TFE_ENTRY(info, {
    KernelCall c = prepare(info);
    Outputs outs;
    try {
      outs = c.kernel->fn(c.inputs, c.attrs);
    } catch (const std::exception& e) {
      std::string what = e.what();
      throw Napi::Error::New(info.Env(), what.compare(0, c.name.size() + 1, c.name + ":") == 0 ? what : c.name + ": " + what);
    }
    return describeAll(info.Env(), outs);
  });
}

// The optional trailing stream argument of fromBytes/toBytes (0 when absent).
int streamArg(const Napi::CallbackInfo& info, size_t index) {
  if (info.Length() <= index || info[index].IsUndefined()) return 0;
  TFE_ARG_CHECK(info.Env(), info[index].IsNumber(), "stream must be a number");
  int s = info[index].As<Napi::Number>().Int32Value();
  TFE_ARG_CHECK(info.Env(), s >= 0 && s < 64, "stream must be in [0, 64)");
  return s;
}

// fromBytes(view: ArrayBufferView, shape: number[], dtype: string, stream?) -> handle (copies)
// Field and bit elements must be below their modulus (one byte each): a peer's bytes are checked
// before any kernel sees them.
void checkElements(Napi::Env env, const uint8_t* src, size_t n, DType dt, uint32_t mod) {
  if (dt != DType::Field && dt != DType::Bit) return;
  uint32_t m = dt == DType::Field ? mod : 2;
  // A branch-free maximum first (vectorised: received [n, 64] shares run to tens of MB, on the
  // JS thread); the element-by-element scan only runs to name the first bad element.
  uint8_t top = 0;
  for (size_t i = 0; i < n; ++i) top = src[i] > top ? src[i] : top;
  if (top >= m)
    for (size_t i = 0; i < n; ++i)
      TFE_ARG_CHECK(env, src[i] < m, "element " + std::to_string(i) + " = " + std::to_string(src[i]) + " is not in [0, " + std::to_string(m) + ") for dtype " + dtypeToString(dt, mod));
}

Napi::Value FromBytes(const Napi::CallbackInfo& info) {
  TFE_ENTRY(info, {
    Napi::Env env = info.Env();
    TFE_ARG_CHECK(env, (info.Length() == 3 || info.Length() == 4) && info[0].IsTypedArray(),
                  "expected (data: TypedArray, shape: number[], dtype: string, stream?: number)");
    Napi::TypedArray view = info[0].As<Napi::TypedArray>();
    Shape shape = toShape(env, info[1], "shape");
    TFE_ARG_CHECK(env, info[2].IsString(), "dtype must be a string");
    DType dt;
    uint32_t mod;
    parseDType(info[2].As<Napi::String>().Utf8Value(), &dt, &mod);
    int stream = streamArg(info, 3);
    size_t need = static_cast<size_t>(numel(shape)) * elemSize(dt);
    TFE_ARG_CHECK(env, view.ByteLength() == need,
                  "data holds " + std::to_string(view.ByteLength()) + " bytes but shape " + shapeStr(shape) + " of " +
                      dtypeToString(dt, mod) + " needs " + std::to_string(need));
    const uint8_t* src = static_cast<const uint8_t*>(view.ArrayBuffer().Data()) + view.ByteOffset();
    // Checked on the caller's bytes, before they reach (possibly device) memory.
    checkElements(env, src, need, dt, mod);
    Tensor t = newTensor(shape, dt, mod, stream);
    copyFromHost(t, src, need, stream);
    return wrapTensor(env, std::move(t));
  });
}

// The (handle, stream?) arguments of toBytes and toBytesAsync.
Tensor downloadSource(const Napi::CallbackInfo& info) {
  TFE_ARG_CHECK(info.Env(), info.Length() == 1 || info.Length() == 2, "expected (handle, stream?)");
  return unwrapTensor(info.Env(), info[0], "tensor");
}

// toBytes(handle, stream?) -> ArrayBuffer (a copy; on a device this waits for the value)
Napi::Value ToBytes(const Napi::CallbackInfo& info) {
  TFE_ENTRY(info, {
    Napi::Env env = info.Env();
    Tensor t = downloadSource(info);
    size_t n = static_cast<size_t>(t.size()) * elemSize(t.dtype);
    Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(env, n);
    copyToHost(t, ab.Data(), n, streamArg(info, 1));
    return ab;
  });
}

// bytesView(handle) -> ArrayBuffer | undefined: a tensor's bytes without a copy, for the send
// path: an ArrayBuffer over its host memory that keeps that memory alive until the buffer is
// collected or detached (the endpoint detaches it once written). Tensors are immutable and the
// sender only reads it. Undefined for device memory (toBytes downloads that).
// emptyHost(shape, dtype) -> handle: a host tensor whose bytes are not yet written, for a
// received message decrypted straight into it (lib/serve/hold_on_arrival.ts) before anyone else
// holds it; then checkHost. Only where tensors live in host memory (the CPU module).
Napi::Value EmptyHost(const Napi::CallbackInfo& info) {
  TFE_ENTRY(info, {
    Napi::Env env = info.Env();
    TFE_ARG_CHECK(env, info.Length() == 2 && info[1].IsString(), "expected (shape: number[], dtype: string)");
    Shape shape = toShape(env, info[0], "shape");
    DType dt;
    uint32_t mod;
    parseDType(info[1].As<Napi::String>().Utf8Value(), &dt, &mod);
    Tensor t = newTensor(shape, dt, mod, 0);
    TFE_ARG_CHECK(env, t.storage->space() == MemSpace::Host, "emptyHost: this module's tensors are not in host memory");
    return wrapTensor(env, std::move(t));
  });
}

// checkHost(handle): what fromBytes checks of the bytes it copies (field and bit elements below
// their modulus), for a tensor written in place (emptyHost).
Napi::Value CheckHost(const Napi::CallbackInfo& info) {
  TFE_ENTRY(info, {
    Napi::Env env = info.Env();
    TFE_ARG_CHECK(env, info.Length() == 1, "expected (handle)");
    Tensor t = unwrapTensor(env, info[0], "tensor");
    TFE_ARG_CHECK(env, t.storage->space() == MemSpace::Host, "checkHost: not a host tensor");
    checkElements(env, static_cast<const uint8_t*>(t.storage->data()), static_cast<size_t>(t.size()) * elemSize(t.dtype), t.dtype, t.modulus);
    return env.Undefined();
  });
}

Napi::Value BytesView(const Napi::CallbackInfo& info) {
  TFE_ENTRY(info, {
    Napi::Env env = info.Env();
    TFE_ARG_CHECK(env, info.Length() == 1, "expected (handle)");
    Tensor t = unwrapTensor(env, info[0], "tensor");
    if (t.storage->space() != MemSpace::Host) return env.Undefined();
    size_t n = static_cast<size_t>(t.size()) * elemSize(t.dtype);
    if (n == 0) return Napi::ArrayBuffer::New(env, 0);
    // Owned here until the buffer exists: a runtime that refuses external buffers (Electron's V8
    // sandbox) throws, and node-addon-api frees the data's finalizer but not this hint.
    auto keep = std::make_unique<std::shared_ptr<Storage>>(t.storage);
    Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(env, t.storage->data(), n, [](Napi::Env, void*, std::shared_ptr<Storage>* k) { delete k; }, keep.get());
    keep.release();
    return ab;
  });
}

// Waits for a download on the libuv pool; resolves with the ArrayBuffer it fills.
class DownloadWorker : public Napi::AsyncWorker {
 public:
  DownloadWorker(Napi::Env env, std::shared_ptr<PendingDownload> d, Napi::ArrayBuffer ab)
      : Napi::AsyncWorker(env, "tfe.download"), d_(std::move(d)), dst_(ab.Data()), deferred_(env) {
    ab_ = Napi::Persistent(ab);  // keeps the buffer (and so dst_) alive until resolved
  }
  Napi::Promise promise() { return deferred_.Promise(); }
  void Execute() override {
    try {
      finishDownload(*d_, dst_);
    } catch (const std::exception& e) {
      SetError(std::string("toBytesAsync: ") + e.what());
    }
    d_.reset();
  }
  void OnOK() override { deferred_.Resolve(ab_.Value()); }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  std::shared_ptr<PendingDownload> d_;
  void* dst_;
  Napi::Reference<Napi::ArrayBuffer> ab_;
  Napi::Promise::Deferred deferred_;
};

// toBytesAsync(handle, stream?) -> Promise<ArrayBuffer>: the copy is queued now; the wait for
// the value happens off the JS thread.
Napi::Value ToBytesAsync(const Napi::CallbackInfo& info) {
  TFE_ENTRY(info, {
    Napi::Env env = info.Env();
    Tensor t = downloadSource(info);
    size_t n = static_cast<size_t>(t.size()) * elemSize(t.dtype);
    Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(env, n);
    auto* w = new DownloadWorker(env, startDownload(t, n, streamArg(info, 1)), ab);
    Napi::Promise p = w->promise();
    w->Queue();
    return p;
  });
}

Napi::Value Release(const Napi::CallbackInfo& info) {
  TFE_ENTRY(info, {
    TFE_ARG_CHECK(info.Env(), info.Length() == 1 && hasTag(info.Env(), info[0], kTensorTag), "expected (handle): a tensor handle");
    Handle* h = info[0].As<Napi::External<Handle>>().Data();
    h->tensor.storage.reset();
    h->released = true;
    reportTensorMemory(info.Env());
    return info.Env().Undefined();
  });
}

// detach(buffer: ArrayBuffer) -> boolean: frees a JS buffer's memory now instead of at some later
// garbage collection (the buffer reads as empty afterwards). For wire buffers the caller owns
// alone: a received message once copied into native memory, a sent one once written. V8 counts
// such buffers as external memory and starts a full collection for every 64 MB of it that waits
// for one; detached, they never wait. False when V8 refuses (a buffer that cannot be detached).
Napi::Value Detach(const Napi::CallbackInfo& info) {
  TFE_ENTRY(info, {
    Napi::Env env = info.Env();
    TFE_ARG_CHECK(env, info.Length() == 1 && info[0].IsArrayBuffer(), "expected (buffer: ArrayBuffer)");
    napi_status st = napi_detach_arraybuffer(env, info[0]);
    if (st == napi_detachable_arraybuffer_expected) return Napi::Boolean::New(env, false);  // no exception is pending
    NAPI_THROW_IF_FAILED(env, st, Napi::Value());
    return Napi::Boolean::New(env, true);
  });
}

Napi::Value Stats(const Napi::CallbackInfo& info) {
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("handles", Napi::Number::New(info.Env(), static_cast<double>(Handle::liveCount())));
  o.Set("storages", Napi::Number::New(info.Env(), static_cast<double>(Storage::liveCount())));
  o.Set("bytes", Napi::Number::New(info.Env(), static_cast<double>(Storage::liveBytes())));
  HostCacheStats c = hostCacheStats();
  o.Set("cachedBytes", Napi::Number::New(info.Env(), static_cast<double>(c.cachedBytes)));
  return o;
}

Napi::Value Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("backend", backendName());
  for (const auto& kv : backendInfo()) {
    if (auto* s = std::get_if<std::string>(&kv.second)) o.Set(kv.first, *s);
    else if (auto* d = std::get_if<double>(&kv.second)) o.Set(kv.first, *d);
    else o.Set(kv.first, std::get<bool>(kv.second));
  }
#if defined(__clang__)
  o.Set("compiler", "clang " __clang_version__);
#elif defined(__GNUC__)
  o.Set("compiler", "gcc " __VERSION__);
#endif
#ifdef TFE_BUILD_SYSTEM
  o.Set("buildSystem", TFE_BUILD_SYSTEM);
#endif
  std::vector<std::string> names = resolvedKernelNames();
  Napi::Array k = Napi::Array::New(env, names.size());
  for (size_t i = 0; i < names.size(); ++i) k.Set(static_cast<uint32_t>(i), names[i]);
  o.Set("kernels", k);
  return o;
}

// On a libuv worker: malloc_trim walks every heap (149 ms over 1.2 GiB of free heap measured),
// which on the JS thread stalled the server's networking.
class TrimWorker : public Napi::AsyncWorker {
 public:
  TrimWorker(Napi::Env env, double seconds) : Napi::AsyncWorker(env, "tfe.trim"), seconds_(seconds), deferred_(env) {}
  Napi::Promise promise() { return deferred_.Promise(); }
  void Execute() override { released_ = hostCacheTrim(seconds_); }
  void OnOK() override { deferred_.Resolve(Napi::Number::New(Env(), static_cast<double>(released_))); }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  double seconds_;
  int64_t released_ = 0;
  Napi::Promise::Deferred deferred_;
};

Napi::Value TrimHostCache(const Napi::CallbackInfo& info) {
  TFE_ENTRY(info, {
    TFE_ARG_CHECK(info.Env(), info.Length() == 1 && info[0].IsNumber(), "expected (idleMs: number)");
    double ms = info[0].As<Napi::Number>().DoubleValue();
    TFE_ARG_CHECK(info.Env(), ms >= 0 && ms <= 86400e3, "idleMs must be in [0, 86400000]");
    auto* w = new TrimWorker(info.Env(), ms / 1000);
    Napi::Promise p = w->promise();
    w->Queue();
    return p;
  });
}

Napi::Value SetNumThreads(const Napi::CallbackInfo& info) {
  TFE_ENTRY(info, {
    TFE_ARG_CHECK(info.Env(), info.Length() == 1 && info[0].IsNumber(), "expected (threads: number)");
    int n = info[0].As<Napi::Number>().Int32Value();
    TFE_ARG_CHECK(info.Env(), n >= 1 && n <= 1024, "threads must be in [1, 1024]");
    setNumThreads(n);
    return info.Env().Undefined();
  });
}

// randomBytes(n) -> Uint8Array from the OS CSPRNG (getrandom, else /dev/urandom). Never weaker:
// if neither source works this throws rather than falling back.
Napi::Value RandomBytes(const Napi::CallbackInfo& info) {
  TFE_ENTRY(info, {
    Napi::Env env = info.Env();
    TFE_ARG_CHECK(env, info.Length() == 1 && info[0].IsNumber(), "expected (n: number)");
    int64_t n = info[0].As<Napi::Number>().Int64Value();
    TFE_ARG_CHECK(env, n >= 0 && n <= (1 << 20), "n must be in [0, 2^20]");
    Napi::Uint8Array out = Napi::Uint8Array::New(env, static_cast<size_t>(n));
    uint8_t* p = out.Data();
    size_t got = 0;
#if defined(__linux__)
    while (got < static_cast<size_t>(n)) {
      ssize_t r = getrandom(p + got, n - got, 0);
      if (r < 0) {
        if (errno == EINTR) continue;
        break;
      }
      got += static_cast<size_t>(r);
    }
#endif
    if (got < static_cast<size_t>(n)) {
      std::ifstream f("/dev/urandom", std::ios::binary);
      if (f.read(reinterpret_cast<char*>(p + got), n - got)) got = static_cast<size_t>(n);
    }
    if (got < static_cast<size_t>(n)) throw Napi::Error::New(env, "the OS CSPRNG is unavailable (getrandom and /dev/urandom both failed)" TFE_WHERE);
    return out;
  });
}

// aes128Ctr(key: Uint8Array(16), iv: Uint8Array(16), byteOffset: number, n: number, impl?: string)
// -> Uint8Array keystream. For known-answer tests and the PRG benchmark.
Napi::Value Aes128Ctr(const Napi::CallbackInfo& info) {
  TFE_ENTRY(info, {
    Napi::Env env = info.Env();
    TFE_ARG_CHECK(env, info.Length() >= 4 && info[0].IsTypedArray() && info[1].IsTypedArray() && info[2].IsNumber() && info[3].IsNumber(),
                  "expected (key: Uint8Array, iv: Uint8Array, byteOffset: number, n: number, impl?: string)");
    Napi::Uint8Array key = info[0].As<Napi::Uint8Array>(), iv = info[1].As<Napi::Uint8Array>();
    TFE_ARG_CHECK(env, key.ElementLength() == 16 && iv.ElementLength() == 16, "key and iv must be 16 bytes each");
    int64_t off = info[2].As<Napi::Number>().Int64Value(), n = info[3].As<Napi::Number>().Int64Value();
    TFE_ARG_CHECK(env, off >= 0 && n >= 0 && n <= (int64_t(1) << 31), "byteOffset and n must be non-negative, n <= 2^31");
    AesImpl impl = parseAesImpl(info.Length() > 4 && info[4].IsString() ? info[4].As<Napi::String>().Utf8Value() : "auto");
    AesKey k;
    aesExpandKey(key.Data(), &k);
    Napi::Uint8Array out = Napi::Uint8Array::New(env, static_cast<size_t>(n));
    aesCtrBytes(k, iv.Data(), static_cast<uint64_t>(off), static_cast<uint64_t>(n), out.Data(), impl);
    return out;
  });
}

}  // namespace

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("run", Napi::Function::New(env, Run));
  exports.Set("runSync", Napi::Function::New(env, RunSync));
  exports.Set("fromBytes", Napi::Function::New(env, FromBytes));
  exports.Set("toBytes", Napi::Function::New(env, ToBytes));
  exports.Set("toBytesAsync", Napi::Function::New(env, ToBytesAsync));
  exports.Set("bytesView", Napi::Function::New(env, BytesView));
  exports.Set("emptyHost", Napi::Function::New(env, EmptyHost));
  exports.Set("checkHost", Napi::Function::New(env, CheckHost));
  exports.Set("release", Napi::Function::New(env, Release));
  exports.Set("detach", Napi::Function::New(env, Detach));
  exports.Set("stats", Napi::Function::New(env, Stats));
  exports.Set("info", Napi::Function::New(env, Info));
  exports.Set("setNumThreads", Napi::Function::New(env, SetNumThreads));
  exports.Set("trimHostCache", Napi::Function::New(env, TrimHostCache));
  exports.Set("randomBytes", Napi::Function::New(env, RandomBytes));
  exports.Set("aes128Ctr", Napi::Function::New(env, Aes128Ctr));
  registerLaneAead(env, exports);
  registerSocketOpts(env, exports);
  return exports;
}

}  // namespace tfe

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return tfe::Init(env, exports); }

NODE_API_MODULE(tfe_native, InitModule)
