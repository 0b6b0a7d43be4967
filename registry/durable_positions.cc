#include "registry/durable_positions.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <fstream>
#include <limits>
#include <memory>
#include <sstream>

#include "log/file_util.h"

namespace procreg::replay {

Status check_durable_name(std::string_view name) {
  const bool ok_size = !name.empty() && name.size() <= kMaxDurableNameBytes;
  bool ok_chars = true;
  for (char c : name) {
    const bool allowed = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                         (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
    ok_chars = ok_chars && allowed;
  }
  if (ok_size && ok_chars) return Status();
  return Status::invalid_argument("a durable subscriber's name is 1 to " +
                                  std::to_string(kMaxDurableNameBytes) +
                                  " characters of A-Z a-z 0-9 . _ -");
}

Result<std::unique_ptr<DurablePositions>> DurablePositions::open(const std::string& dir) {
  std::unique_ptr<DurablePositions> p(new DurablePositions(dir));
  const std::string path = dir + "/" + std::string(kDurablePositionsFile);
  std::ifstream in(path);
  if (!in) return p;  // no file: no durable subscriber yet
  std::string line;
  for (std::size_t number = 1; std::getline(in, line); ++number) {
    std::istringstream fields(line);
    std::uint64_t seq = 0;
    std::string name;
    std::string mark;
    std::string rest;
    const bool parsed = static_cast<bool>(fields >> seq >> name);
    const bool marked = parsed && static_cast<bool>(fields >> mark);
    if (!parsed || (marked && mark != "cut") || (fields >> rest) ||
        !check_durable_name(name).ok()) {
      return Status::corruption(path + " line " + std::to_string(number) +
                                R"(: expected "SEQ NAME" or "SEQ NAME cut")");
    }
    p->positions_[name] = seq;
    if (marked) p->cut_.insert(name);
  }
  return p;
}

Status DurablePositions::set(std::string_view name, std::uint64_t seq) {
  if (Status s = check_durable_name(name); !s.ok()) return s;
  std::lock_guard lock(mu_);
  auto it = positions_.find(name);
  if (it == positions_.end()) {
    if (positions_.size() >= kMaxDurableNames) {
      return Status::resource_exhausted("the writer holds " + std::to_string(kMaxDurableNames) +
                                        " durable subscribers already");
    }
    it = positions_.emplace(std::string(name), seq).first;
    dirty_ = true;
  } else if (it->second != seq) {
    it->second = seq;
    dirty_ = true;
    if (cut_.erase(it->first) > 0) dirty_ = true;  // a new position: it holds the log again
  }
  if (dirty_ && std::chrono::steady_clock::now() - written_ >= std::chrono::seconds(1)) {
    return write_locked();
  }
  return Status();
}

std::uint64_t DurablePositions::get(std::string_view name) const {
  std::lock_guard lock(mu_);
  const auto it = positions_.find(name);
  return it == positions_.end() ? 0 : it->second;
}

std::size_t DurablePositions::size() const {
  std::lock_guard lock(mu_);
  return positions_.size();
}

std::uint64_t DurablePositions::max_lag(std::uint64_t head) const {
  std::lock_guard lock(mu_);
  std::uint64_t lag = 0;
  for (const auto& [name, seq] : positions_) {
    if (!cut_.contains(name) && head > seq) lag = std::max(lag, head - seq);
  }
  return lag;
}

std::map<std::string, std::uint64_t, std::less<>> DurablePositions::all() const {
  std::lock_guard lock(mu_);
  return positions_;
}

std::uint64_t DurablePositions::floor(std::uint64_t head, std::uint64_t max_behind) {
  std::lock_guard lock(mu_);
  std::uint64_t lowest = std::numeric_limits<std::uint64_t>::max();
  for (const auto& [name, seq] : positions_) {
    if (cut_.contains(name)) continue;
    if (head > seq && head - seq > max_behind) {
      cut_.insert(name);
      ++cut_off_;
      dirty_ = true;
      continue;
    }
    lowest = std::min(lowest, seq);
  }
  return lowest;
}

std::uint64_t DurablePositions::cut_off() const {
  std::lock_guard lock(mu_);
  return cut_off_;
}

Status DurablePositions::flush() {
  std::lock_guard lock(mu_);
  return dirty_ ? write_locked() : Status();
}

Status DurablePositions::write_locked() {
  std::string text;
  for (const auto& [name, seq] : positions_) {
    text += std::to_string(seq) + " " + name + (cut_.contains(name) ? " cut\n" : "\n");
  }
  const std::string path = dir_ + "/" + std::string(kDurablePositionsFile);
  const std::string tmp = path + ".tmp";
  auto fd = open_file(tmp, O_WRONLY | O_CREAT | O_TRUNC);
  if (!fd.ok()) return fd.status();
  Status s = write_fully(fd->get(), text.data(), text.size(), tmp);
  if (s.ok()) s = sync_data(fd->get(), tmp);
  if (s.ok() && std::rename(tmp.c_str(), path.c_str()) != 0) s = io_error("rename", tmp, errno);
  if (s.ok()) {
    auto dir = open_file(dir_, O_RDONLY | O_DIRECTORY);
    s = dir.ok() ? sync_all(dir->get(), dir_) : dir.status();
  }
  if (!s.ok()) {
    ::unlink(tmp.c_str());
    return s;
  }
  dirty_ = false;
  written_ = std::chrono::steady_clock::now();
  return s;
}

}  // namespace procreg::replay
