#include "binding/convert.h"

#include <algorithm>
#include <atomic>
#include <cmath>

namespace tfe {

namespace {
std::atomic<int64_t> g_liveHandles{0};
constexpr double kMaxSafe = 9007199254740991.0;
// The tensor bytes this thread's V8 was last told of (each JS thread, a worker's included, has
// its own isolate and its own account).
thread_local int64_t t_reportedBytes = 0;
// V8 is told again only when the tensor bytes have moved by this much, or by half of what it was
// last told where that is more: a query's own temporaries come and go by hundreds of megabytes,
// all disposed, and each move past V8's 64 MB margin started a full collection that freed nothing
// (about 100 a query of a 224 x 224 MobileNetV2, 1.2 s of its 8.9). Bytes that only the collector
// can free (dropped tensors) grow and are reported, so they are still collected, at a growth
// proportional to what the process holds, as V8 sizes its own heap.
constexpr int64_t kReportStep = int64_t(16) << 20;
}  // namespace

// V8 sees a tensor as a small wrapper: without being told of the native bytes behind the
// wrappers, it collects undisposed tensors (dropped by a failed query, a user's forgotten
// dispose) only when the JavaScript heap fills, which native memory does not do. Told, it
// collects under native memory pressure too. Called on a JS thread when handles are made and
// released; a storage freed elsewhere (a finalizer, a kernel's worker) is counted at the next
// call. The total is the process's: with worker threads each isolate is told of all of it, which
// only makes their collections earlier.
void reportTensorMemory(Napi::Env env) {
  const int64_t now = Storage::liveBytes();
  const int64_t delta = now - t_reportedBytes;
  const int64_t step = std::max(kReportStep, t_reportedBytes / 2);
  if (delta >= step || delta <= -step) {
    Napi::MemoryManagement::AdjustExternalMemory(env, delta);
    t_reportedBytes = now;
  }
}

Handle::Handle() { g_liveHandles.fetch_add(1); }
Handle::~Handle() { g_liveHandles.fetch_sub(1); }
int64_t Handle::liveCount() { return g_liveHandles.load(); }

const napi_type_tag kTensorTag = {0x7466652d74656e73ULL, 0x6f722d68616e646cULL};
const napi_type_tag kOpenCtxTag = {0x7466652d6c616e65ULL, 0x2d6f70656e637478ULL};

void tagExternal(Napi::Env env, const Napi::Value& v, const napi_type_tag& tag) {
  NAPI_THROW_IF_FAILED_VOID(env, napi_type_tag_object(env, v, &tag));
}

bool hasTag(Napi::Env env, const Napi::Value& v, const napi_type_tag& tag) {
  if (!v.IsExternal()) return false;
  bool ok = false;
  NAPI_THROW_IF_FAILED(env, napi_check_object_type_tag(env, v, &tag, &ok), false);
  return ok;
}

Napi::External<Handle> wrapTensor(Napi::Env env, Tensor t) {
  auto* h = new Handle();
  h->tensor = std::move(t);
  // The finalizer is the GC backstop; explicit dispose() releases the storage earlier.
  auto e = Napi::External<Handle>::New(env, h, [](Napi::Env, Handle* p) { delete p; });
  tagExternal(env, e, kTensorTag);
  reportTensorMemory(env);
  return e;
}

Tensor unwrapTensor(Napi::Env env, const Napi::Value& v, const std::string& what) {
  TFE_ARG_CHECK(env, hasTag(env, v, kTensorTag), what + " is not a tensor handle");
  Handle* h = v.As<Napi::External<Handle>>().Data();
  TFE_ARG_CHECK(env, h != nullptr, what + " is not a tensor handle");
  if (h->released) throw Napi::Error::New(env, what + " has been disposed" TFE_WHERE);
  return h->tensor;
}

Napi::Array fromShape(Napi::Env env, const Shape& s) {
  Napi::Array a = Napi::Array::New(env, s.size());
  for (size_t i = 0; i < s.size(); ++i) a.Set(static_cast<uint32_t>(i), Napi::Number::New(env, static_cast<double>(s[i])));
  return a;
}

Napi::Object describeTensor(Napi::Env env, const Tensor& t) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("handle", wrapTensor(env, t));
  o.Set("shape", fromShape(env, t.shape));
  o.Set("dtype", Napi::String::New(env, t.dtypeName()));
  return o;
}

