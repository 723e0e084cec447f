// vdpa_libvirt: the project's own binding to libvirt. It exports one class,
// Connection; the TypeScript side (src/agent/drivers/libvirt/connection.ts)
// gives it types and flag names.
#include <napi.h>
#include <libvirt/virterror.h>

#include "connection.h"

// libvirt's default error handler prints every error to stderr; ours are
// already carried to JS by the rejected promise.
static void IgnoreError(void*, virErrorPtr) {}

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  virInitialize();
  virSetErrorFunc(nullptr, IgnoreError);
  exports.Set("Connection", Connection::Define(env));
  return exports;
}

NODE_API_MODULE(vdpa_libvirt, Init)
