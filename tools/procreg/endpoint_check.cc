// The form of an endpoint (tools/procreg/endpoint_check.h).
#include "tools/procreg/endpoint_check.h"

#include <unistd.h>

#include <charconv>
#include <cstdlib>
#include <tuple>
#include <vector>

#include "tools/procreg/cli.h"

namespace procreg::cli {

namespace {

std::string expected(EndpointUse use, bool allow_none) {
  std::string form =
      use == EndpointUse::kBind ? "tcp://HOST:PORT (HOST or PORT may be *)" : "tcp://HOST:PORT";
  form += allow_none ? ", ipc://PATH, inproc://NAME or \"none\"" : ", ipc://PATH or inproc://NAME";
  return "expected " + form;
}

// Whether `text` is a port number in [low, 65535].
bool is_port(std::string_view text, int low) {
  int port = -1;
  const char* last = text.data() + text.size();
  return !text.empty() && std::from_chars(text.data(), last, port).ptr == last && port >= low &&
         port <= 65535;
}

// " (tcp://HOST:PORT?)" for a HOST:PORT given without its scheme, else "".
std::string scheme_hint(std::string_view endpoint) {
  const std::size_t colon = endpoint.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || !is_port(endpoint.substr(colon + 1), 0)) {
    return "";
  }
  return " (tcp://" + std::string(endpoint) + "?)";
}

std::string tcp_problem(std::string_view endpoint, std::string_view rest, EndpointUse use) {
  const std::size_t colon = rest.rfind(':');
  const std::string e(endpoint);
  const std::string form = use == EndpointUse::kBind
                               ? "expected tcp://HOST:PORT (HOST or PORT may be *)"
                               : "expected tcp://HOST:PORT";
  if (colon == std::string_view::npos) return e + " has no port: " + form;
  const std::string_view host = rest.substr(0, colon);
  const std::string_view port = rest.substr(colon + 1);
  if (host.empty()) return e + " has no host: " + form;
  if (use == EndpointUse::kBind) {
    if (port == "*" || is_port(port, 0)) return "";
    return e + ": the port \"" + std::string(port) + "\" is not a number up to 65535: " + form;
  }
  if (host == "*" || port == "*") {
    return e + ": * is for binding; give the host and port to connect to: " + form;
  }
  if (is_port(port, 1)) return "";
  return e + ": the port \"" + std::string(port) + "\" is not a number from 1 to 65535: " + form;
}

}  // namespace

std::string endpoint_problem(std::string_view endpoint, EndpointUse use, bool allow_none) {
  if (allow_none && endpoint == "none") return "";
  const std::string e(endpoint);
  const std::size_t scheme_end = endpoint.find("://");
  if (endpoint.empty()) return "an empty endpoint: " + expected(use, allow_none);
  if (scheme_end == std::string_view::npos) {
    return e + " has no scheme: " + expected(use, allow_none) + scheme_hint(endpoint);
  }
  const std::string_view scheme = endpoint.substr(0, scheme_end);
  const std::string_view rest = endpoint.substr(scheme_end + 3);
  if (scheme == "tcp") return tcp_problem(endpoint, rest, use);
  if (scheme == "ipc" || scheme == "inproc") {
    if (!rest.empty()) return "";
    return e + " names no " + (scheme == "ipc" ? "path" : "name") + ": " +
           expected(use, allow_none);
  }
  return e + ": unknown transport \"" + std::string(scheme) + "\": " + expected(use, allow_none);
}

namespace {

enum class Kind { kConnect, kBind, kBindOrNone, kEndpointOrFile };

// Every flag that takes an endpoint, by subcommand.
const std::vector<std::tuple<const char*, const char*, Kind>>& endpoint_flags() {
  static const std::vector<std::tuple<const char*, const char*, Kind>> kFlags = {
      {"serve", "--bus-frontend", Kind::kBind},
      {"serve", "--bus-backend", Kind::kBind},
      {"serve", "--bind", Kind::kBind},
      {"serve", "--replay", Kind::kBindOrNone},
      {"serve", "--command", Kind::kBindOrNone},
      {"serve", "--stats", Kind::kBindOrNone},
      {"serve", "--serve", Kind::kBindOrNone},
      {"serve", "--connect", Kind::kConnect},
      {"serve", "--advertise-bus", Kind::kConnect},
      {"serve", "--standby-of", Kind::kEndpointOrFile},
      {"bus", "--frontend", Kind::kBind},
      {"bus", "--backend", Kind::kBind},
      {"replica", "--bus", Kind::kConnect},
      {"replica", "--replay", Kind::kConnect},
      {"replica", "--command", Kind::kConnect},
      {"replica", "--serve", Kind::kBindOrNone},
      {"replica", "--stats", Kind::kBindOrNone},
      {"call", "--bus", Kind::kConnect},
      {"call", "--replay", Kind::kConnect},
      {"call", "--command", Kind::kConnect},
      {"tail", "--bus", Kind::kConnect},
      {"tail", "--replay", Kind::kConnect},
      {"stats", "--stats", Kind::kConnect},
      {"promote", "--stats", Kind::kEndpointOrFile},
      {"promote", "--peer", Kind::kEndpointOrFile},
  };
  return kFlags;
}

std::string problem_of(const std::string& value, Kind kind) {
  switch (kind) {
    case Kind::kConnect:
      return endpoint_problem(value, EndpointUse::kConnect);
    case Kind::kBind:
      return endpoint_problem(value, EndpointUse::kBind);
    case Kind::kBindOrNone:
      return endpoint_problem(value, EndpointUse::kBind, /*allow_none=*/true);
    case Kind::kEndpointOrFile:
      if (value.find("://") != std::string::npos) {
        return endpoint_problem(value, EndpointUse::kConnect);
      }
      if (!value.empty() && ::access(value.c_str(), R_OK) == 0) return "";
      return value + " is neither an endpoint (tcp://HOST:PORT, ipc://PATH or inproc://NAME) " +
             "nor a readable endpoints file" + scheme_hint(value);
  }
  return "";
}

}  // namespace

void add_endpoint_checks(CLI::App& app) {
  for (const auto& [sub, flag, kind] : endpoint_flags()) {
    CLI::Option* option = app.get_subcommand(sub)->get_option(flag);
    const std::string envname = option->get_envname();
    // A copy: clang 14 cannot capture a structured binding.
    const auto use = kind;
    option->check(CLI::Validator(
        [use, envname](std::string& value) {
          std::string problem = problem_of(value, use);
          const char* env = envname.empty() ? nullptr : std::getenv(envname.c_str());
          if (!problem.empty() && env != nullptr && value == env) {
            problem += " (from " + envname + ")";
          }
          return problem;
        },
        ""));
  }
}

void check_endpoint_from(const std::string& file, const char* key, const std::string& value) {
  // "none": a service the file says is off (a standby's, an elected writer's).
  const std::string problem = endpoint_problem(value, EndpointUse::kConnect, /*allow_none=*/true);
  if (!problem.empty()) usage_error("the endpoints file " + file + ": \"" + key + "\": " + problem);
}

}  // namespace procreg::cli
