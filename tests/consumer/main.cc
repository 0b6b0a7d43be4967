// Uses the installed package: writes one row, reopens the log, and checks it is there.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "procreg/registry.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: consumer LOG_DIR\n");
    return 2;
  }
  procreg::RegistryOptions options;
  options.hub = "consumer";
  options.log_dir = argv[1];
  options.local_node = "n0";
  {
    auto registry = procreg::Registry::open(options);
    if (!registry.ok()) {
      std::fprintf(stderr, "open: %s\n", registry.status().to_string().c_str());
      return 1;
    }
    auto seq = (*registry)->insert(procreg::make_spec("a"), {{"n0", "<0.1.0>"}});
    if (!seq.ok()) return 1;
  }
  auto reopened = procreg::Registry::open(options);
  if (!reopened.ok() || (*reopened)->get_pid("a") != std::optional<std::string>("<0.1.0>")) {
    std::fprintf(stderr, "the row did not survive a reopen\n");
    return 1;
  }
  std::printf("consumer ok\n");
  return 0;
}
