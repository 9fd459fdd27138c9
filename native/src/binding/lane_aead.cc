// AES-128-GCM for the server links' lanes (lib/net/lane.ts): a record is sealed into a buffer the
// lane reuses, and opened piece by piece straight into the memory that will hold it, with no
// allocation here, which Node's crypto cannot do (its update() returns a new buffer, and
// allocating the 4 MiB of each record again costs as much as the cipher; bench/RESULTS.md, "A lane
// beside each server link").
//
// The cipher is OpenSSL's, the one Node itself carries: the addon calls the EVP functions the
// node executable exports (no libcrypto of our own is linked, so there is one OpenSSL in the
// process, with its AES-NI and carry-less-multiply GHASH). The nonce is the record's number on
// its lane, big-endian in the last 8 of 12 bytes: each lane direction has its own key (from the
// TLS exporter of the link it belongs to), so a number is never used twice with a key.
#include "binding/lane_aead.h"

#include <openssl/evp.h>

#include <cstring>
#include <memory>
#include <vector>

#include "binding/convert.h"

namespace tfe {
namespace {

constexpr size_t kKeyBytes = 16, kTagBytes = 16, kNonceBytes = 12;

struct CtxFree {
  void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};
using Ctx = std::unique_ptr<EVP_CIPHER_CTX, CtxFree>;

struct Args {
  const uint8_t* key;
  uint8_t nonce[kNonceBytes];
  const uint8_t* aad;
  size_t aadLen;
};

// (key: Uint8Array(16), counter: number, aad: Uint8Array, ...)
Args parse(const Napi::CallbackInfo& info, const char* usage) {
  Napi::Env env = info.Env();
  TFE_ARG_CHECK(env, info.Length() >= 3 && info[0].IsTypedArray() && info[1].IsNumber() && info[2].IsTypedArray(), usage);
  Napi::Uint8Array key = info[0].As<Napi::Uint8Array>(), aad = info[2].As<Napi::Uint8Array>();
  TFE_ARG_CHECK(env, key.ElementLength() == kKeyBytes, "the key must be 16 bytes");
  double n = info[1].As<Napi::Number>().DoubleValue();
  TFE_ARG_CHECK(env, n >= 0 && n <= 9007199254740991.0 && n == static_cast<double>(static_cast<uint64_t>(n)), "the counter must be a safe non-negative integer");
  Args a{};
  a.key = key.Data();
  uint64_t c = static_cast<uint64_t>(n);
  for (int i = 0; i < 8; ++i) a.nonce[4 + i] = static_cast<uint8_t>(c >> (56 - 8 * i));
  a.aad = aad.Data();
  a.aadLen = aad.ElementLength();
  return a;
}

Ctx start(Napi::Env env, const Args& a, bool seal) {
  Ctx ctx(EVP_CIPHER_CTX_new());
  if (!ctx) throw Napi::Error::New(env, "out of memory for a cipher context" TFE_WHERE);
  int ok = seal ? EVP_EncryptInit_ex(ctx.get(), EVP_aes_128_gcm(), nullptr, a.key, a.nonce)
                : EVP_DecryptInit_ex(ctx.get(), EVP_aes_128_gcm(), nullptr, a.key, a.nonce);
  int len = 0;
  if (ok == 1 && a.aadLen > 0)
    ok = seal ? EVP_EncryptUpdate(ctx.get(), nullptr, &len, a.aad, static_cast<int>(a.aadLen))
              : EVP_DecryptUpdate(ctx.get(), nullptr, &len, a.aad, static_cast<int>(a.aadLen));
  if (ok != 1) throw Napi::Error::New(env, "AES-128-GCM failed in OpenSSL" TFE_WHERE);
  return ctx;
}

void fail(Napi::Env env) { throw Napi::Error::New(env, "AES-128-GCM failed in OpenSSL" TFE_WHERE); }

// laneSeal(key, counter, aad, parts: Uint8Array[], out: Uint8Array): the parts, one after the
// other, encrypted into out, followed by the 16-byte tag (out is exactly their length + 16).
// The parts are only read: a tensor being sent is never changed.
Napi::Value LaneSeal(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* usage = "expected (key: Uint8Array(16), counter: number, aad: Uint8Array, parts: Uint8Array[], out: Uint8Array)";
  Args a = parse(info, usage);
  TFE_ARG_CHECK(env, info.Length() >= 5 && info[3].IsArray() && info[4].IsTypedArray(), usage);
  Napi::Array parts = info[3].As<Napi::Array>();
  Napi::Uint8Array out = info[4].As<Napi::Uint8Array>();
  std::vector<Napi::Uint8Array> in;
  size_t total = 0;
  for (uint32_t i = 0; i < parts.Length(); ++i) {
    Napi::Value v = parts.Get(i);
    TFE_ARG_CHECK(env, v.IsTypedArray() && v.As<Napi::TypedArray>().TypedArrayType() == napi_uint8_array, "every part must be a Uint8Array");
    in.push_back(v.As<Napi::Uint8Array>());
    total += in.back().ElementLength();
  }
  TFE_ARG_CHECK(env, total < (size_t(1) << 31), "a record is under 2^31 bytes (OpenSSL takes an int)");
  TFE_ARG_CHECK(env, out.ElementLength() == total + kTagBytes, "out must be the parts' length plus the 16-byte tag");
  Ctx ctx = start(env, a, true);
  uint8_t* o = out.Data();
  int len = 0;
  for (auto& p : in) {
    if (p.ElementLength() == 0) continue;
    if (EVP_EncryptUpdate(ctx.get(), o, &len, p.Data(), static_cast<int>(p.ElementLength())) != 1) fail(env);
    o += len;
  }
  if (EVP_EncryptFinal_ex(ctx.get(), o, &len) != 1) fail(env);
  o += len;
  if (o != out.Data() + total || EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kTagBytes, o) != 1) fail(env);
  return env.Undefined();
}

// A record opened piece by piece as its bytes arrive, decrypted straight from the socket's chunks
// into the record's own memory (no staging copy): laneOpenBegin(key, counter, aad) -> context;
// laneOpenUpdate(context, src, dst) decrypts src into dst (same length; may be the same memory);
// laneOpenEnd(context, tag) -> boolean checks the tag and frees the context. What dst holds is
// unauthenticated until laneOpenEnd says true. A context dropped unfinished is freed by the GC.
struct OpenCtx {
  EVP_CIPHER_CTX* ctx = nullptr;
  ~OpenCtx() { EVP_CIPHER_CTX_free(ctx); }
};

Napi::Value LaneOpenBegin(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* usage = "expected (key: Uint8Array(16), counter: number, aad: Uint8Array)";
  TFE_ARG_CHECK(env, info.Length() >= 3, usage);
  Args a = parse(info, usage);
  Ctx ctx = start(env, a, false);
  auto* o = new OpenCtx();
  o->ctx = ctx.release();
  auto e = Napi::External<OpenCtx>::New(env, o, [](Napi::Env, OpenCtx* p) { delete p; });
  tagExternal(env, e, kOpenCtxTag);
  return e;
}

OpenCtx* openCtx(const Napi::CallbackInfo& info, const char* usage) {
  Napi::Env env = info.Env();
  TFE_ARG_CHECK(env, info.Length() >= 1 && hasTag(env, info[0], kOpenCtxTag), usage);
  OpenCtx* o = info[0].As<Napi::External<OpenCtx>>().Data();
  TFE_ARG_CHECK(env, o != nullptr && o->ctx != nullptr, "the record's context is already finished");
  return o;
}

Napi::Value LaneOpenUpdate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* usage = "expected (context, src: Uint8Array, dst: Uint8Array)";
  OpenCtx* o = openCtx(info, usage);
  TFE_ARG_CHECK(env, info.Length() >= 3 && info[1].IsTypedArray() && info[2].IsTypedArray(), usage);
  Napi::Uint8Array src = info[1].As<Napi::Uint8Array>(), dst = info[2].As<Napi::Uint8Array>();
  TFE_ARG_CHECK(env, src.ElementLength() == dst.ElementLength() && src.ElementLength() < (size_t(1) << 31), "src and dst must have the same length (under 2^31 bytes)");
  int len = 0;
  if (src.ElementLength() > 0 && EVP_DecryptUpdate(o->ctx, dst.Data(), &len, src.Data(), static_cast<int>(src.ElementLength())) != 1) fail(env);
  return env.Undefined();
}

