// "Did you mean" (tools/procreg/suggest.h).
#include "tools/procreg/suggest.h"

#include <algorithm>
#include <string_view>
#include <vector>

namespace procreg::cli {

namespace {

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = up;
    }
  }
  return row[b.size()];
}

// The candidates within a third of the word's length plus one edit (at most 3), closest
// first, as "a", "a or b", ...
std::string closest(std::string_view word, const std::vector<std::string>& known) {
  const std::size_t bound = std::clamp<std::size_t>(word.size() / 3 + 1, 1, 3);
  std::vector<std::pair<std::size_t, std::string>> near;
  for (const std::string& k : known) {
    if (const std::size_t d = edit_distance(word, k); d <= bound) near.emplace_back(d, k);
  }
  std::sort(near.begin(), near.end());
  std::string out;
  for (std::size_t i = 0; i < near.size() && i < 3; ++i) {
    out += (i == 0 ? "" : " or ") + near[i].second;
  }
  return out;
}

std::vector<std::string> long_options(const CLI::App& sub) {
  std::vector<std::string> names;
  for (const CLI::Option* o : sub.get_options()) {
    for (const std::string& n : o->get_lnames()) names.push_back("--" + n);
  }
  return names;
}

}  // namespace

std::string unknown_subcommand(const CLI::App& app, int argc, const char* const* argv) {
  if (argc < 2) return "";
  const std::string_view first = argv[1];
  if (first.starts_with("-")) return "";  // a top-level option: CLI11 said what is wrong
  std::vector<std::string> subcommands;
  for (const CLI::App* s : app.get_subcommands({})) {
    if (s->get_name() == first) return "";
    subcommands.push_back(s->get_name());
  }
  const std::string near = closest(first, subcommands);
  return near.empty()
             ? ""
             : "unknown subcommand \"" + std::string(first) + "\"; did you mean " + near + "?";
}

std::string unknown_option(const CLI::App& app, int argc, const char* const* argv) {
  const CLI::App* sub = &app;
  std::string path;  // "serve", "log dump"
  for (int i = 1; i < argc; ++i) {
    std::string_view word = argv[i];
    if (word == "--") break;  // positionals only from here
    const auto subs = sub->get_subcommands({});
    const auto it = std::find_if(subs.begin(), subs.end(),
                                 [&](const CLI::App* s) { return s->get_name() == word; });
    if (it != subs.end()) {
      sub = *it;
      path += (path.empty() ? "" : " ") + sub->get_name();
      continue;
    }
    if (sub == &app || !word.starts_with("--")) continue;  // top-level options: CLI11's to say
    word = word.substr(0, word.find('='));
    const std::vector<std::string> options = long_options(*sub);
    if (std::find(options.begin(), options.end(), word) != options.end()) continue;
    const std::string near = closest(word, options);
    return "unknown option " + std::string(word) + " of " + path +
           (near.empty() ? "" : "; did you mean " + near + "?");
  }
  return "";
}

}  // namespace procreg::cli
