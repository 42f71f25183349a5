// convlab demo multichannel [--out DIR]: the multi-channel convolution notebook, printed.
#include <iostream>

#include "commands.h"
#include "convlab/demo/multichannel.h"
#include "flags.h"

namespace convlab::cli {

void add_demo(CLI::App& app) {
  auto* demo =
      app.add_subcommand("demo", "Walk through a notebook, printing every tensor it prints");
  demo->require_subcommand(1);
  auto* multichannel = demo->add_subcommand(
      "multichannel",
      "Multi-channel convolution: several kernels, several input channels, both; PNGs with --out");
  auto out_dir = std::make_shared<std::string>();
  add_path_flag(multichannel, "--out", *out_dir,
                "Directory for the pictures (created); none written if not given");
  multichannel->callback([out_dir] { demo::multichannel(std::cout, *out_dir); });
}

}  // namespace convlab::cli
