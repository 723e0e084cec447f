#include "connection.h"

#include <cstdlib>
#include <string>
#include <vector>

#include "job.h"

namespace {

using DomainPtr = std::unique_ptr<virDomain, decltype(&virDomainFree)>;
using NodeDevicePtr = std::unique_ptr<virNodeDevice, decltype(&virNodeDeviceFree)>;
using Conn = std::shared_ptr<virConnect>;

void Check(int rc, const char* what) {
  if (rc < 0) throw LibvirtFailure::Last(what);
}

// libvirt hands out malloc'ed strings; copy and free them.
std::string Take(char* s, const char* what) {
  if (s == nullptr) throw LibvirtFailure::Last(what);
  std::string copy(s);
  free(s);
  return copy;
}

DomainPtr Lookup(const Conn& c, const std::string& name) {
  virDomainPtr d = virDomainLookupByName(c.get(), name.c_str());
  if (d == nullptr) throw LibvirtFailure::Last("virDomainLookupByName");
  return DomainPtr(d, virDomainFree);
}

std::string UuidOf(virDomainPtr d) {
  char uuid[VIR_UUID_STRING_BUFLEN];
  Check(virDomainGetUUIDString(d, uuid), "virDomainGetUUIDString");
  return uuid;
}

std::string StringArg(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (!info[i].IsString()) throw Napi::TypeError::New(info.Env(), std::string(name) + " must be a string");
  return info[i].As<Napi::String>().Utf8Value();
}

unsigned int FlagsArg(const Napi::CallbackInfo& info, size_t i) {
  if (info[i].IsUndefined()) return 0;
  if (!info[i].IsNumber()) throw Napi::TypeError::New(info.Env(), "flags must be a number");
  return info[i].As<Napi::Number>().Uint32Value();
}

struct NamedDomain {
  std::string name, uuid;
};

Build NamedDomainValue(NamedDomain d) {
  return [d](Napi::Env env) -> Napi::Value {
    Napi::Object o = Napi::Object::New(env);
    o.Set("name", d.name);
    o.Set("uuid", d.uuid);
    return o;
  };
}

Build StringValue(std::string s) {
  return [s](Napi::Env env) -> Napi::Value { return Napi::String::New(env, s); };
}

Build NumberValue(double n) {
  return [n](Napi::Env env) -> Napi::Value { return Napi::Number::New(env, n); };
}

}  // namespace

Napi::Function Connection::Define(Napi::Env env) {
  return DefineClass(env, "Connection", {
    InstanceMethod<&Connection::Open>("open"),
    InstanceMethod<&Connection::Close>("close"),
    InstanceMethod<&Connection::GetVersion>("getVersion"),
    InstanceMethod<&Connection::GetHypervisorVersion>("getHypervisorVersion"),
    InstanceMethod<&Connection::GetHostname>("getHostname"),
    InstanceMethod<&Connection::NodeInfo>("nodeInfo"),
    InstanceMethod<&Connection::DefineXML>("defineXML"),
    InstanceMethod<&Connection::Undefine>("undefine"),
    InstanceMethod<&Connection::Create>("create"),
    InstanceMethod<&Connection::Destroy>("destroy"),
    InstanceMethod<&Connection::Suspend>("suspend"),
    InstanceMethod<&Connection::Resume>("resume"),
    InstanceMethod<&Connection::Reboot>("reboot"),
    InstanceMethod<&Connection::ManagedSave>("managedSave"),
    InstanceMethod<&Connection::HasManagedSave>("hasManagedSave"),
    InstanceMethod<&Connection::Save>("save"),
    InstanceMethod<&Connection::Restore>("restore"),
    InstanceMethod<&Connection::AttachDevice>("attachDevice"),
    InstanceMethod<&Connection::DetachDevice>("detachDevice"),
    InstanceMethod<&Connection::GetXMLDesc>("getXMLDesc"),
    InstanceMethod<&Connection::SetMetadata>("setMetadata"),
    InstanceMethod<&Connection::GetState>("getState"),
    InstanceMethod<&Connection::ListAllDomains>("listAllDomains"),
    InstanceMethod<&Connection::MigrateToURI3>("migrateToURI3"),
    InstanceMethod<&Connection::ListAllNodeDevices>("listAllNodeDevices"),
    InstanceMethod<&Connection::NodeDeviceXML>("nodeDeviceXML"),
  });
}

