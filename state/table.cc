#include "state/table.h"

#include <algorithm>
#include <cassert>

namespace procreg::replay {

namespace {
const std::vector<const StoredRow*> kNoRows;
}

const StoredRow* Table::find(std::string_view id) const { return rows_.find(id); }

std::optional<std::string_view> Table::tag_of(const StoredRow& row) {
  // TTL rows never match a tag (docs/SEMANTICS.md, "Reads").
  if (row.has_ttl()) return std::nullopt;
  return row.tag();
}

bool Table::is_local(const NodePids& node_pids) const {
  return std::any_of(node_pids.begin(), node_pids.end(),
                     [&](const NodePid& np) { return np.node == local_node_; });
}

// Index positions are bookkeeping, not row content: they change on a const row.
void Table::index_add(Index& index, const StoredRow& row, std::uint32_t StoredRow::*pos) {
  const_cast<StoredRow&>(row).*pos = static_cast<std::uint32_t>(index.size());
  index.push_back(&row);
}

void Table::index_remove(Index& index, const StoredRow& row, std::uint32_t StoredRow::*pos) {
  const std::uint32_t at = row.*pos;
  assert(at < index.size() && index[at] == &row);
  const StoredRow* last = index.back();
  index[at] = last;
  const_cast<StoredRow*>(last)->*pos = at;
  index.pop_back();
  const_cast<StoredRow&>(row).*pos = StoredRow::kNoPos;
}

void Table::link(const StoredRow& row, bool local) {
  if (row.has_ttl()) {
    index_add(ttl_, row, &StoredRow::index_pos);
  } else if (auto tag = tag_of(row)) {
    auto it = by_tag_.find(*tag);
    if (it == by_tag_.end()) it = by_tag_.emplace(std::string(*tag), Index{}).first;
    index_add(it->second, row, &StoredRow::index_pos);
  }
  if (local) index_add(local_, row, &StoredRow::local_pos);
}

void Table::unlink(const StoredRow& row) {
  if (row.index_pos != StoredRow::kNoPos) {
    if (row.has_ttl()) {
      index_remove(ttl_, row, &StoredRow::index_pos);
    } else {
      auto it = by_tag_.find(*tag_of(row));
      assert(it != by_tag_.end());
      index_remove(it->second, row, &StoredRow::index_pos);
      if (it->second.empty()) by_tag_.erase(it);
    }
  }
  if (row.local_pos != StoredRow::kNoPos) index_remove(local_, row, &StoredRow::local_pos);
}

void Table::put(const Entry& entry, std::optional<std::int64_t> expires_at_ms, std::uint64_t seq) {
  const RowSet::Place place = rows_.locate(entry.spec.id);
  StoredRow* row = rows_.row_at(place);
  if (row == nullptr) {
    row = rows_.insert_at(place, std::make_unique<StoredRow>(entry, expires_at_ms, seq));
  } else {
    unlink(*row);
    row->assign(entry, expires_at_ms, seq);
  }
  link(*row, is_local(entry.node_pids));
}

void Table::put(StoredRow&& incoming) {
  // A copy of a row of some table carries that table's index positions: they mean nothing here.
  incoming.index_pos = StoredRow::kNoPos;
  incoming.local_pos = StoredRow::kNoPos;
  const RowSet::Place place = rows_.locate(incoming.id());
  StoredRow* row = rows_.row_at(place);
  if (row == nullptr) {
    row = rows_.insert_at(place, std::make_unique<StoredRow>(std::move(incoming)));
  } else {
    unlink(*row);  // both positions are now kNoPos, as the incoming row's
    *row = std::move(incoming);
  }
  link(*row, row->on_node(local_node_));
}

void Table::put(const events::ScannedRow& scanned, std::uint64_t seq) {
  const RowSet::Place place = rows_.locate(scanned.id);
  StoredRow* row = rows_.row_at(place);
  if (row == nullptr) {
    row = rows_.insert_at(place, std::make_unique<StoredRow>(scanned, seq));
  } else {
    unlink(*row);
    *row = StoredRow(scanned, seq);  // the positions are now kNoPos, as the new row's
  }
  link(*row, row->on_node(local_node_));
}

bool Table::set_nodes(std::string_view id, const NodePids& node_pids,
                      std::optional<std::int64_t> expires_at_ms, std::uint64_t seq) {
  StoredRow* row = rows_.find(id);
  if (row == nullptr) return false;
  unlink(*row);
  row->set_node_pids(node_pids);
  row->set_expiry(expires_at_ms);
  row->seq = seq;
  link(*row, is_local(node_pids));
  return true;
}

bool Table::remove(std::string_view id) {
  const StoredRow* row = rows_.find(id);
  if (row == nullptr) return false;
  unlink(*row);
  return rows_.erase(id);
}

void Table::clear() {
  rows_.clear();
  by_tag_.clear();
  ttl_.clear();
  local_.clear();
}

const std::vector<const StoredRow*>& Table::tagged(std::string_view tag) const {
  auto it = by_tag_.find(tag);
  return it == by_tag_.end() ? kNoRows : it->second;
}

}  // namespace procreg::replay
