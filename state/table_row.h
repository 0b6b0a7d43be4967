// procreg::replay: StoredRow, one row of a table as the projection keeps it.
//
// A row is kept compact: one byte string holds the child id, the metadata tag (when it is a
// string) and the entry's three parts in the event format's layout (events/row_codec.h), and the
// row reads them back on demand. A row is its fixed part plus one allocation about the size of
// its event's row. An Entry of std::strings, vectors and maps would be several allocations
// per row; one contiguous body keeps the heap per row small and a row's bytes in one place
// (docs/PERFORMANCE.md, "Registry: reads, replay, memory, codec"). A query that returns an
// entry decodes it, which costs about what copying an Entry would.
//
//   body = id bytes | tag bytes | spec | node_pids | metadata     (the last three: MessagePack)
//
// The body never changes once built (a change builds a new one) and is shared by reference
// count, so copying a row copies a pointer: the replay service captures a snapshot by copying
// the rows, and encodes them after the projection's lock is released.
//
// Thread safety: a row has none of its own (the owning Table's synchronisation applies); a
// copy of it may be read and destroyed on another thread while the original changes.
#pragma once

#include <atomic>
#include <climits>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

#include "events/row_codec.h"
#include "events/row_scan.h"
#include "procreg/types.h"

namespace procreg::replay {

// An immutable byte string shared by reference count: a row's body. Copying a row copies a
// pointer, so the replay service captures a projection of a million rows in milliseconds
// under the projection's lock and encodes it afterwards, while the writer goes on (a row that
// changes meanwhile gets a new body; the captured copy keeps the old one).
//
// Thread safety: copies may be made and destroyed on any thread; the bytes never change.
class RowBody {
 public:
  RowBody() = default;
  explicit RowBody(std::string_view bytes);
  // The parts one after the other, copied straight into the body (no buffer in between).
  explicit RowBody(std::initializer_list<std::string_view> parts);
  RowBody(const RowBody& other) noexcept : block_(other.block_) {
    if (block_ != nullptr) block_->refs.fetch_add(1, std::memory_order_relaxed);
  }
  RowBody(RowBody&& other) noexcept : block_(other.block_) { other.block_ = nullptr; }
  RowBody& operator=(RowBody other) noexcept {
    std::swap(block_, other.block_);
    return *this;
  }
  ~RowBody() { release(); }

  const char* data() const { return block_ == nullptr ? nullptr : block_->bytes(); }
  std::size_t size() const { return block_ == nullptr ? 0 : block_->size; }
  std::string_view view() const { return {data(), size()}; }
  // Heap bytes of the block (its header and bytes).
  std::size_t allocated() const { return block_ == nullptr ? 0 : sizeof(Block) + block_->size; }

 private:
  struct Block {
    std::atomic<std::uint32_t> refs;
    std::uint32_t size;
    char* bytes() { return reinterpret_cast<char*>(this + 1); }
  };
  void release() noexcept;
  Block* block_ = nullptr;
};

class StoredRow {
 public:
  StoredRow(const Entry& entry, std::optional<std::int64_t> expires_at_ms, std::uint64_t revision);
  // From a scanned row's bytes, without decoding them: the same row as from its decoded Entry.
  StoredRow(const events::ScannedRow& row, std::uint64_t revision);
  // The row of `entry` from `parts`, its spec, node_pids and metadata as procreg encodes them
  // (where events::encode put them in the event): the parts are copied, not encoded again.
  // Precondition (asserted in debug builds): the parts are exactly the encoding of `entry`.
  StoredRow(const Entry& entry, const events::EncodedEntry& parts,
            std::optional<std::int64_t> expires_at_ms, std::uint64_t revision);

  std::uint64_t seq = 0;  // revision: the sequence of the event that last wrote the row
  // Index positions, maintained by Table only.
  mutable std::uint32_t index_pos = kNoPos;
  mutable std::uint32_t local_pos = kNoPos;
  static constexpr std::uint32_t kNoPos = 0xffffffffu;

  std::string_view id() const { return {body_.data(), id_size_}; }
  bool bound() const { return node_count_ != 0; }
  std::uint32_t node_count() const { return node_count_; }
  // The metadata's "tag" when it is a string (what match_tag reads), whatever the row's TTL.
  std::optional<std::string_view> tag() const {
    if (tag_size_ == kNoTag) return std::nullopt;
    return std::string_view(body_.data() + id_size_, tag_size_);
  }

  // The row's parts, decoded (each call builds a new value).
  ChildSpec spec() const;
  NodePids node_pids() const;
  Metadata metadata() const;
  Entry entry() const;
  // The pid of `node` in node_pids, if the node is there.
  std::optional<Pid> pid_on(std::string_view node) const;
  bool on_node(std::string_view node) const;
  // The parts as MessagePack items, for writers of rows (snapshots, the replay service).
  events::EncodedEntry encoded() const;

  // True if the row holds exactly `entry` (the same bytes when encoded), or the same spec and
  // metadata whatever its node_pids. Equal encodings are what a replay cannot tell apart, which
  // differs from Entry's operator== for doubles only: 0.0 and -0.0 differ here, and a NaN equals
  // the same NaN.
  bool holds(const Entry& entry) const;
  bool holds_spec_and_metadata(const ChildSpec& spec, const Metadata& metadata) const;

  // The same spec and metadata with other node_pids, expiry and revision.
  StoredRow with_nodes(const NodePids& node_pids, std::optional<std::int64_t> expires_at_ms,
                       std::uint64_t revision) const;
  // Replaces the whole row but keeps the index positions (the Table relinks it).
  void assign(const Entry& entry, std::optional<std::int64_t> expires_at_ms,
              std::uint64_t revision);
  void set_node_pids(const NodePids& node_pids);

  bool has_ttl() const { return expiry_ != kNoExpiry; }
  // The absolute expiry (writer time, ms), or none for a permanent row.
  std::optional<std::int64_t> expires_at_ms() const {
    return has_ttl() ? std::optional<std::int64_t>(expiry_) : std::nullopt;
  }
  void set_expiry(std::optional<std::int64_t> expires_at_ms) {
    expiry_ = expires_at_ms.value_or(kNoExpiry);
  }
  // Heap bytes the row owns besides its fixed part (for memory accounting in benchmarks).
  std::size_t body_capacity() const { return body_.allocated(); }

 private:
  StoredRow() = default;
  void encode(const ChildSpec& spec, const NodePids& node_pids, const Metadata& metadata);
  std::string_view spec_bytes() const { return {body_.data() + spec_at(), spec_size_}; }
  std::string_view node_pids_bytes() const {
    return {body_.data() + spec_at() + spec_size_, node_pids_size_};
  }
  std::string_view metadata_bytes() const {
    const std::size_t at = spec_at() + spec_size_ + node_pids_size_;
    return {body_.data() + at, body_.size() - at};
  }
  std::size_t spec_at() const { return id_size_ + (tag_size_ == kNoTag ? 0 : tag_size_); }

  static constexpr std::uint32_t kNoTag = 0xffffffffu;
  // Stored without std::optional's flag (8 bytes a row): no writer clock reads INT64_MIN.
  static constexpr std::int64_t kNoExpiry = INT64_MIN;

  RowBody body_;
  std::uint32_t id_size_ = 0;
  std::uint32_t tag_size_ = kNoTag;
  std::uint32_t spec_size_ = 0;
  std::uint32_t node_pids_size_ = 0;
  std::uint32_t node_count_ = 0;
  std::int64_t expiry_ = kNoExpiry;
};

}  // namespace procreg::replay
