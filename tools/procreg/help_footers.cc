// What every --help ends with (tools/procreg/help_footers.h). tests/cli/usage_test.py checks
// that every subcommand's --help shows examples and that each one's flags are the subcommand's.
#include "tools/procreg/help_footers.h"

#include <map>
#include <string>
#include <vector>

namespace procreg::cli {

const char* const kExitCodesHelp =
    "Exit codes: 0 ok, 1 failure, 2 usage error, 3 unreachable or timed out, 4 the\n"
    "history asked for was compacted away.";

namespace {

// The examples of each subcommand, by its path ("log dump"): realistic lines, shell-quoted.
const std::map<std::string, std::vector<std::string>>& examples() {
  static const std::map<std::string, std::vector<std::string>> kExamples = {
      {"serve",
       {"procreg serve --log-dir /var/lib/procreg/orders --hub orders",
        "procreg serve --log-dir /var/lib/procreg/orders --hub orders --durability group \\\n"
        "    --endpoints-file /run/procreg/orders.json --http 127.0.0.1:9464",
        "procreg serve --log-dir /var/lib/procreg/orders --hub orders --standby-of "
        "tcp://10.0.0.7:7403"}},
      {"bus",
       {"procreg bus",
        "procreg bus --frontend 'tcp://*:7401' --backend 'tcp://*:7402' --curve-key bus \\\n"
        "    --curve-policy /etc/procreg/keys"}},
      {"call",
       {"procreg call get_pid '{\"child_id\": \"w1\"}'",
        "procreg call insert '{\"spec\": {\"id\": \"w1\", \"start\": [\"Elixir.Worker\", "
        "\"start_link\", []]},\n"
        "    \"node_pids\": [[\"n1\", \"<0.10.0>\"]]}' --endpoints /run/procreg/orders.json",
        "procreg call --command tcp://10.0.0.7:7404 --timeout-ms 2000 --batch requests.jsonl"}},
      {"tail",
       {"procreg tail --from 1 --count 10",
        "procreg tail --endpoints /run/procreg/orders.json --kind insert --kind delete --child w1",
        "procreg tail --hooks --seconds 60"}},
      {"replica",
       {"procreg replica --endpoints /run/procreg/orders.json --seconds 10 --dump replica.json",
        "procreg replica --bus tcp://10.0.0.7:7402 --replay tcp://10.0.0.7:7403 \\\n"
        "    --command tcp://10.0.0.7:7404 --serve tcp://127.0.0.1:7410 --stats "
        "tcp://127.0.0.1:7411"}},
      {"replay",
       {"procreg replay --log-dir /var/lib/procreg/orders",
        "procreg replay --log-dir /var/lib/procreg/orders --upto 1200 --query get_pid \\\n"
        "    --args '{\"child_id\": \"w1\"}'",
        "procreg replay --log-dir /var/lib/procreg/orders --upto-time 2024-05-01T12:00:00Z \\\n"
        "    --query match_tag --args '{\"tag\": \"db\"}'"}},
      {"verify",
       {"procreg verify --log-dir /var/lib/procreg/orders",
        "procreg verify --log-dir /var/lib/procreg/orders --json"}},
      {"inspect",
       {"procreg inspect --log-dir /var/lib/procreg/orders",
        "procreg inspect --log-dir /var/lib/procreg/orders --json"}},
      {"log",
       {"procreg log dump --log-dir /var/lib/procreg/orders --from 100 --to 200",
        "procreg log dump --log-dir /var/lib/procreg/orders --since 2024-05-01T12:00:00Z"}},
      {"log dump",
       {"procreg log dump --log-dir /var/lib/procreg/orders --from 100 --to 200",
        "procreg log dump --log-dir /var/lib/procreg/orders --since 2024-05-01T12:00:00Z \\\n"
        "    --until 2024-05-01T13:00:00Z"}},
      {"stats",
       {"procreg stats", "procreg stats --endpoints /run/procreg/orders.json --prometheus",
        "procreg stats --stats tcp://127.0.0.1:7411 --timeout-ms 1000"}},
      {"snapshot",
       {"procreg snapshot",
        "procreg snapshot --endpoints /run/procreg/orders.json --timeout-ms 60000"}},
      {"compact", {"procreg compact", "procreg compact --stats tcp://127.0.0.1:7405"}},
      {"health",
       {"procreg health http://127.0.0.1:9464",
        "procreg health http://10.0.0.7:9464 --max-lag 100 --timeout-ms 500"}},
      {"promote",
       {"procreg promote --stats tcp://127.0.0.1:7405",
        "procreg promote --stats standby-a.json --peer standby-b.json --timeout-ms 2000"}},
      {"demo",
       {"procreg demo", "procreg demo --children 100 --rounds 10 --keep", "procreg demo --secure"}},
      {"keygen", {"procreg keygen hub", "procreg keygen /etc/procreg/ops --force"}},
      {"completion",
       {"procreg completion bash > /usr/share/bash-completion/completions/procreg",
        "procreg completion bash > ~/.local/share/bash-completion/completions/procreg"}},
  };
  return kExamples;
}

void add_footers(CLI::App* sub, const std::string& path) {
  std::string footer;
  if (const auto it = examples().find(path); it != examples().end()) {
    footer = "Examples:\n";
    for (const std::string& example : it->second) {
      footer += "  " + example + "\n";
    }
    footer += "\n";
  }
  sub->footer(footer + kExitCodesHelp);
  for (CLI::App* nested : sub->get_subcommands({})) {
    add_footers(nested, path + " " + nested->get_name());
  }
}

}  // namespace

void add_help_footers(CLI::App& app) {
  app.footer(std::string(kExitCodesHelp) +
             "\nRun `procreg SUBCOMMAND --help` for a subcommand's options; docs/CLI.md has more.");
  for (CLI::App* sub : app.get_subcommands({})) add_footers(sub, sub->get_name());
}

}  // namespace procreg::cli
