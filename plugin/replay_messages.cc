// The replay service's bodies (plugin/replay_messages.h, docs/PROTOCOL.md), read and written
// by their tables (plugin/wire_fields.h says how). Wire version 1, keys in the order procreg
// writes them; `?` marks an optional key, read as its C++ default when absent:
//
//   ReplayRequest = map { "v", "id": uint, "hub": str,
//                         "op": "range" | "snapshot" | "files" | "file" | "position",
//                         "from"?: uint, "to"?: uint, "sid"?: uint snapshot_id,
//                         "off"?: uint offset, "max_n"?: uint32 max_events,
//                         "max_b"?: uint32 max_bytes, "name"?: str, "stb"?: str standby,
//                         "have"?: uint, "wait"?: uint32 wait_ms, "hinc"?: uint,
//                         "ahd"?: bool ahead }
//   (the last five written only when set: not empty, not 0, true)
//   ReplayReplyHeader = map { "v", "id": uint, "status": status, "ep": uint, "head": uint,
//                         "first": uint, "last": uint, "n": uint32 count, "end": bool,
//                         "sid": uint snapshot_id, "next": uint next_offset, "total": uint }
//   SnapshotRow   = map { "v", "tbl": str, "row": row, "rev": uint revision }
//   LogFile       = map { "v", "name": str, "kind": "segment" | "snapshot", "size": uint,
//                         "first": uint, "last": uint, "sealed": bool }
//
// "hub" and the "tbl" of a SnapshotRow are not empty. status is plugin/wire_fields.cc's; row
// is the event format's (events/row_codec.h), and SnapshotRow is events/snapshot_row.h's.

#include "plugin/replay_messages.h"

#include <array>
#include <cassert>
#include <string>

#include "plugin/wire_fields.h"

namespace procreg::plugin::wire {

namespace {

using namespace detail;  // the codec's vocabulary

// Op names, indexed by ReplayOp's values.
constexpr std::array<std::string_view, 5> kReplayOps = {"range", "snapshot", "files", "file",
                                                        "position"};
constexpr std::array<std::string_view, 2> kFileKinds = {"segment", "snapshot"};

using Request = ReplayRequest;
// Key indexes ("v" is 0): id, hub, op, from, to, sid, off, max_n, max_b, then these.
constexpr std::uint32_t kRequestNameKey = 10;
constexpr std::uint32_t kRequestStandbyKey = 11;
constexpr std::uint32_t kRequestHaveKey = 12;
constexpr std::uint32_t kRequestWaitKey = 13;
constexpr std::uint32_t kRequestHaveIncarnationKey = 14;
constexpr std::uint32_t kRequestAheadKey = 15;

std::uint32_t request_keys(const ReplayRequest& m) {
  std::uint32_t keys = ~0u;
  if (m.name.empty()) keys &= ~bits(kRequestNameKey);
  if (m.standby.empty()) keys &= ~bits(kRequestStandbyKey);
  if (m.have == 0) keys &= ~bits(kRequestHaveKey);
  if (m.wait_ms == 0) keys &= ~bits(kRequestWaitKey);
  if (m.have_incarnation == 0) keys &= ~bits(kRequestHaveIncarnationKey);
  if (!m.ahead) keys &= ~bits(kRequestAheadKey);
  return keys;
}
constexpr auto kRequest = make_request_body<Request, kReplayOps>(
    "replay_request",
    std::array{
        field<&Request::from>("from", kOptional), field<&Request::to>("to", kOptional),
        field<&Request::snapshot_id>("sid", kOptional), field<&Request::offset>("off", kOptional),
        field<&Request::max_events>("max_n", kOptional),
        field<&Request::max_bytes>("max_b", kOptional), field<&Request::name>("name", kOptional),
        field<&Request::standby>("stb", kOptional), field<&Request::have>("have", kOptional),
        field<&Request::wait_ms>("wait", kOptional),
        field<&Request::have_incarnation>("hinc", kOptional),
        field<&Request::ahead>("ahd", kOptional)},
    {.written = request_keys});

constexpr auto kLogFile = make_body<LogFile>(
    "log_file", std::array{field<&LogFile::name, NonEmpty>("name"),
                           field<&LogFile::kind, Op<kFileKinds>>("kind"),
                           field<&LogFile::size>("size"), field<&LogFile::first>("first"),
                           field<&LogFile::last>("last"), field<&LogFile::sealed>("sealed")});

using Reply = ReplayReplyHeader;
constexpr auto kReply = make_body<Reply>(
    "replay_reply",
    std::array{field<&Reply::id>("id"), field<&Reply::status>("status"), field<&Reply::epoch>("ep"),
               field<&Reply::head>("head"), field<&Reply::first>("first"),
               field<&Reply::last>("last"), field<&Reply::count>("n"), field<&Reply::end>("end"),
               field<&Reply::snapshot_id>("sid"), field<&Reply::next_offset>("next"),
               field<&Reply::total>("total"), field<&Reply::term>("tm", kOptional),
               field<&Reply::incarnation>("inc", kOptional),
               field<&Reply::start_seq>("st", kOptional),
               field<&Reply::prev_incarnation>("pinc", kOptional),
               field<&Reply::last_incarnation>("linc", kOptional)},
    {.written = [](const Reply& m) {
      // The first eleven keys and "v" always; tm, inc, st, pinc, linc (keys 12..16) when set.
      std::uint32_t keys = ~0u;
      const std::uint64_t optional[] = {m.term, m.incarnation, m.start_seq, m.prev_incarnation,
                                        m.last_incarnation};
      for (std::size_t i = 0; i < std::size(optional); ++i) {
        if (optional[i] == 0) keys &= ~bits(12 + i);
      }
      return keys;
    }});

}  // namespace

void encode(const ReplayRequest& m, std::string* out) {
  assert(!m.hub.empty() && "the hub is never empty");
  encode_body(kRequest, m, out);
}

Result<ReplayRequest> decode_replay_request(std::string_view bytes) {
  return decode_body(kRequest, bytes);
}

void encode(const ReplayReplyHeader& m, std::string* out) { encode_body(kReply, m, out); }

void encode(const LogFile& m, std::string* out) { encode_body(kLogFile, m, out); }

Result<LogFile> decode_log_file(std::string_view bytes) { return decode_body(kLogFile, bytes); }

Result<ReplayReplyHeader> decode_replay_reply_header(std::string_view bytes) {
  return decode_body(kReply, bytes);
}

void encode(const SnapshotRow& m, std::string* out) {
  events::encode_snapshot_row(m.table, m.row.entry, m.row.expires_at_ms, m.revision, out);
}

}  // namespace procreg::plugin::wire
