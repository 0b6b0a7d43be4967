#include "plugin/key_files.h"

#include <cerrno>
#include <fstream>
#include <iterator>
#include <system_error>

namespace procreg::plugin {

namespace {

constexpr std::size_t kMaxCertificateBytes = std::size_t{64} << 10;

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

// "name = value" with value quoted or bare (a bare value ends at a '#'). False if malformed.
bool split_property(std::string_view line, std::string* name, std::string* value) {
  const std::size_t eq = line.find('=');
  if (eq == std::string_view::npos) return false;
  *name = std::string(trim(line.substr(0, eq)));
  std::string_view v = trim(line.substr(eq + 1));
  if (!v.empty() && (v.front() == '"' || v.front() == '\'')) {
    const std::size_t end = v.find(v.front(), 1);
    if (end == std::string_view::npos) return false;
    *value = std::string(v.substr(1, end - 1));
  } else {
    *value = std::string(trim(v.substr(0, v.find('#'))));
  }
  return !name->empty();
}

}  // namespace

Result<Certificate> parse_certificate(std::string_view text, const std::string& name) {
  Certificate cert;
  std::string section;
  std::size_t line_no = 0;
  while (!text.empty()) {
    const std::size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    ++line_no;
    const std::string_view body = trim(line);
    if (body.empty() || body.front() == '#') continue;
    const std::size_t indent = line.find_first_not_of(' ');
    if (indent == 0) {
      section = std::string(body.substr(0, body.find_first_of(" =")));
      continue;
    }
    std::string key;
    std::string value;
    if (!split_property(body, &key, &value)) {
      return Status::invalid_argument(name + ":" + std::to_string(line_no) +
                                      ": not a ZPL name = value line");
    }
    if (section == "curve" && key == "public-key") cert.public_key = value;
    if (section == "curve" && key == "secret-key") cert.secret_key = value;
    if (section == "metadata") cert.metadata[key] = value;
  }
  return cert;
}

Result<Certificate> parse_certificate_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (errno == ENOENT) return Status::not_found("no key file " + path);
    return Status::io_error("cannot read " + path + ": " + std::generic_category().message(errno));
  }
  std::string text;
  text.resize(kMaxCertificateBytes + 1);
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<std::size_t>(in.gcount()));
  if (text.size() > kMaxCertificateBytes) {
    return Status::invalid_argument(path + " is over 64 KiB: not a certificate");
  }
  return parse_certificate(text, path);
}

}  // namespace procreg::plugin
