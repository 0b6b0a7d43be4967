// The bus messages' bodies (plugin/bus_messages.h, docs/PROTOCOL.md), read and written by
// their tables (plugin/wire_fields.h says how). Wire version 1, keys in the order procreg
// writes them:
//
//   EventHeader   = map { "v", "seq": uint, "ep": uint, "prev": uint table_prev }
//   HookHeader    = map { "v", "seq": uint, "ep": uint, "prev": uint kind_prev,
//                         "hprev": uint hook_prev, "i": uint32 index, "n": uint32 count }
//                                                                              (i < n)
//   HookPayload   = map { "v", "hub": str, "tbl": str, "id": str child_id, "np": node_pids }
//   Heartbeat     = map { "v", "seq": uint, "ep": uint, "t": int time_ms,
//                         "reg": uint registered_head, "unreg": uint unregistered_head }
//
// An EventHeader of count n > 1 is version 2 (kEventBatchVersion) with "n": uint (2..65536)
// after "prev"; version 1 ignores an "n". "hub" and "tbl" of a HookPayload are not empty.

#include "plugin/bus_messages.h"

#include <cassert>
#include <new>
#include <string>

#include "plugin/wire_fields.h"

namespace procreg::plugin::wire {

namespace {

using namespace detail;  // the codec's vocabulary

// ---- EventHeader --------------------------------------------------------------------------

// "n", key 4 of an EventHeader: required in version 2 only; version 1 skips it (a deferred
// key, read by check_event_count).
constexpr std::string_view kCount = "n";
constexpr std::size_t kEventCountKey = 4;

// Reads "n" once the version is known.
bool check_event_count(Decoder& d, EventHeader* m, const ReadState& state) {
  if (state.version < kEventBatchVersion) return true;  // one event; "n" is not version 1's
  if ((state.seen & bits(kEventCountKey)) == 0) return d.fail_missing_key(kCount);
  const std::size_t end = d.position();
  d.seek(state.deferred);
  std::uint64_t count = 0;
  {
    Decoder::Scope scope(&d, kCount);
    if (!d.read_uint(&count)) return false;
  }
  d.seek(end);
  if (count < 2 || count > kMaxBatchEvents) {
    return d.fail(Code::kCorruption,
                  "n " + std::to_string(count) + " is not in 2.." + std::to_string(kMaxBatchEvents),
                  false);
  }
  m->count = static_cast<std::uint32_t>(count);
  return true;
}

constexpr auto kEventHeader = make_body<EventHeader>(
    "event_header",
    std::array{
        field<&EventHeader::seq>("seq"), field<&EventHeader::epoch>("ep"),
        field<&EventHeader::table_prev>("prev"),
        deferred<EventHeader>(kCount, [](Encoder& e, const EventHeader& m) { e.uint(m.count); }),
        field<&EventHeader::term>("tm", kOptional),
        field<&EventHeader::incarnation>("inc", kOptional),
        field<&EventHeader::prev_incarnation>("pinc", kOptional)},
    {.newest = kEventBatchVersion,
     .version =
         [](const EventHeader& m) { return m.count == 1 ? kWireVersion : kEventBatchVersion; },
     .written =
         [](const EventHeader& m) {
           std::uint32_t keys = m.count == 1 ? ~bits(kEventCountKey) : ~0u;
           if (m.term == 0) keys &= ~bits(kEventCountKey + 1);
           if (m.incarnation == 0) keys &= ~bits(kEventCountKey + 2);
           if (m.prev_incarnation == 0) keys &= ~bits(kEventCountKey + 3);
           return keys;
         },
     .check = check_event_count});

// ---- HookHeader ---------------------------------------------------------------------------

bool check_hook_index(Decoder& d, HookHeader* m, const ReadState&) {
  if (m->index < m->count) return true;
  return d.fail(
      Code::kCorruption,
      "index " + std::to_string(m->index) + " is not below count " + std::to_string(m->count),
      false);
}

constexpr auto kHookHeader = make_body<HookHeader>(
    "hook_header",
    std::array{field<&HookHeader::seq>("seq"), field<&HookHeader::epoch>("ep"),
               field<&HookHeader::kind_prev>("prev"), field<&HookHeader::hook_prev>("hprev"),
               field<&HookHeader::index>("i"), field<&HookHeader::count>("n"),
               field<&HookHeader::term>("tm", kOptional),
               field<&HookHeader::incarnation>("inc", kOptional)},
    {.written =
         [](const HookHeader& m) {
           // "v" and the six keys always; tm, inc (keys 7, 8) when set.
           std::uint32_t keys = ~0u;
           if (m.term == 0) keys &= ~bits(7);
           if (m.incarnation == 0) keys &= ~bits(8);
           return keys;
         },
     .check = check_hook_index});

// ---- HookPayload and Heartbeat ------------------------------------------------------------

constexpr auto kHookPayload =
    make_body<HookPayload>("hook_payload", std::array{field<&HookPayload::hub, NonEmpty>("hub"),
                                                      field<&HookPayload::table, NonEmpty>("tbl"),
                                                      field<&HookPayload::child_id>("id"),
                                                      field<&HookPayload::node_pids>("np")});

constexpr auto kHeartbeat = make_body<Heartbeat>(
    "heartbeat",
    std::array{field<&Heartbeat::seq>("seq"), field<&Heartbeat::epoch>("ep"),
               field<&Heartbeat::time_ms>("t"), field<&Heartbeat::registered_head>("reg"),
               field<&Heartbeat::unregistered_head>("unreg"),
               field<&Heartbeat::term>("tm", kOptional),
               field<&Heartbeat::incarnation>("inc", kOptional),
               field<&Heartbeat::start_seq>("st", kOptional),
               field<&Heartbeat::replay_endpoint>("rep", kOptional),
               field<&Heartbeat::command_endpoint>("cmd", kOptional)},
    {.written = [](const Heartbeat& m) {
      // "v", seq, ep, t, reg, unreg always; tm, inc, st, rep, cmd (keys 6..10) when set.
      std::uint32_t keys = ~0u;
      if (m.term == 0) keys &= ~bits(6);
      if (m.incarnation == 0) keys &= ~bits(7);
      if (m.start_seq == 0) keys &= ~bits(8);
      if (m.replay_endpoint.empty()) keys &= ~bits(9);
      if (m.command_endpoint.empty()) keys &= ~bits(10);
      return keys;
    }});

}  // namespace

void encode(const EventHeader& m, std::string* out) {
  assert(m.count >= 1 && m.count <= kMaxBatchEvents && "an event message holds 1..65536 events");
  encode_body(kEventHeader, m, out);
}

void encode(const HookHeader& m, std::string* out) {
  assert(m.index < m.count && "a hook message is one of `count` hook events");
  encode_body(kHookHeader, m, out);
}

void encode(const HookPayload& m, std::string* out) {
  assert(!m.hub.empty() && !m.table.empty() && "hub and table are never empty");
  encode_body(kHookPayload, m, out);
}

void encode(const Heartbeat& m, std::string* out) { encode_body(kHeartbeat, m, out); }

Result<EventHeader> decode_event_header(std::string_view bytes) {
  return decode_body(kEventHeader, bytes);
}

Result<HookHeader> decode_hook_header(std::string_view bytes) {
  return decode_body(kHookHeader, bytes);
}

Result<HookPayload> decode_hook_payload(std::string_view bytes, const DecodeLimits& limits) {
  return decode_body(kHookPayload, bytes, limits);
}

Result<Heartbeat> decode_heartbeat(std::string_view bytes) {
  return decode_body(kHeartbeat, bytes);
}

// ---- event batches ------------------------------------------------------------------------

void encode_event_batch(const std::vector<std::string_view>& events, std::string* out) {
  Encoder enc(out);
  enc.array(events.size());
  for (const std::string_view e : events) enc.bin(e);
}

Status decode_event_batch(std::string_view frame, std::uint32_t count,
                          const events::DecodeLimits& limits, std::vector<std::string_view>* out) {
  try {
    Decoder d(frame, limits, "event_batch");
    if (!d.check_size(frame.size()) || !d.read_tuple_head(count)) return std::move(d).error();
    out->reserve(out->size() + count);
    for (std::uint32_t i = 0; i < count; ++i) {
      Decoder::Scope scope(&d, i);
      std::string_view event;
      if (!d.read_bin(&event)) return std::move(d).error();
      out->push_back(event);
    }
    if (!d.finish()) return std::move(d).error();
    return Status();
  } catch (const std::bad_alloc&) {
    return Status::resource_exhausted("out of memory while decoding");
  }
}

}  // namespace procreg::plugin::wire
