// Test helpers for the codec: hex conversion and one sample event of each kind.
//
// The samples are the events whose bytes codec_golden_test.cc pins; the error and fuzz tests
// start from them too.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "hex.h"
#include "procreg/event.h"

namespace procreg::test {

using testing::from_hex;  // tests/hex.h
using testing::to_hex;

// hub "hub", table "tbl", seq 7, epoch 3, writer time 1700000000000, hooks on.
Event sample_event(EventBody body);
// spec {id "w1", start {"M", "f", ["a", 1]}, extra {"restart": "temporary"}},
// node_pids [n1/p1, n2/p2], metadata {"tag": "db"}; expiring at 1700000060000 if `ttl`.
Row sample_row(bool ttl);

struct NamedEvent {
  std::string name;
  Event event;
};
// insert, insert_ttl, bulk_insert, delete, bulk_delete, update, clear, expire.
std::vector<NamedEvent> sample_events();

}  // namespace procreg::test
