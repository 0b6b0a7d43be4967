#include "events/codec_samples.h"

#include <cassert>
#include <utility>

namespace procreg::test {

Event sample_event(EventBody body) {
  Event event;
  event.hub = "hub";
  event.table = "tbl";
  event.seq = 7;
  event.epoch = 3;
  event.writer_time_ms = 1700000000000;
  event.hooks = true;
  event.body = std::move(body);
  return event;
}

Row sample_row(bool ttl) {
  Row row;
  row.entry.spec = make_spec("w1", "M", "f", {Value("a"), Value(1)});
  row.entry.spec.extra["restart"] = Value("temporary");
  row.entry.node_pids = {{"n1", "p1"}, {"n2", "p2"}};
  row.entry.metadata[kTagKey] = Value("db");
  if (ttl) row.expires_at_ms = 1700000060000;
  return row;
}

std::vector<NamedEvent> sample_events() {
  Row bare = sample_row(false);  // an unbound row: no extra fields, no pairs, no metadata
  bare.entry.spec.id = "w2";
  bare.entry.spec.extra.clear();
  bare.entry.node_pids.clear();
  bare.entry.metadata.clear();
  return {
      {"insert", sample_event(events::Insert{sample_row(false)})},
      {"insert_ttl", sample_event(events::Insert{sample_row(true)})},
      {"bulk_insert",
       sample_event(events::BulkInsert{{{sample_row(false), {{"n2", "p2"}}}, {bare, {}}}})},
      {"delete", sample_event(events::Delete{"w1"})},
      // Item 1 as the writer writes an unchanged item: no pairs, no expiry.
      {"bulk_delete",
       sample_event(events::BulkDelete{{{"w1", true, {}, 1700000060000}, {"w2", false, {}, {}}}})},
      {"update", sample_event(events::Update{"w1", sample_row(false)})},
      {"clear", sample_event(events::Clear{})},
      {"expire", sample_event(events::Expire{{{"w1", 5}, {"w2", 300}}})},
  };
}

}  // namespace procreg::test