Connection::Connection(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Connection>(info) {}

Connection::~Connection() = default;

Conn Connection::Ref(Napi::Env env) {
  if (!conn_) throw Napi::Error::New(env, "the libvirt connection is not open");
  return conn_;
}

Napi::Value Connection::Open(const Napi::CallbackInfo& info) {
  std::string uri = StringArg(info, 0, "uri");
  if (conn_) throw Napi::Error::New(info.Env(), "the libvirt connection is already open");
  return Job::Run(info.Env(), info.This().As<Napi::Object>(), [this, uri]() -> Build {
    virConnectPtr raw = virConnectOpenAuth(uri.c_str(), virConnectAuthPtrDefault, 0);
    if (raw == nullptr) throw LibvirtFailure::Last("virConnectOpenAuth");
    return [this, raw](Napi::Env env) -> Napi::Value {
      if (conn_) {  // two concurrent open() calls: keep the first
        virConnectClose(raw);
        throw Napi::Error::New(env, "the libvirt connection is already open");
      }
      conn_ = Conn(raw, [](virConnectPtr c) { virConnectClose(c); });
      return env.Undefined();
    };
  });
}

Napi::Value Connection::Close(const Napi::CallbackInfo& info) {
  Conn c = std::move(conn_);  // calls still in flight keep their own reference
  return Job::Run(info.Env(), info.This().As<Napi::Object>(), [c]() mutable -> Build {
    c.reset();
    return nullptr;
  });
}

Napi::Value Connection::GetVersion(const Napi::CallbackInfo& info) {
  return Job::Run(info.Env(), info.This().As<Napi::Object>(), [c = Ref(info.Env())]() -> Build {
    unsigned long version = 0;
    Check(virConnectGetLibVersion(c.get(), &version), "virConnectGetLibVersion");
    return NumberValue(version);
  });
}

Napi::Value Connection::GetHypervisorVersion(const Napi::CallbackInfo& info) {
  return Job::Run(info.Env(), info.This().As<Napi::Object>(), [c = Ref(info.Env())]() -> Build {
    unsigned long version = 0;
    Check(virConnectGetVersion(c.get(), &version), "virConnectGetVersion");
    return NumberValue(version);
  });
}

Napi::Value Connection::GetHostname(const Napi::CallbackInfo& info) {
  return Job::Run(info.Env(), info.This().As<Napi::Object>(), [c = Ref(info.Env())]() -> Build {
    return StringValue(Take(virConnectGetHostname(c.get()), "virConnectGetHostname"));
  });
}

Napi::Value Connection::NodeInfo(const Napi::CallbackInfo& info) {
  return Job::Run(info.Env(), info.This().As<Napi::Object>(), [c = Ref(info.Env())]() -> Build {
    virNodeInfo n;
    Check(virNodeGetInfo(c.get(), &n), "virNodeGetInfo");
    return [n](Napi::Env env) -> Napi::Value {
      Napi::Object o = Napi::Object::New(env);
      o.Set("model", std::string(n.model));
      o.Set("memoryKiB", static_cast<double>(n.memory));
      o.Set("cpus", n.cpus);
      o.Set("mhz", n.mhz);
      o.Set("nodes", n.nodes);
      o.Set("sockets", n.sockets);
      o.Set("cores", n.cores);
      o.Set("threads", n.threads);
      return o;
    };
  });
}

Napi::Value Connection::DefineXML(const Napi::CallbackInfo& info) {
  std::string xml = StringArg(info, 0, "xml");
  unsigned int flags = FlagsArg(info, 1);
  return Job::Run(info.Env(), info.This().As<Napi::Object>(), [c = Ref(info.Env()), xml, flags]() -> Build {
    virDomainPtr raw = virDomainDefineXMLFlags(c.get(), xml.c_str(), flags);
    if (raw == nullptr) throw LibvirtFailure::Last("virDomainDefineXMLFlags");
    DomainPtr d(raw, virDomainFree);
    return NamedDomainValue({virDomainGetName(d.get()), UuidOf(d.get())});
  });
}

// The domain calls below all look a domain up by name and make one call.
#define DOMAIN_CALL(Method, ...)                                                                      \
  Napi::Value Connection::Method(const Napi::CallbackInfo& info) {                                    \
    std::string name = StringArg(info, 0, "name");                                                    \
    return Job::Run(info.Env(), info.This().As<Napi::Object>(), [c = Ref(info.Env()), name]() -> Build { \
      DomainPtr d = Lookup(c, name);                                                                  \
      __VA_ARGS__                                                                                     \
    });                                                                                               \
  }

DOMAIN_CALL(Create, Check(virDomainCreate(d.get()), "virDomainCreate"); return nullptr;)
DOMAIN_CALL(Destroy, Check(virDomainDestroy(d.get()), "virDomainDestroy"); return nullptr;)
DOMAIN_CALL(Suspend, Check(virDomainSuspend(d.get()), "virDomainSuspend"); return nullptr;)
DOMAIN_CALL(Resume, Check(virDomainResume(d.get()), "virDomainResume"); return nullptr;)
// The guest is asked to restart (ACPI or its agent, as the hypervisor chooses); QEMU keeps running.
DOMAIN_CALL(Reboot, Check(virDomainReboot(d.get(), 0), "virDomainReboot"); return nullptr;)
DOMAIN_CALL(ManagedSave, Check(virDomainManagedSave(d.get(), 0), "virDomainManagedSave"); return nullptr;)
DOMAIN_CALL(HasManagedSave, {
  int has = virDomainHasManagedSaveImage(d.get(), 0);
  Check(has, "virDomainHasManagedSaveImage");
  return [has](Napi::Env env) -> Napi::Value { return Napi::Boolean::New(env, has == 1); };
})
DOMAIN_CALL(GetState, {
  int state = 0, reason = 0;
  Check(virDomainGetState(d.get(), &state, &reason, 0), "virDomainGetState");
  return [state, reason](Napi::Env env) -> Napi::Value {
    Napi::Object o = Napi::Object::New(env);
    o.Set("state", state);
    o.Set("reason", reason);
    return o;
  };
})
#undef DOMAIN_CALL

Napi::Value Connection::Undefine(const Napi::CallbackInfo& info) {
  std::string name = StringArg(info, 0, "name");
  unsigned int flags = FlagsArg(info, 1);
  return Job::Run(info.Env(), info.This().As<Napi::Object>(), [c = Ref(info.Env()), name, flags]() -> Build {
    Check(virDomainUndefineFlags(Lookup(c, name).get(), flags), "virDomainUndefineFlags");
    return nullptr;
  });
}

Napi::Value Connection::Save(const Napi::CallbackInfo& info) {
  std::string name = StringArg(info, 0, "name");
  std::string file = StringArg(info, 1, "file");
  return Job::Run(info.Env(), info.This().As<Napi::Object>(), [c = Ref(info.Env()), name, file]() -> Build {
    Check(virDomainSave(Lookup(c, name).get(), file.c_str()), "virDomainSave");
    return nullptr;
  });
}

Napi::Value Connection::Restore(const Napi::CallbackInfo& info) {
  std::string file = StringArg(info, 0, "file");
  return Job::Run(info.Env(), info.This().As<Napi::Object>(), [c = Ref(info.Env()), file]() -> Build {
    Check(virDomainRestore(c.get(), file.c_str()), "virDomainRestore");
    return nullptr;
  });
}

Napi::Value Connection::AttachDevice(const Napi::CallbackInfo& info) {
  std::string name = StringArg(info, 0, "name");
  std::string xml = StringArg(info, 1, "xml");
  unsigned int flags = FlagsArg(info, 2);
  return Job::Run(info.Env(), info.This().As<Napi::Object>(), [c = Ref(info.Env()), name, xml, flags]() -> Build {
    Check(virDomainAttachDeviceFlags(Lookup(c, name).get(), xml.c_str(), flags), "virDomainAttachDeviceFlags");
    return nullptr;
  });
}

Napi::Value Connection::DetachDevice(const Napi::CallbackInfo& info) {
  std::string name = StringArg(info, 0, "name");
  std::string xml = StringArg(info, 1, "xml");
  unsigned int flags = FlagsArg(info, 2);
  return Job::Run(info.Env(), info.This().As<Napi::Object>(), [c = Ref(info.Env()), name, xml, flags]() -> Build {
    Check(virDomainDetachDeviceFlags(Lookup(c, name).get(), xml.c_str(), flags), "virDomainDetachDeviceFlags");
    return nullptr;
  });
}

// One element of our own namespace in <metadata> (VIR_DOMAIN_METADATA_ELEMENT); libvirt
// puts it under `key` as the prefix and replaces an element of the same namespace.
Napi::Value Connection::SetMetadata(const Napi::CallbackInfo& info) {
  std::string name = StringArg(info, 0, "name");
  std::string xml = StringArg(info, 1, "xml");
  std::string key = StringArg(info, 2, "key");
  std::string uri = StringArg(info, 3, "uri");
  unsigned int flags = FlagsArg(info, 4);
  return Job::Run(info.Env(), info.This().As<Napi::Object>(), [c = Ref(info.Env()), name, xml, key, uri, flags]() -> Build {
    Check(virDomainSetMetadata(Lookup(c, name).get(), VIR_DOMAIN_METADATA_ELEMENT, xml.c_str(), key.c_str(), uri.c_str(), flags),
          "virDomainSetMetadata");
    return nullptr;
  });
}

Napi::Value Connection::GetXMLDesc(const Napi::CallbackInfo& info) {
  std::string name = StringArg(info, 0, "name");
  unsigned int flags = FlagsArg(info, 1);
  return Job::Run(info.Env(), info.This().As<Napi::Object>(), [c = Ref(info.Env()), name, flags]() -> Build {
    return StringValue(Take(virDomainGetXMLDesc(Lookup(c, name).get(), flags), "virDomainGetXMLDesc"));
  });
}

Napi::Value Connection::ListAllDomains(const Napi::CallbackInfo& info) {
  unsigned int flags = FlagsArg(info, 0);
  return Job::Run(info.Env(), info.This().As<Napi::Object>(), [c = Ref(info.Env()), flags]() -> Build {
    virDomainPtr* doms = nullptr;
    int n = virConnectListAllDomains(c.get(), &doms, flags);
    Check(n, "virConnectListAllDomains");
    std::vector<NamedDomain> found;
    for (int i = 0; i < n; i++) {
      DomainPtr d(doms[i], virDomainFree);
      char uuid[VIR_UUID_STRING_BUFLEN] = "";
      virDomainGetUUIDString(d.get(), uuid);
      found.push_back({virDomainGetName(d.get()), uuid});
    }
    free(doms);
    return [found](Napi::Env env) -> Napi::Value {
      Napi::Array list = Napi::Array::New(env, found.size());
      for (size_t i = 0; i < found.size(); i++) list.Set(i, NamedDomainValue(found[i])(env));
      return list;
    };
  });
}

// migrateToURI3(name, destinationUri | null, { uri?, destName?, destXml?, persistXml?, bandwidthMiB? }, flags)
Napi::Value Connection::MigrateToURI3(const Napi::CallbackInfo& info) {
  std::string name = StringArg(info, 0, "name");
  // Without VIR_MIGRATE_PEER2PEER libvirt wants no destination connection URI (null).
  bool hasDest = !info[1].IsNull() && !info[1].IsUndefined();
  std::string dest = hasDest ? StringArg(info, 1, "destinationUri") : "";
  Napi::Object p = info[2].IsObject() ? info[2].As<Napi::Object>() : Napi::Object::New(info.Env());
  auto opt = [&](const char* key) { return p.Has(key) && p.Get(key).IsString() ? p.Get(key).As<Napi::String>().Utf8Value() : ""; };
  std::string uri = opt("uri"), destName = opt("destName"), destXml = opt("destXml"), persistXml = opt("persistXml");
  unsigned long long bandwidth = p.Has("bandwidthMiB") && p.Get("bandwidthMiB").IsNumber()
      ? p.Get("bandwidthMiB").As<Napi::Number>().Int64Value() : 0;
  unsigned int flags = FlagsArg(info, 3);
  return Job::Run(info.Env(), info.This().As<Napi::Object>(),
                  [c = Ref(info.Env()), name, hasDest, dest, uri, destName, destXml, persistXml, bandwidth, flags]() -> Build {
    DomainPtr d = Lookup(c, name);
    virTypedParameterPtr params = nullptr;
    int n = 0, max = 0;
    int rc = 0;
    if (!uri.empty()) rc |= virTypedParamsAddString(&params, &n, &max, VIR_MIGRATE_PARAM_URI, uri.c_str());
    if (!destName.empty()) rc |= virTypedParamsAddString(&params, &n, &max, VIR_MIGRATE_PARAM_DEST_NAME, destName.c_str());
    if (!destXml.empty()) rc |= virTypedParamsAddString(&params, &n, &max, VIR_MIGRATE_PARAM_DEST_XML, destXml.c_str());
    if (!persistXml.empty()) rc |= virTypedParamsAddString(&params, &n, &max, VIR_MIGRATE_PARAM_PERSIST_XML, persistXml.c_str());
    if (bandwidth) rc |= virTypedParamsAddULLong(&params, &n, &max, VIR_MIGRATE_PARAM_BANDWIDTH, bandwidth);
    if (rc < 0) {
      LibvirtFailure f = LibvirtFailure::Last("virTypedParamsAdd");
      virTypedParamsFree(params, n);
      throw f;
    }
    int result = virDomainMigrateToURI3(d.get(), hasDest ? dest.c_str() : nullptr, params, n, flags);
    LibvirtFailure f = result < 0 ? LibvirtFailure::Last("virDomainMigrateToURI3") : LibvirtFailure{};
    virTypedParamsFree(params, n);
    if (result < 0) throw f;
    return nullptr;
  });
}

Napi::Value Connection::ListAllNodeDevices(const Napi::CallbackInfo& info) {
  unsigned int flags = FlagsArg(info, 0);
  return Job::Run(info.Env(), info.This().As<Napi::Object>(), [c = Ref(info.Env()), flags]() -> Build {
    virNodeDevicePtr* devs = nullptr;
    int n = virConnectListAllNodeDevices(c.get(), &devs, flags);
    Check(n, "virConnectListAllNodeDevices");
    std::vector<std::string> names;
    for (int i = 0; i < n; i++) {
      NodeDevicePtr dev(devs[i], virNodeDeviceFree);
      names.push_back(virNodeDeviceGetName(dev.get()));
    }
    free(devs);
    return [names](Napi::Env env) -> Napi::Value {
      Napi::Array list = Napi::Array::New(env, names.size());
      for (size_t i = 0; i < names.size(); i++) list.Set(i, names[i]);
      return list;
    };
  });
}

Napi::Value Connection::NodeDeviceXML(const Napi::CallbackInfo& info) {
  std::string name = StringArg(info, 0, "name");
  return Job::Run(info.Env(), info.This().As<Napi::Object>(), [c = Ref(info.Env()), name]() -> Build {
    virNodeDevicePtr raw = virNodeDeviceLookupByName(c.get(), name.c_str());
    if (raw == nullptr) throw LibvirtFailure::Last("virNodeDeviceLookupByName");
    NodeDevicePtr dev(raw, virNodeDeviceFree);
    return StringValue(Take(virNodeDeviceGetXMLDesc(dev.get(), 0), "virNodeDeviceGetXMLDesc"));
  });
}