static int64_t toInt(Napi::Env env, const Napi::Value& v, const std::string& what) {
  TFE_ARG_CHECK(env, v.IsNumber(), what + " must be a number");
  double d = v.As<Napi::Number>().DoubleValue();
  TFE_ARG_CHECK(env, std::isfinite(d) && std::floor(d) == d && std::fabs(d) <= kMaxSafe, what + " must be a safe integer");
  return static_cast<int64_t>(d);
}

Shape toShape(Napi::Env env, const Napi::Value& v, const std::string& what) {
  TFE_ARG_CHECK(env, v.IsArray(), what + " must be an array of integers");
  Napi::Array a = v.As<Napi::Array>();
  Shape s(a.Length());
  for (uint32_t i = 0; i < a.Length(); ++i) s[i] = toInt(env, a.Get(i), what + "[" + std::to_string(i) + "]");
  return s;
}

static AttrValue toAttr(Napi::Env env, const std::string& key, const Napi::Value& v) {
  const std::string what = "attribute '" + key + "'";
  if (v.IsBoolean()) return v.As<Napi::Boolean>().Value();
  if (v.IsString()) return v.As<Napi::String>().Utf8Value();
  if (v.IsNumber()) {
    double d = v.As<Napi::Number>().DoubleValue();
    if (std::isfinite(d) && std::floor(d) == d && std::fabs(d) <= kMaxSafe) return static_cast<int64_t>(d);
    return d;
  }
  if (v.IsBigInt()) {
    // Any bigint in [-2^63, 2^64) maps to its residue mod 2^64; anything else is refused.
    bool lossless = false;
    uint64_t u = v.As<Napi::BigInt>().Uint64Value(&lossless);
    if (lossless) return u;
    int64_t s = v.As<Napi::BigInt>().Int64Value(&lossless);
    TFE_ARG_CHECK(env, lossless, what + " is a bigint outside [-2^63, 2^64)");
    return static_cast<uint64_t>(s);
  }
  if (v.IsTypedArray() && v.As<Napi::TypedArray>().TypedArrayType() == napi_uint8_array) {
    Napi::Uint8Array a = v.As<Napi::Uint8Array>();
    return std::vector<uint8_t>(a.Data(), a.Data() + a.ElementLength());
  }
  // A long list of integers (a gather's positions: a Conv3D's windows) in one copy, where an
  // array is read element by element through N-API; its values are checked where used.
  if (v.IsTypedArray() && v.As<Napi::TypedArray>().TypedArrayType() == napi_int32_array) {
    Napi::Int32Array a = v.As<Napi::Int32Array>();
    return std::vector<int64_t>(a.Data(), a.Data() + a.ElementLength());
  }
  if (v.IsArray()) return toShape(env, v, what);
  throw Napi::TypeError::New(env, what + " has an unsupported type" TFE_WHERE);
}

Attrs toAttrs(Napi::Env env, const Napi::Value& v) {
  Attrs attrs;
  if (v.IsUndefined() || v.IsNull()) return attrs;
  TFE_ARG_CHECK(env, v.IsObject(), "attrs must be an object");
  Napi::Object o = v.As<Napi::Object>();
  Napi::Array keys = o.GetPropertyNames();
  for (uint32_t i = 0; i < keys.Length(); ++i) {
    std::string k = keys.Get(i).As<Napi::String>().Utf8Value();
    Napi::Value val = o.Get(k);
    if (val.IsUndefined()) continue;
    attrs.set(k, toAttr(env, k, val));
  }
  return attrs;
}

}  // namespace tfe
