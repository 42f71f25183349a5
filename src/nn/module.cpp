#include "convlab/nn/module.h"

namespace convlab::nn {

std::vector<NamedModule> named_modules(Module& module, const std::string& prefix) {
  std::vector<NamedModule> all{{prefix, &module}};
  for (const NamedChild& c : module.children()) {
    auto sub = named_modules(*c.module, prefix.empty() ? c.name : prefix + "." + c.name);
    all.insert(all.end(), sub.begin(), sub.end());
  }
  return all;
}

std::vector<NamedTensor> state_dict(Module& module, const std::string& prefix) {
  std::vector<NamedTensor> all;
  for (const NamedModule& m : named_modules(module, prefix)) {
    const std::string dot = m.path.empty() ? "" : m.path + ".";
    // A container's parameters() gathers its descendants'; only a leaf names its own.
    if (m.module->children().empty())
      for (Parameter* p : m.module->parameters())
        all.push_back({dot + p->name, &p->value, true, false});
    for (Buffer* b : m.module->buffers())
      all.push_back({dot + b->name, &b->value, false, b->integer});
  }
  return all;
}

}  // namespace convlab::nn
