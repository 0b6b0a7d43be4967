#include "replay/table_row.h"

#include <cassert>
#include <cstdio>
#include <cstdlib>
#include <limits>

#include "events/decoder.h"
#include "events/encoder.h"

namespace procreg::replay {

namespace {

// The row's own bytes, written by encode() below: a part that does not decode is a bug in
// procreg or a memory fault, never input, so it stops the process rather than answer wrongly.
[[noreturn]] void unreadable_row(std::string_view part, const Status& status) {
  std::fprintf(stderr, "procreg: a stored row's %.*s does not decode (%s); aborting\n",
               static_cast<int>(part.size()), part.data(), status.to_string().c_str());
  std::abort();
}

// No limit but the bytes themselves: the parts were encoded from values procreg holds.
const events::DecodeLimits kStoredLimits{std::numeric_limits<std::size_t>::max(),
                                         std::numeric_limits<std::uint32_t>::max(),
                                         std::numeric_limits<std::uint32_t>::max(),
                                         std::numeric_limits<std::uint32_t>::max()};

template <typename T, typename Read>
T decode_part(std::string_view bytes, std::string_view part, Read read) {
  T out{};
  events::Decoder d(bytes, kStoredLimits, part);
  if (!read(d, &out) || !d.finish()) unreadable_row(part, std::move(d).error());
  return out;
}

std::uint32_t narrow(std::size_t n) {
  assert(n < 0xffffffffu && "a row is smaller than 4 GiB (events are at most 16 MiB)");
  return static_cast<std::uint32_t>(n);
}

}  // namespace

StoredRow::StoredRow(const Entry& entry, std::optional<std::int64_t> expires_at_ms,
                     std::uint64_t revision)
    : seq(revision) {
  encode(entry.spec, entry.node_pids, entry.metadata);
  set_expiry(expires_at_ms);
}

void StoredRow::encode(const ChildSpec& spec, const NodePids& node_pids,
                       const Metadata& metadata) {
  // Built aside and copied once, so that the row's allocation is its exact size.
  thread_local std::string scratch;
  scratch.clear();
  scratch.append(spec.id);
  id_size_ = narrow(spec.id.size());
  tag_size_ = kNoTag;
  if (auto it = metadata.find(kTagKey); it != metadata.end() && it->second.is_string()) {
    scratch.append(it->second.as_string());
    tag_size_ = narrow(it->second.as_string().size());
  }
  events::Encoder enc(&scratch);
  std::size_t at = scratch.size();
  events::write_spec(enc, spec);
  spec_size_ = narrow(scratch.size() - at);
  at = scratch.size();
  enc.node_pids(node_pids);
  node_pids_size_ = narrow(scratch.size() - at);
  node_count_ = narrow(node_pids.size());
  enc.value_map(metadata);
  body_.assign(scratch);
  if (scratch.capacity() > (64u << 10)) std::string().swap(scratch);  // keep no large buffer
}

ChildSpec StoredRow::spec() const {
  return decode_part<ChildSpec>(spec_bytes(), "spec", events::read_spec);
}

NodePids StoredRow::node_pids() const {
  return decode_part<NodePids>(node_pids_bytes(), "node_pids", events::read_node_pids);
}

Metadata StoredRow::metadata() const {
  return decode_part<Metadata>(metadata_bytes(), "metadata",
                               [](events::Decoder& d, Metadata* m) { return d.read_value_map(m); });
}

Entry StoredRow::entry() const { return Entry{spec(), node_pids(), metadata()}; }

std::optional<Pid> StoredRow::pid_on(std::string_view node) const {
  if (node_count_ == 0) return std::nullopt;
  for (auto& p : node_pids()) {
    if (p.node == node) return std::move(p.pid);
  }
  return std::nullopt;
}

events::EncodedEntry StoredRow::encoded() const {
  return events::EncodedEntry{spec_bytes(), node_pids_bytes(), metadata_bytes()};
}

bool StoredRow::holds(const Entry& entry) const {
  if (entry.spec.id != id() || entry.node_pids.size() != node_count_) return false;
  StoredRow other(entry, std::nullopt, 0);
  return other.body_ == body_;
}

bool StoredRow::holds_spec_and_metadata(const ChildSpec& spec, const Metadata& metadata) const {
  if (spec.id != id()) return false;
  StoredRow other(Entry{spec, {}, metadata}, std::nullopt, 0);
  return other.spec_bytes() == spec_bytes() && other.metadata_bytes() == metadata_bytes();
}

StoredRow StoredRow::with_nodes(const NodePids& node_pids,
                                std::optional<std::int64_t> expires_at_ms,
                                std::uint64_t revision) const {
  StoredRow out;
  out.seq = revision;
  out.set_expiry(expires_at_ms);
  thread_local std::string scratch;
  scratch.assign(body_.data(), spec_at() + spec_size_);
  events::Encoder enc(&scratch);
  enc.node_pids(node_pids);
  scratch.append(metadata_bytes());
  out.body_.assign(scratch);
  if (scratch.capacity() > (64u << 10)) std::string().swap(scratch);
  out.id_size_ = id_size_;
  out.tag_size_ = tag_size_;
  out.spec_size_ = spec_size_;
  out.node_pids_size_ = narrow(out.body_.size() - metadata_bytes().size() - spec_at() - spec_size_);
  out.node_count_ = narrow(node_pids.size());
  return out;
}

void StoredRow::assign(const Entry& entry, std::optional<std::int64_t> expires_at_ms,
                       std::uint64_t revision) {
  encode(entry.spec, entry.node_pids, entry.metadata);
  set_expiry(expires_at_ms);
  seq = revision;
}

void StoredRow::set_node_pids(const NodePids& node_pids) {
  StoredRow next = with_nodes(node_pids, expires_at_ms(), seq);
  body_ = std::move(next.body_);
  node_pids_size_ = next.node_pids_size_;
  node_count_ = next.node_count_;
}

}  // namespace procreg::replay
