// procreg::replay: the writer's view of state = the projection + events appended to the log
// but not yet durable and applied.
//
// Under group commit a write is appended, then waits for the sync before it is applied, while
// later writes are validated already: they must see the earlier, still pending, events. The
// overlay records the rows those pending events wrote (or removed, or cleared) and answers
// first; prune() forgets what the projection has caught up with.
//
// Thread safety: owned by the writer lock. find()/has_rows() read the projection too, which
// is safe because only the apply step (also ordered after the writer appended) mutates it,
// under the projection's exclusive lock, and the caller takes the shared lock around reads.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <shared_mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>

#include "events/row_codec.h"
#include "procreg/event.h"
#include "state/commands.h"
#include "state/projection.h"

namespace procreg::replay {

class Overlay : public StateView {
 public:
  Overlay(const Projection& projection, std::shared_mutex& projection_mu)
      : projection_(projection), projection_mu_(projection_mu) {}

  const StoredRow* find(std::string_view table, std::string_view id) const override;
  bool has_rows(std::string_view table) const override;

  // Records what `event` (appended, or about to be appended, and not yet applied) does. The
  // rows it writes are borrowed, not copied: the overlay keeps pointers to them (and to their
  // parts in `encoded`, events::encode's output for `event` with `rows`, if given) and copies a
  // row only if find() asks for it. So `event` and `encoded` must stay where they are,
  // unchanged, until prune() has forgotten the event or own_borrowed() copied its rows.
  void record(const Event& event, std::string_view encoded = {},
              std::span<const events::EntryPartsAt> rows = {});
  // Copies every borrowed row, so that the events recorded may go away.
  void own_borrowed();
  // Forgets every effect of events up to `applied_seq`, which the projection now holds.
  void prune(std::uint64_t applied_seq);
  // Forgets everything (the writer applied, or gave up on, every event recorded).
  void clear() {
    tables_.clear();
    touched_.clear();
  }
  bool empty() const { return tables_.empty(); }

 private:
  struct Pending {
    Pending(std::optional<StoredRow> r, std::uint64_t s, const Row* b)
        : row(std::move(r)), seq(s), borrowed(b) {}
    std::optional<StoredRow> row;   // empty = removed (unless borrowed is set)
    std::uint64_t seq = 0;          // the event that wrote this state
    const Row* borrowed = nullptr;  // the event's row, copied into `row` when first found
    events::EncodedEntry parts;     // with `borrowed`: its encoding (empty if not recorded)
  };
  // The row that `p` borrows, copied (from its encoding when recorded).
  static StoredRow copy_borrowed(const Pending& p);
  // Ids are looked up by string_view, without building a string.
  struct IdHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view id) const { return std::hash<std::string_view>{}(id); }
  };
  struct TableOverlay {
    std::uint64_t cleared_seq = 0;  // a pending clear: rows not in `rows` are gone
    std::unordered_map<std::string, Pending, IdHash, std::equal_to<>> rows;
  };
  void put(const std::string& table, TableOverlay& t, const std::string& id, Pending pending);
  const StoredRow* current(std::string_view table, std::string_view id) const;

  const Projection& projection_;
  std::shared_mutex& projection_mu_;
  // mutable: find() copies a borrowed row in on first use.
  mutable std::map<std::string, TableOverlay, std::less<>> tables_;
  struct Touch {
    std::uint64_t seq;
    std::string table;
    std::string id;  // empty: the table's clear marker
  };
  std::deque<Touch> touched_;  // in sequence order
};

}  // namespace procreg::replay
