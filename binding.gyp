# Fallback build with node-gyp (`npm run build:native:gyp`). Same CPU sources as CMakeLists.txt:
# both read native/sources.json.
{
  "targets": [
    {
      "target_name": "tfe_native",
      "sources": ["<!@(node -p \"const s = require('./native/sources.json'); [...s.binding, ...s.core, ...s.cpu].join(' ')\")"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")", "native/src"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "TFE_BUILD_SYSTEM=\"node-gyp\""],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++14", "-std=gnu++17"],
      "cflags_cc": ["-std=c++17", "-O3", "-fexceptions", "-frtti"],
      "xcode_settings": {
        "GCC_ENABLE_CPP_EXCEPTIONS": "YES",
        "CLANG_CXX_LANGUAGE_STANDARD": "c++17"
      }
    }
  ]
}
