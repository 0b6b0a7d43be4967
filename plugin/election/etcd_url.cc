// parse_url (plugin/election/etcd_client.h): etcd://HOST:PORT/PREFIX.
#include "plugin/election/etcd_client.h"

#include <cstdint>

namespace procreg::etcd {
namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }

bool is_ipv4(std::string_view host) {
  int parts = 0;
  std::size_t start = 0;
  while (start <= host.size()) {
    std::size_t end = host.find('.', start);
    if (end == std::string_view::npos) end = host.size();
    const std::string_view part = host.substr(start, end - start);
    // 1 to 3 digits, no leading zero ("010" reads as octal to some resolvers), at most 255.
    if (part.empty() || part.size() > 3 || (part.size() > 1 && part[0] == '0')) return false;
    int value = 0;
    for (char c : part) value = value * 10 + (c - '0');
    if (value > 255 || ++parts > 4) return false;
    start = end + 1;
  }
  return parts == 4;
}

// RFC 1123 names: dot-separated labels of letters, digits and '-', not starting or ending
// with '-'.
bool is_host_name(std::string_view host) {
  if (host.size() > 253) return false;
  std::size_t start = 0;
  while (start <= host.size()) {
    std::size_t end = host.find('.', start);
    if (end == std::string_view::npos) end = host.size();
    const std::string_view label = host.substr(start, end - start);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') {
      return false;
    }
    for (char c : label) {
      const bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
      if (!letter && !is_digit(c) && c != '-') return false;
    }
    start = end + 1;
  }
  return true;
}

// A host made of digits and dots only is meant as an IPv4 literal: "1.2.3" is not a name.
bool is_host(std::string_view host) {
  for (char c : host) {
    if (!is_digit(c) && c != '.') return is_host_name(host);
  }
  return is_ipv4(host);
}

// 1..65535, decimal digits only; 0 if not.
int parse_port(std::string_view text) {
  if (text.empty() || text.size() > 5) return 0;
  std::int32_t value = 0;
  for (char c : text) {
    if (!is_digit(c)) return 0;
    value = value * 10 + (c - '0');
  }
  return value <= 65535 ? value : 0;
}

// Empty when the prefix is valid, else what is wrong with it.
std::string prefix_problem(std::string_view prefix) {
  if (prefix.empty()) return "empty PREFIX";
  if (prefix.back() == '/') return "PREFIX ends with '/'";
  if (prefix.front() == '/' || prefix.find("//") != std::string_view::npos) {
    return "empty segment (\"//\") in PREFIX";
  }
  for (char c : prefix) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f) return "space or control character in PREFIX";
  }
  return "";
}

}  // namespace

Result<Url> parse_url(std::string_view url) {
  const auto bad = [url](const std::string& why) {
    return Status::invalid_argument("etcd url \"" + std::string(url) + "\": " + why +
                                    " (expected etcd://HOST:PORT/PREFIX)");
  };
  constexpr std::string_view kScheme = "etcd://";
  if (url.substr(0, kScheme.size()) != kScheme) return bad("scheme is not etcd://");
  const std::string_view rest = url.substr(kScheme.size());
  const std::size_t slash = rest.find('/');
  if (slash == std::string_view::npos) return bad("no /PREFIX after HOST:PORT");
  const std::string_view authority = rest.substr(0, slash);
  if (!authority.empty() && authority.front() == '[') {
    return bad("IPv6 literal HOST not supported (use a host name or an IPv4 address)");
  }
  const std::size_t colon = authority.rfind(':');
  if (colon == std::string_view::npos) return bad("no :PORT after HOST");
  const std::string_view host = authority.substr(0, colon);
  const std::string_view port_text = authority.substr(colon + 1);
  if (host.empty()) return bad("empty HOST");
  if (!is_host(host)) {
    return bad("HOST \"" + std::string(host) + "\" is neither a host name nor an IPv4 address");
  }
  const int port = parse_port(port_text);
  if (port == 0) return bad("PORT \"" + std::string(port_text) + "\" is not a number in 1..65535");
  const std::string_view prefix = rest.substr(slash + 1);
  if (std::string problem = prefix_problem(prefix); !problem.empty()) return bad(problem);
  return Url{std::string(host), port, std::string(prefix)};
}

}  // namespace procreg::etcd
