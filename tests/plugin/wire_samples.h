// Test helpers for the wire codec (plugin/wire.h): hex conversion, one sample of every message
// kind (the messages whose bytes wire_golden_test.cc pins; the error tests start from them),
// and top-level edits of an encoded body through msgpack-cxx's object model (not through the
// codec under test), to build inputs procreg's encoder never writes.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "events/codec.h"
#include "hex.h"
#include "plugin/wire.h"

namespace procreg::plugin::wire::test {

using testing::from_hex;  // tests/hex.h
using testing::to_hex;

// The row of the event format's golden examples (docs/EVENT_FORMAT.md): child "w1", started by
// M.f("a", 1), extra field restart: "temporary", bound to n1/p1 and n2/p2, tagged "db", and
// expiring at 1700000060000 if `ttl`.
Row sample_row(bool ttl);
Entry sample_entry();  // sample_row(false).entry

EventHeader sample_event_header();        // seq 7, epoch 3, table_prev 5
EventHeader sample_event_batch_header();  // the same with count 3: events 7, 8 and 9
HookHeader sample_hook_header();          // seq 7, epoch 3, kind_prev 4, hook_prev 6, index 1 of 2
HookPayload sample_hook_payload();        // hub, tbl, w1, [n1/p1]
Heartbeat sample_heartbeat();             // seq 7, epoch 3, t 1700000000000, heads 6 and 5
// The same three, as a writer of term 2, incarnation kSampleIncarnation (started at seq 8
// after kSamplePrevIncarnation's seq 7; the event continues that incarnation's seq 6) sends them.
inline constexpr std::uint64_t kSampleIncarnation = 0x1122334455667788ull;
inline constexpr std::uint64_t kSamplePrevIncarnation = 0x0102030405060708ull;
EventHeader sample_event_header_of_term();
Heartbeat sample_heartbeat_of_term();
Heartbeat sample_heartbeat_with_endpoints();
ReplayReplyHeader sample_range_reply_of_term();  // events 8..9: pinc the previous incarnation
CommandReply sample_command_reply_of_term();
ReplayRequest sample_range_request();     // id 42, from 8, the rest default
ReplayRequest sample_snapshot_request();  // id 43, snapshot 9 from offset 1024, 512 rows
ReplayReplyHeader sample_range_reply();   // id 42, events 8..9 of head 9, end
ReplayRequest sample_files_request();     // id 44, the rest default
// id 46, standby "sb1" holds seq 9 (of kSampleIncarnation), waits 500 ms
ReplayRequest sample_standby_files_request();
// id 47: the standby's request naming the segment it copies, at its size 4711, copying ahead; and
// the reply listing that one segment (head 10) and carrying its bytes 4711..4858.
ReplayRequest sample_carrying_files_request();
ReplayReplyHeader sample_carrying_files_reply();
ReplayRequest sample_file_request();        // id 45, 00000000000000000001.log from 39, 64 KiB
LogFile sample_log_file();                  // that segment: 4711 bytes, seqs 1..9, not sealed
ReplayReplyHeader sample_file_reply();      // id 45: bytes 39..4711 of the 4711 (head 9)
ReplayReplyHeader sample_snapshot_reply();  // id 43, the first 2 of 3 rows of snapshot 9 at 9
ReplayReplyHeader sample_error_reply();     // id 43, not_found "snapshot 9 expired, start again"
SnapshotRow sample_snapshot_row();          // tbl, sample_row(true), revision 7
CommandReply sample_command_reply();        // id 42, ok, seq 8, epoch 3
CommandReply sample_conflict_reply();       // id 42, conflict, seq 0, epoch 3

// Commands: id 42, hub "hub", table "" (the default), timeout 5000 ms, hooks on (off for
// update and clear_all). insert: sample_entry() with a ttl of 60000 ms; bulk_insert:
// sample_entry() and an unbound w2; erase: w1; bulk_delete: w1 from n1, w2 from no node;
// update: w1 at revision 7 to sample_entry().
Command sample_command(CommandOp op);

// Reads (docs/PROTOCOL.md, "Reads"): id 42, hub "hub", the default table, timeout 5000 ms, and
// the keys of the op: child "w1" (lookup with metadata), ids ["w1", "w2"] (contains_children),
// tag "db" (match_tag), scope local (process_list); nothing else.
Command sample_read(CommandOp op);
// The cursors of the documented dump page: the one it was asked with (at w1) and its "next"
// (at w2); opaque to clients.
std::string sample_cursor_w1();
std::string sample_cursor_w2();
// The documented examples: get_pid of w1 once seq 8 is applied, and its reply (pid "p1", read
// at seq 8, epoch 3); a page of dump of at most 1 row from sample_cursor_w1(), and its reply
// (w1's sample_entry(), read at seq 9, epoch 3, next sample_cursor_w2()).
Command sample_get_pid_request();
CommandReply sample_get_pid_reply();
Command sample_dump_page_request();
CommandReply sample_dump_page_reply();

// A message kind under test: its sample's encoding, its decoder (the default limits unless
// given), and the encoding of what it decoded (for round trips of decoded input).
struct Kind {
  std::string name;
  std::string bytes;
  std::function<Status(std::string_view bytes, const events::DecodeLimits& limits)> decode;
  // Decodes and, if that succeeds, re-encodes; empty on an error.
  std::function<std::string(std::string_view bytes)> reencode;
  std::uint32_t newest = kWireVersion;  // the newest "v" its decoder reads
};
// One Kind per decoder and per sample: event_header, event_batch_header, hook_header, hook_payload,
// heartbeat, range_request, snapshot_request, range_reply, snapshot_reply, error_reply,
// snapshot_row, insert, insert_without_ttl, bulk_insert, erase, bulk_delete, update, clear_all,
// command_reply, conflict_reply.
std::vector<Kind> kinds();

// Edits of the top-level map of an encoded body; `item` is an encoded MessagePack item.
std::string replace_value(std::string_view bytes, std::string_view key, std::string_view item);
std::string remove_key(std::string_view bytes, std::string_view key);
std::string duplicate_key(std::string_view bytes, std::string_view key);
std::string add_key(std::string_view bytes, std::string_view key, std::string_view item);
// Moves the pair `key` to the end of the map.
std::string move_last(std::string_view bytes, std::string_view key);
// The top-level keys of an encoded body, in order.
std::vector<std::string> keys(std::string_view bytes);

}  // namespace procreg::plugin::wire::test
