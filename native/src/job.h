// One libvirt call run on a libuv worker thread, settling a JS promise.
//
// The call (`work`) runs off the event loop and must not touch JS values; it
// returns a `Build` closure that turns its plain C++ result into a JS value on
// the main thread. A failed libvirt call throws LibvirtFailure, which carries
// libvirt's own error (code, domain, level, message) to the rejected promise.
#pragma once

#include <napi.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include <functional>
#include <string>

struct LibvirtFailure {
  int code = VIR_ERR_INTERNAL_ERROR;
  int domain = VIR_FROM_NONE;
  int level = VIR_ERR_ERROR;
  std::string message;

  // Reads the calling thread's last libvirt error; libvirt keeps it per thread.
  static LibvirtFailure Last(const char* what) {
    LibvirtFailure f;
    virErrorPtr err = virGetLastError();
    if (err != nullptr) {
      f.code = err->code;
      f.domain = err->domain;
      f.level = err->level;
      f.message = err->message ? err->message : what;
    } else {
      f.message = std::string(what) + " failed without a libvirt error";
    }
    virResetLastError();
    return f;
  }
};

using Build = std::function<Napi::Value(Napi::Env)>;

class Job : public Napi::AsyncWorker {
 public:
  using Work = std::function<Build()>;

  // `self` (the Connection object) stays referenced until the job settles.
  static Napi::Promise Run(Napi::Env env, Napi::Object self, Work work) {
    auto* job = new Job(env, std::move(work));
    job->self_ = Napi::Persistent(self);
    Napi::Promise promise = job->deferred_.Promise();
    job->Queue();
    return promise;
  }

 protected:
  void Execute() override {
    virResetLastError();
    try {
      build_ = work_();
    } catch (const LibvirtFailure& f) {
      failure_ = f;
      SetError(f.message);
    }
    // Drop the call's captures (its connection reference) here, off the event
    // loop: releasing the last reference closes the connection, an RPC.
    work_ = nullptr;
  }

  void OnOK() override {
    Napi::Env env = Env();
    Napi::HandleScope scope(env);
    try {
      deferred_.Resolve(build_ ? build_(env) : env.Undefined());
    } catch (const Napi::Error& e) {
      deferred_.Reject(e.Value());
    }
  }

  void OnError(const Napi::Error&) override {
    Napi::Env env = Env();
    Napi::HandleScope scope(env);
    Napi::Error error = Napi::Error::New(env, failure_.message);
    error.Set("name", Napi::String::New(env, "LibvirtError"));
    error.Set("code", Napi::Number::New(env, failure_.code));
    error.Set("domain", Napi::Number::New(env, failure_.domain));
    error.Set("level", Napi::Number::New(env, failure_.level));
    deferred_.Reject(error.Value());
  }

 private:
  Job(Napi::Env env, Work work)
      : Napi::AsyncWorker(env, "vdpa_libvirt"), deferred_(Napi::Promise::Deferred::New(env)), work_(std::move(work)) {}

  Napi::Promise::Deferred deferred_;
  Napi::ObjectReference self_;
  Work work_;
  Build build_;
  LibvirtFailure failure_;
};
