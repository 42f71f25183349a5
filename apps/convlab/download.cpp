// convlab download cifar10 --dest DIR: the full official CIFAR-10 binary archive, checked by MD5.
#include <iostream>

#include "commands.h"
#include "convlab/data/download.h"
#include "flags.h"

namespace convlab::cli {

void add_download(CLI::App& app) {
  auto dest = std::make_shared<std::string>("downloads");
  auto* cmd = app.add_subcommand(
      "download", "Fetch a full data set (needs a network; the subset ships in data/)");
  cmd->require_subcommand(1);
  auto* cifar = cmd->add_subcommand("cifar10", "The official CIFAR-10 binary version (162 MB)");
  add_path_flag(cifar, "--dest", *dest, "Directory to unpack into");
  cifar->callback([dest] {
    std::cout << "downloading " << data::cifar10_url() << "\n";
    const std::string dir = data::download_cifar10(*dest);
    std::cout << "CIFAR-10 is in " << dir << " (use --data " << dir << ")\n";
  });
}

}  // namespace convlab::cli
