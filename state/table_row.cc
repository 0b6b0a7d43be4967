#include "state/table_row.h"

#include <cassert>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <new>

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
const events::DecodeLimits kStoredLimits{
    std::numeric_limits<std::size_t>::max(), std::numeric_limits<std::uint32_t>::max(),
    std::numeric_limits<std::uint32_t>::max(), std::numeric_limits<std::uint32_t>::max()};

template <typename T, typename Read>
T decode_part(std::string_view bytes, std::string_view part, Read read) {
  T out{};
  events::Decoder d(bytes, kStoredLimits, part);
  if (!read(d, &out) || !d.finish()) unreadable_row(part, std::move(d).error());
  return out;
}

// node_pids is read far more often than the other parts (match_tag, process_list, local
// queries, pid lookups), so it has a reader of its own: the bytes are the row's, written by
// Encoder::node_pids, and only the forms it writes are read (array and str heads of any width).
class NodePidsReader {
 public:
  explicit NodePidsReader(std::string_view bytes)
      : p_(reinterpret_cast<const unsigned char*>(bytes.data())), end_(p_ + bytes.size()) {}

  std::uint32_t array_head() {
    const unsigned b = byte();
    if (b >= 0x90 && b <= 0x9f) return b & 0x0f;
    if (b == 0xdc) return static_cast<std::uint32_t>(be(2));
    if (b == 0xdd) return static_cast<std::uint32_t>(be(4));
    bad();
  }
  std::string_view str() {
    const unsigned b = byte();
    std::size_t n = 0;
    if (b >= 0xa0 && b <= 0xbf) {
      n = b & 0x1f;
    } else if (b == 0xd9) {
      n = be(1);
    } else if (b == 0xda) {
      n = be(2);
    } else if (b == 0xdb) {
      n = be(4);
    } else {
      bad();
    }
    if (static_cast<std::size_t>(end_ - p_) < n) bad();
    std::string_view out(reinterpret_cast<const char*>(p_), n);
    p_ += n;
    return out;
  }
  bool done() const { return p_ == end_; }

 private:
  unsigned byte() {
    if (p_ == end_) bad();
    return *p_++;
  }
  std::size_t be(int bytes) {
    std::size_t v = 0;
    for (int i = 0; i < bytes; ++i) v = (v << 8) | byte();
    return v;
  }
  [[noreturn]] static void bad() {
    unreadable_row("node_pids", Status::corruption("not the form Encoder::node_pids writes"));
  }
  const unsigned char* p_;
  const unsigned char* end_;
};

// Calls f(node, pid) for each pair until f returns true.
template <typename F>
void for_each_node_pid(std::string_view bytes, F&& f) {
  NodePidsReader r(bytes);
  const std::uint32_t n = r.array_head();
  for (std::uint32_t i = 0; i < n; ++i) {
    if (r.array_head() != 2)
      unreadable_row("node_pids", Status::corruption("a pair is not 2 items"));
    const std::string_view node = r.str();
    const std::string_view pid = r.str();
    if (f(node, pid)) return;
  }
  if (!r.done()) unreadable_row("node_pids", Status::corruption("trailing bytes"));
}

std::uint32_t narrow(std::size_t n) {
  assert(n < 0xffffffffu && "a row is smaller than 4 GiB (events are at most 16 MiB)");
  return static_cast<std::uint32_t>(n);
}

// Rows are built here and copied once into their body, so that a body's allocation is its
// exact size. One buffer per thread; none of its users calls another while it holds it.
std::string& scratch() {
  thread_local std::string buffer;
  buffer.clear();
  return buffer;
}

void store_scratch(std::string& buffer, RowBody* body) {
  *body = RowBody(buffer);  // exactly its size, also when a row is replaced
  if (buffer.capacity() > (64u << 10)) std::string().swap(buffer);  // keep no large buffer
}

// The metadata's tag, when it is a string (the rows match_tag indexes).
std::optional<std::string_view> tag_of(const Metadata& metadata) {
  auto it = metadata.find(kTagKey);
  if (it == metadata.end() || !it->second.is_string()) return std::nullopt;
  return std::string_view(it->second.as_string());
}

}  // namespace

RowBody::RowBody(std::string_view bytes) {
  assert(bytes.size() < 0xffffffffu && "a row is smaller than 4 GiB");
  void* memory = ::operator new(sizeof(Block) + bytes.size());
  block_ = new (memory) Block{{1}, static_cast<std::uint32_t>(bytes.size())};
  if (!bytes.empty()) std::memcpy(block_->bytes(), bytes.data(), bytes.size());
}

RowBody::RowBody(std::initializer_list<std::string_view> parts) {
  std::size_t size = 0;
  for (std::string_view part : parts) size += part.size();
  assert(size < 0xffffffffu && "a row is smaller than 4 GiB");
  void* memory = ::operator new(sizeof(Block) + size);
  block_ = new (memory) Block{{1}, static_cast<std::uint32_t>(size)};
  char* out = block_->bytes();
  for (std::string_view part : parts) {
    if (!part.empty()) std::memcpy(out, part.data(), part.size());
    out += part.size();
  }
}

