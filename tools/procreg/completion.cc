// `procreg completion bash` (tools/procreg/completion.h).
#include "tools/procreg/completion.h"

#include <algorithm>
#include <cstdio>
#include <memory>
#include <string_view>
#include <vector>

#include "tools/procreg/cli.h"

namespace procreg::cli {

namespace {

// What completion knows of one subcommand, named by its path below the command ("" for the
// command itself, "log dump" for a nested one).
struct Level {
  std::string path;
  std::vector<std::string> subcommands;
  std::vector<std::string> options;     // every name: -h --help ...
  std::vector<std::string> positional;  // the choices of its positional arguments
  // The options that take a value, each with what to offer: its choices, "<dir>" or "".
  std::vector<std::pair<std::string, std::string>> values;
};

std::string join(const std::vector<std::string>& words) {
  std::string out;
  for (const std::string& w : words) out += (out.empty() ? "" : " ") + w;
  return out;
}

// The choices CLI11 shows in an option's type name: "TEXT:{sync,group,none}=sync" gives sync,
// group and none (an IsMember check); none without braces.
std::vector<std::string> choices_of(const CLI::Option& option) {
  const std::string type = option.get_type_name();
  const std::size_t open = type.find('{');
  const std::size_t close = type.find('}', open);
  std::vector<std::string> out;
  if (open == std::string::npos || close == std::string::npos) return out;
  std::string_view list(type.data() + open + 1, close - open - 1);
  while (!list.empty()) {
    const std::size_t comma = std::min(list.find(','), list.size());
    if (comma > 0) out.emplace_back(list.substr(0, comma));
    list.remove_prefix(std::min(comma + 1, list.size()));
  }
  return out;
}

void add_option(const CLI::Option& o, Level* level) {
  if (o.get_group().empty()) return;  // hidden
  const std::vector<std::string> choices = choices_of(o);
  if (!o.nonpositional()) {
    level->positional.insert(level->positional.end(), choices.begin(), choices.end());
    return;
  }
  std::vector<std::string> names;
  for (const std::string& n : o.get_snames()) names.push_back("-" + n);
  for (const std::string& n : o.get_lnames()) names.push_back("--" + n);
  level->options.insert(level->options.end(), names.begin(), names.end());
  if (o.get_items_expected_max() == 0) return;  // a flag
  std::string offer = join(choices);
  if (offer.empty() && !o.get_lnames().empty() && o.get_lnames().front().ends_with("-dir")) {
    offer = "<dir>";
  }
  for (const std::string& n : names) level->values.emplace_back(n, offer);
}

void walk(const CLI::App& app, const std::string& path, std::vector<Level>* levels) {
  Level level;
  level.path = path;
  for (const CLI::Option* o : app.get_options()) add_option(*o, &level);
  std::vector<const CLI::App*> subs;
  for (const CLI::App* s : app.get_subcommands({})) {
    if (s->get_name().empty() || s->get_group().empty()) continue;  // option groups, hidden
    level.subcommands.push_back(s->get_name());
    subs.push_back(s);
  }
  levels->push_back(std::move(level));
  for (const CLI::App* s : subs) {
    walk(*s, path.empty() ? s->get_name() : path + " " + s->get_name(), levels);
  }
}

// A word for the shell, single-quoted unless plain.
std::string quoted(const std::string& word) {
  const bool plain = !word.empty() && word.find_first_not_of(
                                          "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                          "0123456789_-.,:/@+=") == std::string::npos;
  if (plain) return word;
  std::string out = "'";
  for (const char c : word) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// A shell function printing, for the path given as $1, what `field` says of that level.
std::string lookup_function(const std::string& name, const std::vector<Level>& levels,
                            std::vector<std::string> Level::*field) {
  std::string out = name + "() {\n  case \"$1\" in\n";
  for (const Level& level : levels) {
    if ((level.*field).empty()) continue;
    out += "    " + quoted(level.path) + ") echo " + quoted(join(level.*field)) + " ;;\n";
  }
  return out + "  esac\n}\n";
}

std::string value_function(const std::vector<Level>& levels) {
  std::string out =
      "# What option $2 of the path $1 takes: choices, <dir> or anything (\"\"); status 1 for a\n"
      "# flag or an unknown option.\n"
      "_procreg_value() {\n  case \"$1|$2\" in\n";
  for (const Level& level : levels) {
    for (const auto& [option, offer] : level.values) {
      out += "    " + quoted(level.path + "|" + option) + ") echo " + quoted(offer) + " ;;\n";
    }
  }
  return out + "    *) return 1 ;;\n  esac\n}\n";
}

// The completion function: finds the subcommand path in the words before the cursor (skipping
// options and their values), then offers options, an option's values, or subcommands.
constexpr const char* kCompleteFunction = R"sh(_procreg() {
  local cur=${COMP_WORDS[COMP_CWORD]} prev="" path="" word offer i
  ((COMP_CWORD > 0)) && prev=${COMP_WORDS[COMP_CWORD - 1]}
  if [[ $cur == "=" ]]; then
    cur=""
  elif [[ $prev == "=" ]] && ((COMP_CWORD > 1)); then
    prev=${COMP_WORDS[COMP_CWORD - 2]}
  fi
  for ((i = 1; i < COMP_CWORD; i++)); do
    word=${COMP_WORDS[i]}
    case "$word" in
      -*=*) ;;
      -*) _procreg_value "$path" "$word" >/dev/null && ((i++)) ;;
      *)
        if [[ " $(_procreg_subcommands "$path") " == *" $word "* ]]; then
          path=${path:+$path }$word
        fi
        ;;
    esac
  done
  COMPREPLY=()
  if [[ $cur == -* ]]; then
    mapfile -t COMPREPLY < <(compgen -W "$(_procreg_options "$path")" -- "$cur")
  elif [[ $prev == -* ]] && offer=$(_procreg_value "$path" "$prev"); then
    if [[ $offer == "<dir>" ]]; then
      compopt -o filenames 2>/dev/null
      mapfile -t COMPREPLY < <(compgen -d -- "$cur")
    elif [[ -n $offer ]]; then
      mapfile -t COMPREPLY < <(compgen -W "$offer" -- "$cur")
    fi
  else
    mapfile -t COMPREPLY < <(compgen -W \
      "$(_procreg_subcommands "$path") $(_procreg_positional "$path")" -- "$cur")
  fi
}
complete -o default -F _procreg procreg
)sh";

}  // namespace

