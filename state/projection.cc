#include "state/projection.h"

#include "events/row_codec.h"
#include "events/row_scan.h"

namespace procreg::replay {

Projection::Projection(std::string hub, std::string local_node)
    : hub_(std::move(hub)), local_node_(std::move(local_node)) {
  default_table_ = &table_for_write(hub_);  // the common case skips the name lookup
}

const Table* Projection::table(std::string_view name) const {
  if (name.empty() || name == hub_) return default_table_;
  auto it = tables_.find(name);
  return it == tables_.end() ? nullptr : it->second.get();
}

Table& Projection::table_for_write(std::string_view name) {
  if (name == hub_ && default_table_ != nullptr) return *default_table_;
  auto it = tables_.find(name);
  if (it == tables_.end()) {
    it = tables_.emplace(std::string(name), std::make_unique<Table>(local_node_)).first;
  }
  return *it->second;
}

std::vector<std::string> Projection::table_names() const {
  std::vector<std::string> names;
  for (const auto& [name, table] : tables_) {
    if (!table->empty()) names.push_back(name);
  }
  return names;
}

std::map<std::string, Dump> Projection::dump_all_tables() const {
  std::map<std::string, Dump> out;
  for (const auto& [name, table] : tables_) {
    if (table->empty()) continue;
    Dump& dump = out[name];
    table->for_each([&](const StoredRow& row) { dump.emplace(row.id(), row.entry()); });
  }
  return out;
}

Status Projection::check_bulk_delete(const Table* table, const events::BulkDelete& body) const {
  for (const auto& item : body.items) {
    if (item.changed && (table == nullptr || table->find(item.child_id) == nullptr)) {
      return Status::corruption("bulk_delete changes row '" + item.child_id +
                                "', which the projection does not hold");
    }
  }
  return Status();
}

Status Projection::apply(const Event& event) {
  Event copy = event;
  return apply(std::move(copy));
}

Status Projection::apply(Event&& event) { return apply_event(std::move(event), {}, nullptr); }

Status Projection::apply(Event&& event, std::string_view encoded,
                         std::span<const events::EntryPartsAt> rows) {
  return apply_event(std::move(event), encoded, &rows);
}

namespace {

std::size_t rows_of(const Event& event) {
  if (const auto* bulk = std::get_if<events::BulkInsert>(&event.body)) return bulk->items.size();
  return std::holds_alternative<events::Insert>(event.body) ||
                 std::holds_alternative<events::Update>(event.body)
             ? 1
             : 0;
}

}  // namespace

Status Projection::check_envelope(std::string_view hub, std::uint64_t seq, std::uint64_t epoch,
                                  std::string_view table) const {
  if (hub != hub_) {
    return Status::invalid_argument("event of hub '" + std::string(hub) + "' applied to hub '" +
                                    hub_ + "'");
  }
  if (seq != last_seq_ + 1) {
    return Status::invalid_argument("event sequence " + std::to_string(seq) + " does not follow " +
                                    std::to_string(last_seq_));
  }
  if (epoch_ != 0 && epoch != epoch_) {
    return Status::invalid_argument("event epoch " + std::to_string(epoch) +
                                    " differs from the projection's " + std::to_string(epoch_));
  }
  if (table.empty()) return Status::invalid_argument("event without a table");
  return Status();
}

void Projection::advance(Table& table, std::uint64_t seq, std::uint64_t epoch,
                         std::int64_t time_ms) {
  table.set_last_seq(seq);
  last_seq_ = seq;
  epoch_ = epoch;
  if (time_ms > max_time_ms_) max_time_ms_ = time_ms;
}

Status Projection::apply(const events::ScannedInsert& event) {
  if (Status s = check_envelope(event.hub, event.seq, event.epoch, event.table); !s.ok()) {
    return s;
  }
  Table& t = table_for_write(event.table);
  t.put(event.row, event.seq);
  if (event.hooks) registered_head_ = event.seq;  // an insert always fires child_registered
  advance(t, event.seq, event.epoch, event.writer_time_ms);
  return Status();
}

Status Projection::apply_event(Event&& event, std::string_view encoded,
                               const std::span<const events::EntryPartsAt>* rows) {
  if (Status s = check_envelope(event.hub, event.seq, event.epoch, event.table); !s.ok()) {
    return s;
  }
  if (const auto* bd = std::get_if<events::BulkDelete>(&event.body)) {
    Status s = check_bulk_delete(table(event.table), *bd);
    if (!s.ok()) return s;
  }
  if (rows != nullptr) {
    if (rows->size() != rows_of(event)) {
      return Status::invalid_argument("the event has " + std::to_string(rows_of(event)) +
                                      " rows, and " + std::to_string(rows->size()) +
                                      " places of rows were given");
    }
    for (const auto& at : *rows) {
      if (std::size_t{at.metadata} + at.metadata_size > encoded.size() ||
          std::size_t{at.node_pids} + at.node_pids_size > encoded.size() ||
          std::size_t{at.spec} + at.spec_size > encoded.size()) {
        return Status::invalid_argument("a row's place is outside the event's encoding");
      }
    }
  }

  const std::uint64_t seq = event.seq;
  Table& t = table_for_write(event.table);
  std::size_t next_row = 0;
  const auto put = [&](const Row& row) {
    if (rows == nullptr) {
      t.put(row.entry, row.expires_at_ms, seq);
    } else {
      t.put(StoredRow(row.entry, (*rows)[next_row++].in(encoded), row.expires_at_ms, seq));
    }
  };
  std::visit(
      [&](auto& body) {
        using T = std::decay_t<decltype(body)>;
        if constexpr (std::is_same_v<T, events::Insert> || std::is_same_v<T, events::Update>) {
          put(body.row);
        } else if constexpr (std::is_same_v<T, events::BulkInsert>) {
          for (const auto& item : body.items) put(item.row);
        } else if constexpr (std::is_same_v<T, events::Delete>) {
          t.remove(body.child_id);
        } else if constexpr (std::is_same_v<T, events::BulkDelete>) {
          for (auto& item : body.items) {
            if (item.changed)
              t.set_nodes(item.child_id, std::move(item.node_pids), item.expires_at_ms, seq);
          }
        } else if constexpr (std::is_same_v<T, events::Clear>) {
          t.clear();
        } else if constexpr (std::is_same_v<T, events::Expire>) {
          for (const auto& item : body.items) {
            const StoredRow* row = t.find(item.child_id);
            if (row != nullptr && row->seq == item.row_seq) t.remove(item.child_id);
          }
        }
      },
      event.body);
  if (event.hooks) {
    if (fires_hooks(event, HookTopic::kChildRegistered)) registered_head_ = seq;
    if (fires_hooks(event, HookTopic::kChildUnregistered)) unregistered_head_ = seq;
  }
  advance(t, seq, event.epoch, event.writer_time_ms);
  return Status();
}

void Projection::reset_to(std::uint64_t epoch, std::uint64_t seq) {
  tables_.clear();
  default_table_ = nullptr;  // (table_for_write returns it for the hub's name)
  default_table_ = &table_for_write(hub_);
  last_seq_ = seq;
  epoch_ = epoch;
  registered_head_ = 0;
  unregistered_head_ = 0;
  max_time_ms_ = INT64_MIN;
}

void Projection::swap(Projection& other) noexcept {
  // Tables are owned through unique_ptr, so default_table_ stays valid with its map.
  std::swap(last_seq_, other.last_seq_);
  std::swap(epoch_, other.epoch_);
  std::swap(registered_head_, other.registered_head_);
  std::swap(unregistered_head_, other.unregistered_head_);
  std::swap(max_time_ms_, other.max_time_ms_);
  tables_.swap(other.tables_);
  std::swap(default_table_, other.default_table_);
}

void Projection::restore_table_head(const std::string& table, std::uint64_t last_seq) {
  table_for_write(table).set_last_seq(last_seq);
}

void Projection::restore_heads(std::uint64_t registered_head, std::uint64_t unregistered_head,
                               std::int64_t max_time_ms) {
  registered_head_ = registered_head;
  unregistered_head_ = unregistered_head;
  max_time_ms_ = max_time_ms;
}

void Projection::reserve_rows(std::string_view table, std::size_t rows) {
  table_for_write(table).reserve(rows);
}

void Projection::shrink_tables() {
  for (auto& [name, table] : tables_) table->shrink_to_fit();
}

void Projection::load_row(const std::string& table, const Row& row, std::uint64_t revision) {
  table_for_write(table).put(row.entry, row.expires_at_ms, revision);
}

void Projection::load_row(std::string_view table, const events::ScannedRow& row,
                          std::uint64_t revision) {
  table_for_write(table).put(row, revision);
}

}  // namespace procreg::replay
