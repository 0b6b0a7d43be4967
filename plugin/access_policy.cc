// AccessPolicy: the keys of each role, from a directory (include/procreg/security.h).
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <vector>

#include "plugin/key_files.h"
#include "procreg/security.h"

namespace procreg {

namespace {

namespace fs = std::filesystem;

constexpr Role kRoles[] = {Role::kReader, Role::kWriter, Role::kAdmin, Role::kPublisher,
                           Role::kStandby};

// "a,b , c" -> {"a", "b", "c"}; "default" stands for the hub's default table ("").
std::set<std::string> table_list(const std::string& text) {
  std::set<std::string> tables;
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t comma = text.find(',', start);
    if (comma == std::string::npos) comma = text.size();
    std::string t = text.substr(start, comma - start);
    t.erase(0, t.find_first_not_of(' '));
    t.erase(t.find_last_not_of(' ') + 1);
    if (!t.empty()) tables.insert(t == "default" ? std::string() : t);
    start = comma + 1;
  }
  return tables;
}

// The certificate files of each role's directory, sorted, with what a change would alter.
struct Listing {
  std::vector<std::pair<Role, fs::path>> files;
  std::string signature;
};

Result<Listing> list(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    return Status::not_found("no key directory " + dir +
                             " (it holds reader/, writer-client/, admin/, publisher/)");
  }
  Listing l;
  for (Role role : kRoles) {
    const fs::path sub = fs::path(dir) / std::string(role_name(role));
    if (!fs::is_directory(sub, ec)) continue;
    std::vector<fs::path> names;
    for (fs::directory_iterator it(sub, ec), end; !ec && it != end; it.increment(ec)) {
      if (it->path().extension() == ".key") names.push_back(it->path());
    }
    if (ec) return Status::io_error("cannot list " + sub.string() + ": " + ec.message());
    std::sort(names.begin(), names.end());
    for (auto& p : names) {
      struct stat st {};
      if (::stat(p.c_str(), &st) == 0) {
        l.signature += p.string() + '\0' + std::to_string(st.st_size) + '\0' +
                       std::to_string(st.st_mtim.tv_sec) + '.' +
                       std::to_string(st.st_mtim.tv_nsec) + '\n';
      }
      l.files.emplace_back(role, std::move(p));
    }
  }
  return l;
}

Result<std::map<std::string, Grant, std::less<>>> read_grants(const Listing& listing) {
  std::map<std::string, Grant, std::less<>> grants;
  for (const auto& [role, path] : listing.files) {
    auto cert = plugin::parse_certificate_file(path.string());
    if (!cert.ok()) return cert.status();
    if (!valid_curve_key(cert->public_key)) {
      return Status::invalid_argument(path.string() + ": no public-key of 40 Z85 characters");
    }
    Grant& g = grants[cert->public_key];
    g.roles = static_cast<std::uint8_t>(g.roles | static_cast<std::uint8_t>(role));
    if (role == Role::kWriter) {
      auto t = cert->metadata.find("tables");
      if (t != cert->metadata.end()) {
        auto more = table_list(t->second);
        g.tables.insert(more.begin(), more.end());
      }
    }
  }
  return grants;
}

}  // namespace

Result<std::shared_ptr<AccessPolicy>> AccessPolicy::load(const std::string& dir) {
  std::shared_ptr<AccessPolicy> p(new AccessPolicy());
  p->dir_ = dir;
  if (Status s = p->reload(); !s.ok()) return s;
  return p;
}

std::shared_ptr<AccessPolicy> AccessPolicy::from_grants(std::map<std::string, Grant> grants) {
  std::shared_ptr<AccessPolicy> p(new AccessPolicy());
  p->grants_.insert(grants.begin(), grants.end());
  p->generation_ = 1;
  return p;
}

Grant AccessPolicy::grant(std::string_view public_key) const {
  std::lock_guard l(mu_);
  auto it = grants_.find(public_key);
  return it == grants_.end() ? Grant{} : it->second;
}

void AccessPolicy::grant_always(const std::string& public_key, Role role) {
  std::lock_guard l(mu_);
  auto& roles = always_[public_key];
  roles = static_cast<std::uint8_t>(roles | static_cast<std::uint8_t>(role));
  auto& g = grants_[public_key];
  g.roles = static_cast<std::uint8_t>(g.roles | roles);
}

Status AccessPolicy::reload() {
  if (dir_.empty()) return {};
  auto listing = list(dir_);
  Result<std::map<std::string, Grant, std::less<>>> grants =
      listing.ok() ? read_grants(*listing)
                   : Result<std::map<std::string, Grant, std::less<>>>(listing.status());
  std::lock_guard l(mu_);
  checked_ = std::chrono::steady_clock::now();
  if (!grants.ok()) {
    ++reload_failures_;
    if (listing.ok()) signature_ = listing->signature;  // retried when a file changes again
    return grants.status();
  }
  grants_ = std::move(*grants);
  for (const auto& [key, roles] : always_) {
    auto& g = grants_[key];
    g.roles = static_cast<std::uint8_t>(g.roles | roles);
  }
  signature_ = listing->signature;
  ++generation_;
  return {};
}

bool AccessPolicy::refresh(std::chrono::milliseconds interval) {
  if (dir_.empty()) return false;
  {
    std::lock_guard l(mu_);
    const auto now = std::chrono::steady_clock::now();
    if (now - checked_ < interval) return false;
    checked_ = now;
  }
  auto listing = list(dir_);
  {
    std::lock_guard l(mu_);
    if (listing.ok() && listing->signature == signature_) return false;
  }
  return reload().ok();
}

std::uint64_t AccessPolicy::generation() const {
  std::lock_guard l(mu_);
  return generation_;
}

std::uint64_t AccessPolicy::reload_failures() const {
  std::lock_guard l(mu_);
  return reload_failures_;
}

std::size_t AccessPolicy::size() const {
  std::lock_guard l(mu_);
  return grants_.size();
}

}  // namespace procreg