std::string bash_completion(const CLI::App& app) {
  std::vector<Level> levels;
  walk(app, "", &levels);
  return std::string("# bash completion for procreg ") + PROCREG_VERSION +
         ", made by `procreg completion bash` from\n"
         "# the command's subcommands and options. Load it with\n"
         "#   source <(procreg completion bash)\n"
         "# or install it as bash-completion's completions/procreg.\n\n"
         "# The subcommands, options and positional choices of the subcommand path $1.\n" +
         lookup_function("_procreg_subcommands", levels, &Level::subcommands) +
         lookup_function("_procreg_options", levels, &Level::options) +
         lookup_function("_procreg_positional", levels, &Level::positional) +
         value_function(levels) + kCompleteFunction;
}

void add_completion_command(CLI::App& app, Commands* commands) {
  auto shell = std::make_shared<std::string>();
  CLI::App* sub = app.add_subcommand("completion", "Print a bash completion script for procreg");
  sub->add_option("shell", *shell, "the shell (bash)")->required()->check(CLI::IsMember({"bash"}));
  commands->push_back({sub, [&app, shell] {  // keeps *shell, which CLI11 parses into, alive
                         const std::string script = bash_completion(app);
                         std::fwrite(script.data(), 1, script.size(), stdout);
                         return std::fflush(stdout) == 0 ? kExitOk : kExitFailure;
                       }});
}

}  // namespace procreg::cli
