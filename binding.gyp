{
  "targets": [
    {
      "target_name": "torch_lora",
      "sources": ["<!@(node -p \"require('fs').readdirSync('native').filter(f => f.endsWith('.cc')).map(f => 'native/' + f).join(' ')\")"],
      "include_dirs": [
        "<!@(node -p \"require('node-addon-api').include\")",
        "<!@(node scripts/libtorch.js --include)",
        "<!@(node scripts/libtorch.js --nccl-include)"
      ],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED", "_GLIBCXX_USE_CXX11_ABI=<!(node scripts/libtorch.js --abi)", "TL_WITH_GLOO=<!(node scripts/libtorch.js --gloo)", "<!@(node scripts/libtorch.js --nccl-defines)"],
      "cflags!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17"],
      "cflags_cc": ["-std=c++<!(node scripts/libtorch.js --cxx-std)", "-O2", "-fexceptions", "-frtti", "-Wno-unused-parameter", "-fno-math-errno", "-ffp-contract=off"],
      "libraries": [
        "-Wl,-rpath,<!(node scripts/libtorch.js --libdir)",
        "-Wl,--no-as-needed", "<!@(node scripts/libtorch.js --libs)", "-Wl,--as-needed", "-Wl,--allow-shlib-undefined"
      ]
    }
  ]
}
