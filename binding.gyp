{
  "targets": [
    {
      "target_name": "torch_lora",
      "sources": ["<!@(node -p \"require('fs').readdirSync('native').filter(f => f.endsWith('.cc')).map(f => 'native/' + f).join(' ')\")"],
      "include_dirs": [
        "<!@(node -p \"require('node-addon-api').include\")",
        "<!@(node scripts/libtorch.js --include)"
      ],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED", "_GLIBCXX_USE_CXX11_ABI=1"],
      "cflags!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc": ["-std=c++17", "-O2", "-fexceptions", "-frtti", "-Wno-unused-parameter"],
      "libraries": [
        "-L<!(node scripts/libtorch.js --libdir)",
        "-Wl,-rpath,<!(node scripts/libtorch.js --libdir)",
        "-Wl,--no-as-needed", "<!@(node scripts/libtorch.js --libs)", "-Wl,--as-needed"
      ]
    }
  ]
}
