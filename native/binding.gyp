{
  "targets": [
    {
      "target_name": "vdpa_libvirt",
      "sources": ["src/addon.cc", "src/connection.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "<!@(pkg-config --cflags libvirt)"],
      "cflags_cc!": ["-fno-exceptions"],
      "libraries": ["<!@(pkg-config --libs libvirt)"]
    }
  ]
}
