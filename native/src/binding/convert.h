// Conversions between JS values and kernel-side types. All of it runs on the JS thread.
#pragma once
#include <napi.h>

#include <string>

#include "core/attrs.h"
#include "core/tensor.h"

// Every error raised by the binding carries its source file and line.
#define TFE_STR2(x) #x
#define TFE_STR(x) TFE_STR2(x)
#define TFE_WHERE " [" __FILE__ ":" TFE_STR(__LINE__) "]"
#define TFE_ARG_CHECK(env, cond, msg)                                    \
  do {                                                                   \
    if (!(cond)) throw Napi::TypeError::New(env, std::string(msg) + TFE_WHERE); \
  } while (0)

namespace tfe {

// What a JS tensor handle points to. The storage may be shared with other handles (reshape).
struct Handle {
  Tensor tensor;
  bool released = false;
  Handle();
  ~Handle();
  static int64_t liveCount();
};

Napi::External<Handle> wrapTensor(Napi::Env env, Tensor t);
// Tells V8 of the bytes tensors hold (see convert.cc), when they moved by a step since last told.
void reportTensorMemory(Napi::Env env);

// Every External the addon hands out is tagged with its kind, and checked before it is cast:
// an External of another kind (a lane's cipher context where a tensor handle goes) was taken
// for one and read as one, which crashed the process or corrupted its heap.
extern const napi_type_tag kTensorTag;
extern const napi_type_tag kOpenCtxTag;
void tagExternal(Napi::Env env, const Napi::Value& v, const napi_type_tag& tag);
bool hasTag(Napi::Env env, const Napi::Value& v, const napi_type_tag& tag);
// Throws a JS Error naming `what` when the value is not a live handle.
Tensor unwrapTensor(Napi::Env env, const Napi::Value& v, const std::string& what);
Napi::Object describeTensor(Napi::Env env, const Tensor& t);  // {handle, shape, dtype}

Shape toShape(Napi::Env env, const Napi::Value& v, const std::string& what);
Napi::Array fromShape(Napi::Env env, const Shape& s);
Attrs toAttrs(Napi::Env env, const Napi::Value& v);

}  // namespace tfe