Napi::Value LaneOpenEnd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* usage = "expected (context, tag: Uint8Array(16))";
  OpenCtx* o = openCtx(info, usage);
  TFE_ARG_CHECK(env, info.Length() >= 2 && info[1].IsTypedArray() && info[1].As<Napi::Uint8Array>().ElementLength() == kTagBytes, "the tag must be 16 bytes");
  uint8_t tag[kTagBytes], end[16];
  std::memcpy(tag, info[1].As<Napi::Uint8Array>().Data(), kTagBytes);
  int len = 0;
  bool ok = EVP_CIPHER_CTX_ctrl(o->ctx, EVP_CTRL_GCM_SET_TAG, kTagBytes, tag) == 1 && EVP_DecryptFinal_ex(o->ctx, end, &len) == 1;
  EVP_CIPHER_CTX_free(o->ctx);
  o->ctx = nullptr;
  return Napi::Boolean::New(env, ok);
}

}  // namespace

void registerLaneAead(Napi::Env env, Napi::Object exports) {
  exports.Set("laneSeal", Napi::Function::New(env, LaneSeal));
  exports.Set("laneOpenBegin", Napi::Function::New(env, LaneOpenBegin));
  exports.Set("laneOpenUpdate", Napi::Function::New(env, LaneOpenUpdate));
  exports.Set("laneOpenEnd", Napi::Function::New(env, LaneOpenEnd));
}

}  // namespace tfe
