// CURVE key pairs and their certificate files (include/procreg/security.h).
//
// The files are ZeroMQ's certificates as czmq's zcert and pyzmq's zmq.auth write them: ZPL
// (ZeroMQ RFC 4) text with a `curve` section holding `public-key` and, in the secret file,
// `secret-key`, each a quoted Z85 string, and a `metadata` section of name = "value" lines.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <sstream>
#include <system_error>

#include <zmq.h>

#include "plugin/key_files.h"
#include "procreg/security.h"

namespace procreg {

namespace {

std::string errno_text() { return std::generic_category().message(errno); }

std::string certificate_text(const CurveKeys& keys, bool secret) {
  std::array<char, 64> when{};
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  std::strftime(when.data(), when.size(), "%Y-%m-%d %H:%M:%S UTC", &utc);
  std::string t = "#   ****  Generated on " + std::string(when.data()) + " by procreg  ****\n";
  if (secret) {
    t += "#   ZeroMQ CURVE **Secret** Certificate\n";
    t += "#   DO NOT PROVIDE THIS FILE TO OTHER USERS nor change its permissions.\n";
  } else {
    t += "#   ZeroMQ CURVE Public Certificate\n";
    t += "#   Exchange securely, or use a secure mechanism to verify the contents\n";
    t += "#   of this file after exchange.\n";
  }
  t += "\nmetadata\ncurve\n    public-key = \"" + keys.public_key + "\"\n";
  if (secret) t += "    secret-key = \"" + keys.secret_key + "\"\n";
  return t;
}

// Writes `text` to `path` with `mode` through a temporary file and a rename, so that a reader
// never sees half a key and a secret is never, even briefly, readable by others.
Status write_file_atomically(const std::string& path, const std::string& text, mode_t mode) {
  const std::string tmp = path + ".tmp";
  ::unlink(tmp.c_str());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) return Status::io_error("cannot create " + tmp + ": " + errno_text());
  bool ok = ::fchmod(fd, mode) == 0;  // the umask may have narrowed it; never widened
  std::size_t done = 0;
  while (ok && done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    ok = n > 0;
    if (ok) done += static_cast<std::size_t>(n);
  }
  ok = ok && ::fsync(fd) == 0;
  const std::string why = ok ? "" : errno_text();
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string reason = ok ? errno_text() : why;
    ::unlink(tmp.c_str());
    return Status::io_error("cannot write " + path + ": " + reason);
  }
  return {};
}

}  // namespace

bool valid_curve_key(std::string_view key) {
  if (key.size() != 40) return false;
  const std::string text(key);
  std::array<std::uint8_t, 32> bytes{};
  return zmq_z85_decode(bytes.data(), text.c_str()) != nullptr;
}

Result<CurveKeys> generate_curve_keys() {
  std::array<char, 41> pub{};
  std::array<char, 41> sec{};
  if (zmq_curve_keypair(pub.data(), sec.data()) != 0) {
    return Status::unsupported(std::string("this libzmq cannot make CURVE keys: ") +
                               zmq_strerror(zmq_errno()));
  }
  return CurveKeys{pub.data(), sec.data()};
}

Status write_curve_keys(const std::string& base, const CurveKeys& keys) {
  if (!valid_curve_key(keys.public_key) || !valid_curve_key(keys.secret_key)) {
    return Status::invalid_argument("a CURVE key is 40 characters of Z85");
  }
  if (Status s = write_file_atomically(base + ".key_secret", certificate_text(keys, true), 0600);
      !s.ok()) {
    return s;
  }
  return write_file_atomically(base + ".key", certificate_text(keys, false), 0644);
}

Result<CurveKeys> read_curve_keys(const std::string& path, bool want_secret) {
  std::string file = path;
  struct stat st {};
  // NAME names the certificate when no file is called NAME (a directory may be).
  if (::stat(file.c_str(), &st) != 0 || S_ISDIR(st.st_mode)) {
    const std::string alt = path + (want_secret ? ".key_secret" : ".key");
    if (::stat(alt.c_str(), &st) != 0) {
      return Status::not_found("no key file " + path + " (nor " + alt + ")");
    }
    file = alt;
  }
  if (!S_ISREG(st.st_mode)) return Status::invalid_argument(file + " is not a file");
  auto cert = plugin::parse_certificate_file(file);
  if (!cert.ok()) return cert.status();
  if (!valid_curve_key(cert->public_key)) {
    return Status::invalid_argument(file + ": no public-key of 40 Z85 characters");
  }
  CurveKeys keys{cert->public_key, ""};
  if (!want_secret) return keys;
  if (cert->secret_key.empty()) {
    return Status::invalid_argument(file + " holds no secret-key (a public certificate)");
  }
  if ((st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return Status::permission_denied("secret key file " + file + " is readable by others (mode " +
                                     mode + "); run chmod 600 " + file);
  }
  if (!valid_curve_key(cert->secret_key)) {
    return Status::invalid_argument(file + ": secret-key is not 40 Z85 characters");
  }
  keys.secret_key = cert->secret_key;
  return keys;
}

std::string_view role_name(Role role) {
  switch (role) {
    case Role::kReader:
      return "reader";
    case Role::kWriter:
      return "writer-client";
    case Role::kAdmin:
      return "admin";
    case Role::kPublisher:
      return "publisher";
    case Role::kStandby:
      return "standby";
  }
  return "unknown";
}

bool Grant::allows(Role r) const {
  switch (r) {
    case Role::kReader:
      return has(Role::kReader) || has(Role::kWriter) || has(Role::kAdmin) || has(Role::kStandby);
    case Role::kWriter:
      return has(Role::kWriter) || has(Role::kAdmin);
    case Role::kAdmin:
      return has(Role::kAdmin);
    case Role::kPublisher:
      return has(Role::kPublisher);
    case Role::kStandby:
      return has(Role::kStandby);
  }
  return false;
}

bool is_local_endpoint(std::string_view endpoint) {
  if (endpoint.rfind("inproc://", 0) == 0 || endpoint.rfind("ipc://", 0) == 0) return true;
  if (endpoint.rfind("tcp://", 0) != 0) return false;
  std::string_view rest = endpoint.substr(6);
  // A connect may name a source address first: "tcp://SRC;DST". Both must be local.
  while (!rest.empty()) {
    const std::size_t semi = rest.find(';');
    std::string_view part = rest.substr(0, semi);
    const std::size_t colon = part.rfind(':');
    std::string_view host = colon == std::string_view::npos ? part : part.substr(0, colon);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
      host = host.substr(1, host.size() - 2);
    }
    const bool local = host == "localhost" || host == "::1" ||
                       (host.rfind("127.", 0) == 0 &&
                        host.find_first_not_of("0123456789.") == std::string_view::npos);
    if (!local) return false;
    if (semi == std::string_view::npos) break;
    rest = rest.substr(semi + 1);
  }
  return true;
}

}  // namespace procreg
