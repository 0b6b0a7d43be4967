#include "state/overlay.h"

#include <mutex>

namespace procreg::replay {

const StoredRow* Overlay::current(std::string_view table, std::string_view id) const {
  std::shared_lock lock(projection_mu_);
  const Table* t = projection_.table(table);
  return t == nullptr ? nullptr : t->find(id);
}

const StoredRow* Overlay::find(std::string_view table, std::string_view id) const {
  auto t = tables_.find(table);
  if (t != tables_.end()) {
    auto r = t->second.rows.find(id);
    if (r != t->second.rows.end()) {
      Pending& p = r->second;
      if (p.borrowed != nullptr) {
        p.row.emplace(copy_borrowed(p));
        p.borrowed = nullptr;
      }
      return p.row ? &*p.row : nullptr;
    }
    if (t->second.cleared_seq != 0) return nullptr;
  }
  // The projection's rows are stable while this writer holds its lock: only events this
  // writer appended are applied, and each is recorded here before it can be applied.
  return current(table, id);
}

bool Overlay::has_rows(std::string_view table) const {
  auto t = tables_.find(table);
  if (t != tables_.end()) {
    for (const auto& [id, pending] : t->second.rows) {
      if (pending.row || pending.borrowed != nullptr) return true;
    }
    if (t->second.cleared_seq != 0) return false;
  }
  std::shared_lock lock(projection_mu_);
  const Table* pt = projection_.table(table);
  return pt != nullptr && !pt->empty();
}

void Overlay::put(const std::string& table, TableOverlay& t, const std::string& id,
                  Pending pending) {
  const std::uint64_t seq = pending.seq;
  t.rows.insert_or_assign(id, std::move(pending));
  touched_.push_back(Touch{seq, table, id});
}

void Overlay::record(const Event& event, std::string_view encoded,
                     std::span<const events::EntryPartsAt> rows) {
  auto it = tables_.find(event.table);
  if (it == tables_.end()) it = tables_.emplace(event.table, TableOverlay{}).first;
  TableOverlay& t = it->second;
  const std::uint64_t seq = event.seq;
  std::size_t next_row = 0;  // rows: one per row the event writes, in order
  auto written = [&](const Row& row) {
    Pending p{std::nullopt, seq, &row};
    if (next_row < rows.size()) p.parts = rows[next_row].in(encoded);
    ++next_row;
    return p;
  };
  const Pending removed{std::nullopt, seq, nullptr};
  if (const auto* ins = std::get_if<events::Insert>(&event.body)) {
    put(event.table, t, ins->row.entry.spec.id, written(ins->row));
  } else if (const auto* upd = std::get_if<events::Update>(&event.body)) {
    put(event.table, t, upd->row.entry.spec.id, written(upd->row));
  } else if (const auto* bulk = std::get_if<events::BulkInsert>(&event.body)) {
    for (const auto& item : bulk->items)
      put(event.table, t, item.row.entry.spec.id, written(item.row));
  } else if (const auto* del = std::get_if<events::Delete>(&event.body)) {
    put(event.table, t, del->child_id, removed);
  } else if (const auto* bdel = std::get_if<events::BulkDelete>(&event.body)) {
    for (const auto& item : bdel->items) {
      if (!item.changed) continue;
      const StoredRow* cur = find(event.table, item.child_id);
      put(event.table, t, item.child_id,
          Pending{cur->with_nodes(item.node_pids, item.expires_at_ms, seq), seq, nullptr});
    }
  } else if (std::holds_alternative<events::Clear>(event.body)) {
    t.rows.clear();
    t.cleared_seq = seq;
    touched_.push_back(Touch{seq, event.table, ""});
  } else if (const auto* exp = std::get_if<events::Expire>(&event.body)) {
    for (const auto& item : exp->items) put(event.table, t, item.child_id, removed);
  }
}

StoredRow Overlay::copy_borrowed(const Pending& p) {
  // A recorded encoding has a spec part (a map, at least one byte).
  if (!p.parts.spec.empty()) {
    return StoredRow(p.borrowed->entry, p.parts, p.borrowed->expires_at_ms, p.seq);
  }
  return StoredRow(p.borrowed->entry, p.borrowed->expires_at_ms, p.seq);
}

void Overlay::own_borrowed() {
  for (auto& [name, t] : tables_) {
    for (auto& [id, p] : t.rows) {
      if (p.borrowed == nullptr) continue;
      p.row.emplace(copy_borrowed(p));
      p.borrowed = nullptr;
    }
  }
}

void Overlay::prune(std::uint64_t applied_seq) {
  while (!touched_.empty() && touched_.front().seq <= applied_seq) {
    const Touch touch = std::move(touched_.front());
    touched_.pop_front();
    auto it = tables_.find(touch.table);
    if (it == tables_.end()) continue;
    TableOverlay& t = it->second;
    if (touch.id.empty()) {
      if (t.cleared_seq == touch.seq) t.cleared_seq = 0;
    } else {
      auto r = t.rows.find(touch.id);
      if (r != t.rows.end() && r->second.seq == touch.seq) t.rows.erase(r);
    }
    if (t.rows.empty() && t.cleared_seq == 0) tables_.erase(it);
  }
}

}  // namespace procreg::replay