void RowBody::release() noexcept {
  if (block_ == nullptr) return;
  // The last owner frees; acq_rel orders every other owner's reads before the free.
  if (block_->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) {
    block_->~Block();
    ::operator delete(block_);
  }
  block_ = nullptr;
}

StoredRow::StoredRow(const Entry& entry, std::optional<std::int64_t> expires_at_ms,
                     std::uint64_t revision)
    : seq(revision) {
  encode(entry.spec, entry.node_pids, entry.metadata);
  set_expiry(expires_at_ms);
}

StoredRow::StoredRow(const events::ScannedRow& row, std::uint64_t revision)
    : seq(revision),
      body_({row.id, row.tag.value_or(std::string_view()), row.parts.spec, row.parts.node_pids,
             row.parts.metadata}),
      id_size_(narrow(row.id.size())),
      tag_size_(row.tag ? narrow(row.tag->size()) : kNoTag),
      spec_size_(narrow(row.parts.spec.size())),
      node_pids_size_(narrow(row.parts.node_pids.size())),
      node_count_(row.node_count) {
  set_expiry(row.expires_at_ms);
}

StoredRow::StoredRow(const Entry& entry, const events::EncodedEntry& parts,
                     std::optional<std::int64_t> expires_at_ms, std::uint64_t revision)
    : StoredRow(events::ScannedRow{parts, entry.spec.id, tag_of(entry.metadata),
                                   narrow(entry.node_pids.size()), expires_at_ms},
                revision) {
  assert(holds(entry) && "the parts are the entry's encoding");
}

void StoredRow::encode(const ChildSpec& spec, const NodePids& node_pids, const Metadata& metadata) {
  std::string& buf = scratch();
  buf.append(spec.id);
  id_size_ = narrow(spec.id.size());
  tag_size_ = kNoTag;
  if (const auto tag = tag_of(metadata)) {
    buf.append(*tag);
    tag_size_ = narrow(tag->size());
  }
  events::Encoder enc(&buf);
  std::size_t at = buf.size();
  events::write_spec(enc, spec);
  spec_size_ = narrow(buf.size() - at);
  at = buf.size();
  enc.node_pids(node_pids);
  node_pids_size_ = narrow(buf.size() - at);
  node_count_ = narrow(node_pids.size());
  enc.value_map(metadata);
  store_scratch(buf, &body_);
}

ChildSpec StoredRow::spec() const {
  return decode_part<ChildSpec>(spec_bytes(), "spec", events::read_spec);
}

NodePids StoredRow::node_pids() const {
  NodePids out;
  out.reserve(node_count_);
  for_each_node_pid(node_pids_bytes(), [&](std::string_view node, std::string_view pid) {
    out.push_back(NodePid{NodeName(node), Pid(pid)});
    return false;
  });
  return out;
}

Metadata StoredRow::metadata() const {
  return decode_part<Metadata>(metadata_bytes(), "metadata",
                               [](events::Decoder& d, Metadata* m) { return d.read_value_map(m); });
}

Entry StoredRow::entry() const { return Entry{spec(), node_pids(), metadata()}; }

std::optional<Pid> StoredRow::pid_on(std::string_view node) const {
  std::optional<Pid> out;
  for_each_node_pid(node_pids_bytes(), [&](std::string_view n, std::string_view pid) {
    if (n == node) out.emplace(pid);
    return out.has_value();
  });
  return out;
}

bool StoredRow::on_node(std::string_view node) const {
  bool found = false;
  for_each_node_pid(node_pids_bytes(), [&](std::string_view n, std::string_view) {
    found = n == node;
    return found;
  });
  return found;
}

events::EncodedEntry StoredRow::encoded() const {
  return events::EncodedEntry{spec_bytes(), node_pids_bytes(), metadata_bytes()};
}

bool StoredRow::holds(const Entry& entry) const {
  if (entry.spec.id != id() || entry.node_pids.size() != node_count_) return false;
  StoredRow other(entry, std::nullopt, 0);
  // The body has no separators: equal bytes cut at other places would be other parts (a tag
  // string, or binary metadata, can hold any bytes), so every boundary must match too.
  return other.tag_size_ == tag_size_ && other.spec_size_ == spec_size_ &&
         other.node_pids_size_ == node_pids_size_ && other.body_.view() == body_.view();
}

bool StoredRow::holds_spec_and_metadata(const ChildSpec& spec, const Metadata& metadata) const {
  if (spec.id != id()) return false;
  StoredRow other;
  other.encode(spec, NodePids{}, metadata);
  return other.spec_bytes() == spec_bytes() && other.metadata_bytes() == metadata_bytes();
}

StoredRow StoredRow::with_nodes(const NodePids& node_pids,
                                std::optional<std::int64_t> expires_at_ms,
                                std::uint64_t revision) const {
  StoredRow out;
  out.seq = revision;
  out.set_expiry(expires_at_ms);
  std::string& buf = scratch();
  buf.append(body_.data(), spec_at() + spec_size_);
  events::Encoder enc(&buf);
  enc.node_pids(node_pids);
  out.node_pids_size_ = narrow(buf.size() - spec_at() - spec_size_);
  buf.append(metadata_bytes());
  store_scratch(buf, &out.body_);
  out.id_size_ = id_size_;
  out.tag_size_ = tag_size_;
  out.spec_size_ = spec_size_;
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
