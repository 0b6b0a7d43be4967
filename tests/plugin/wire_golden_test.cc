// Golden bytes of the wire protocol: the exact encoding of every message kind and every topic,
// checked by hand against the MessagePack spec and frozen. A change here is a protocol change
// (docs/PROTOCOL.md). Rows, specs and entries are the event format's (docs/EVENT_FORMAT.md), whose
// golden test pins the same sample row.

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include <boost/test/unit_test.hpp>

#include "plugin/wire.h"
#include "plugin/wire_samples.h"

namespace procreg::plugin::wire {
namespace {

using test::from_hex;
using test::to_hex;

template <typename T>
std::string encoded(const T& m) {
  std::string out;
  encode(m, &out);
  return out;
}

// clang-format off

// The sample row's spec: {"id": "w1", "start": ["M", "f", ["a", 1]], "restart": "temporary"}.
constexpr std::string_view kSpecHex =
    "83"                                        // map of 3
    "a26964" "a27731"                           //   "id": "w1"
    "a57374617274" "93" "a14d" "a166"           //   "start": ["M", "f",
    "92" "a161" "01"                            //             ["a", 1]]
    "a772657374617274" "a974656d706f72617279";  //   "restart": "temporary"
// "np": [["n1", "p1"], ["n2", "p2"]], "md": {"tag": "db"}
constexpr std::string_view kNodePidsMetadataHex =
    "a26e70" "92" "92a26e31a27031" "92a26e32a27032"
    "a26d64" "81" "a3746167" "a26462";

// The sample entry: a map of 3, as the event format's row without "exp".
std::string entry_hex() {
  return "83" "a473706563" + std::string(kSpecHex) + std::string(kNodePidsMetadataHex);
}
// The sample row with a ttl: a map of 4, the entry's keys and "exp": 1700000060000.
std::string row_ttl_hex() {
  return "84" "a473706563" + std::string(kSpecHex) + std::string(kNodePidsMetadataHex) +
         "a3657870" "cf0000018bcfe65260";
}

// The keys every command starts with: "v": 1, "id": 42, "hub": "hub", "op": `op_hex`,
// "tbl": "" (the default table), "hk": `hooks`, "tmo": 5000 (uint 16).
std::string command_head_hex(std::string_view pairs, std::string_view op_hex, bool hooks) {
  return std::string(pairs) +
         "a176" "01"                            // "v": 1
         "a26964" "2a"                          // "id": 42
         "a3687562" "a3687562"                  // "hub": "hub"
         "a26f70" + std::string(op_hex) +       // "op": op
         "a374626c" "a0"                        // "tbl": ""
         "a2686b" + (hooks ? "c3" : "c2") +     // "hk": hooks
         "a3746d6f" "cd1388";                   // "tmo": 5000
}

const std::string kStatusOkHex =
    "82" "a4636f6465" "a26f6b"                  // {"code": "ok",
    "a76d657373616765" "a0";                    //  "message": ""}

// The reads of docs/PROTOCOL.md, "Reads", "Examples"; "" for another name.
std::string read_golden_hex(std::string_view name) {
  if (name == "get_pid_request") {
    return "88"                                 // map of 8
           "a176" "01"                          // "v": 1
           "a26964" "2a"                        // "id": 42
           "a3687562" "a3687562"                // "hub": "hub"
           "a26f70" "a76765745f706964"          // "op": "get_pid"
           "a374626c" "a0"                      // "tbl": ""
           "a3746d6f" "cd1388"                  // "tmo": 5000
           "a3636964" "a27731"                  // "cid": "w1"
           "a36d696e" "08";                     // "min": 8 (at_least_seq)
  }
  if (name == "get_pid_reply") {
    return "86"                                 // map of 6
           "a176" "01"                          // "v": 1
           "a26964" "2a"                        // "id": 42
           "a6737461747573" + kStatusOkHex +    // "status": ok
           "a3736571" "08"                      // "seq": 8
           "a26570" "03"                        // "ep": 3
           "a3726573" "a27031";                 // "res": "p1"
  }
  if (name == "dump_page_request") {
    return "88"                                 // map of 8
           "a176" "01"                          // "v": 1
           "a26964" "2a"                        // "id": 42
           "a3687562" "a3687562"                // "hub": "hub"
           "a26f70" "a464756d70"                // "op": "dump"
           "a374626c" "a0"                      // "tbl": ""
           "a3746d6f" "cd1388"                  // "tmo": 5000
           "a3637572" "c413"                    // "cur": bin 8 of 19, the cursor
           "9501a368756205cf0123456789abcdefa27731"
           "a36c696d" "01";                     // "lim": 1
  }
  if (name == "dump_page_reply") {
    return "87"                                 // map of 7
           "a176" "01"                          // "v": 1
           "a26964" "2a"                        // "id": 42
           "a6737461747573" + kStatusOkHex +    // "status": ok
           "a3736571" "09"                      // "seq": 9 (the page's state)
           "a26570" "03"                        // "ep": 3
           "a3726573" "91" "92" "a27731" +      // "res": [["w1",
           entry_hex() +                        //          the entry]]
           "a46e657874" "c413"                  // "next": bin 8 of 19, the next cursor
           "9501a368756205cf89abcdef01234567a27732";
  }
  return "";
}

std::string golden_hex(std::string_view name) {
  if (name == "event_header") {
    return "84"                                 // map of 4
           "a176" "01"                          // "v": 1
           "a3736571" "07"                      // "seq": 7
           "a26570" "03"                        // "ep": 3
           "a470726576" "05";                   // "prev": 5 (table_prev)
  }
  if (name == "event_header_of_term") {
    return "87"                                 // map of 7
           "a176" "01"                          // "v": 1
           "a3736571" "07"                      // "seq": 7
           "a26570" "03"                        // "ep": 3
           "a470726576" "05"                    // "prev": 5 (table_prev)
           "a2746d" "02"                        // "tm": 2 (term)
           "a3696e63" "cf1122334455667788"      // "inc": the writer's incarnation
           "a470696e63" "cf1122334455667788";   // "pinc": seq 6's, the same one
  }
  if (name == "event_batch_header") {
    return "85"                                 // map of 5
           "a176" "02"                          // "v": 2 (a batch)
           "a3736571" "07"                      // "seq": 7 (the first event's)
           "a26570" "03"                        // "ep": 3
           "a470726576" "05"                    // "prev": 5 (table_prev of seq 7)
           "a16e" "03";                         // "n": 3 (events 7, 8, 9)
  }
  if (name == "hook_header") {
    return "87"                                 // map of 7
           "a176" "01"                          // "v": 1
           "a3736571" "07"                      // "seq": 7
           "a26570" "03"                        // "ep": 3
           "a470726576" "04"                    // "prev": 4 (kind_prev)
           "a56870726576" "06"                  // "hprev": 6 (hook_prev)
           "a169" "01"                          // "i": 1 (index)
           "a16e" "02";                         // "n": 2 (count)
  }
  if (name == "hook_payload") {
    return "85"                                 // map of 5
           "a176" "01"                          // "v": 1
           "a3687562" "a3687562"                // "hub": "hub"
           "a374626c" "a374626c"                // "tbl": "tbl"
           "a26964" "a27731"                    // "id": "w1"
           "a26e70" "91" "92a26e31a27031";      // "np": [["n1", "p1"]]
  }
  if (name == "heartbeat") {
    return "86"                                 // map of 6
           "a176" "01"                          // "v": 1
           "a3736571" "07"                      // "seq": 7
           "a26570" "03"                        // "ep": 3
           "a174" "cf0000018bcfe56800"          // "t": 1700000000000 (uint 64)
           "a3726567" "06"                      // "reg": 6
           "a5756e726567" "05";                 // "unreg": 5
  }
  if (name == "heartbeat_of_term") {
    return "89"                                 // map of 9
           "a176" "01"                          // "v": 1
           "a3736571" "07"                      // "seq": 7
           "a26570" "03"                        // "ep": 3
           "a174" "cf0000018bcfe56800"          // "t": 1700000000000 (uint 64)
           "a3726567" "06"                      // "reg": 6
           "a5756e726567" "05"                  // "unreg": 5
           "a2746d" "02"                        // "tm": 2
           "a3696e63" "cf1122334455667788"      // "inc"
           "a27374" "05";                       // "st": 5, the incarnation's first seq
  }
  if (name == "heartbeat_with_endpoints") {
    return "8b"                                 // map of 11
           "a176" "01"                          // "v": 1
           "a3736571" "07"                      // "seq": 7
           "a26570" "03"                        // "ep": 3
           "a174" "cf0000018bcfe56800"          // "t": 1700000000000 (uint 64)
           "a3726567" "06"                      // "reg": 6
           "a5756e726567" "05"                  // "unreg": 5
           "a2746d" "02"                        // "tm": 2
           "a3696e63" "cf1122334455667788"      // "inc"
           "a27374" "05"                        // "st": 5
           "a3726570" "a97463703a2f2f683a33"    // "rep": "tcp://h:3"
           "a3636d64" "a97463703a2f2f683a34";   // "cmd": "tcp://h:4"
  }
  if (name == "range_request") {
    return "8a"                                 // map of 10
           "a176" "01"                          // "v": 1
           "a26964" "2a"                        // "id": 42
           "a3687562" "a3687562"                // "hub": "hub"
           "a26f70" "a572616e6765"              // "op": "range"
           "a466726f6d" "08"                    // "from": 8
           "a2746f" "00"                        // "to": 0 (the head)
           "a3736964" "00"                      // "sid": 0
           "a36f6666" "00"                      // "off": 0
           "a56d61785f6e" "cd0400"              // "max_n": 1024 (uint 16)
           "a56d61785f62" "ce00100000";         // "max_b": 1048576 (uint 32)
  }
  if (name == "snapshot_request") {
    return "8a"                                 // map of 10
           "a176" "01"                          // "v": 1
           "a26964" "2b"                        // "id": 43
           "a3687562" "a3687562"                // "hub": "hub"
           "a26f70" "a8736e617073686f74"        // "op": "snapshot"
           "a466726f6d" "01"                    // "from": 1
           "a2746f" "00"                        // "to": 0
           "a3736964" "09"                      // "sid": 9
           "a36f6666" "cd0400"                  // "off": 1024
           "a56d61785f6e" "cd0200"              // "max_n": 512
           "a56d61785f62" "ce00100000";         // "max_b": 1048576
  }
  if (name == "range_reply") {
    return "8c"                                 // map of 12
           "a176" "01"                          // "v": 1
           "a26964" "2a"                        // "id": 42
           "a6737461747573" + kStatusOkHex +    // "status": {"code": "ok", "message": ""}
           "a26570" "03"                        // "ep": 3
           "a468656164" "09"                    // "head": 9
           "a56669727374" "08"                  // "first": 8
           "a46c617374" "09"                    // "last": 9
           "a16e" "02"                          // "n": 2 (payload frames)
           "a3656e64" "c3"                      // "end": true
           "a3736964" "00"                      // "sid": 0
           "a46e657874" "00"                    // "next": 0
           "a5746f74616c" "00";                 // "total": 0
  }
  if (name == "range_reply_of_term") {
    return "de0011"                             // map 16, 17 pairs
           "a176" "01"                          // "v": 1
           "a26964" "2a"                        // "id": 42
           "a6737461747573" + kStatusOkHex +    // "status": {"code": "ok", "message": ""}
           "a26570" "03"                        // "ep": 3
           "a468656164" "09"                    // "head": 9
           "a56669727374" "08"                  // "first": 8
           "a46c617374" "09"                    // "last": 9
           "a16e" "02"                          // "n": 2 (payload frames)
           "a3656e64" "c3"                      // "end": true
           "a3736964" "00"                      // "sid": 0
           "a46e657874" "00"                    // "next": 0
           "a5746f74616c" "00"                  // "total": 0
           "a2746d" "02"                        // "tm": 2
           "a3696e63" "cf1122334455667788"      // "inc": the writer's incarnation
           "a27374" "08"                        // "st": 8, its first seq
           "a470696e63" "cf0102030405060708"    // "pinc": seq 7's, the previous incarnation
           "a46c696e63" "cf1122334455667788";   // "linc": seq 9's, the writer's
  }
  if (name == "snapshot_reply") {
    return "8c"                                 // map of 12
           "a176" "01"                          // "v": 1
           "a26964" "2b"                        // "id": 43
           "a6737461747573" + kStatusOkHex +    // "status": ok
           "a26570" "03"                        // "ep": 3
           "a468656164" "09"                    // "head": 9
           "a56669727374" "00"                  // "first": 0
           "a46c617374" "09"                    // "last": 9 (the snapshot's seq)
           "a16e" "02"                          // "n": 2
           "a3656e64" "c2"                      // "end": false
           "a3736964" "09"                      // "sid": 9
           "a46e657874" "02"                    // "next": 2
           "a5746f74616c" "03";                 // "total": 3
  }
  if (name == "error_reply") {
    return "8c"                                 // map of 12
           "a176" "01"                          // "v": 1
           "a26964" "2b"                        // "id": 43
           "a6737461747573" "82"                // "status": {
           "a4636f6465" "a96e6f745f666f756e64"  //   "code": "not_found",
           "a76d657373616765" "bf"              //   "message": (fixstr of 31)
           "736e617073686f742039"               //     "snapshot 9
           "2065787069726564"                   //      expired
           "2c20737461727420616761696e"         //     , start again"}
           "a26570" "03"                        // "ep": 3
           "a468656164" "09"                    // "head": 9
           "a56669727374" "00"                  // "first": 0
           "a46c617374" "00"                    // "last": 0
           "a16e" "00"                          // "n": 0
           "a3656e64" "c2"                      // "end": false
           "a3736964" "00"                      // "sid": 0
           "a46e657874" "00"                    // "next": 0
           "a5746f74616c" "00";                 // "total": 0
  }
  if (name == "snapshot_row") {
    return "84"                                 // map of 4
           "a176" "01"                          // "v": 1
           "a374626c" "a374626c"                // "tbl": "tbl"
           "a3726f77" + row_ttl_hex() +         // "row": the sample row with its "exp"
           "a3726576" "07";                     // "rev": 7
  }
  if (name == "insert" || name == "insert_without_ttl") {
    const bool ttl = name == "insert";
    return command_head_hex(ttl ? "8b" : "8a", "a6696e73657274", true) +  // 11 or 10 pairs
           "a473706563" + std::string(kSpecHex) +                  // "spec": the spec
           std::string(kNodePidsMetadataHex) +                     // "np": ..., "md": ...
           (ttl ? "a374746c" "cdea60" : "");                       // "ttl": 60000
  }
  if (name == "bulk_insert") {
    return command_head_hex("88", "ab62756c6b5f696e73657274", true) +  // "op": "bulk_insert"
           "a7656e7472696573" "92" + entry_hex() +                 // "entries": [entry,
           "83" "a473706563" "82" "a26964" "a27732"                //   {"spec": {"id": "w2",
           "a57374617274" "93" "a14d" "a166" "90"                  //     "start": ["M", "f", []]},
           "a26e70" "90" "a26d64" "80";                            //    "np": [], "md": {}}]
  }
  if (name == "erase") {
    return command_head_hex("88", "a56572617365", true) +          // "op": "erase"
           "a3636964" "a27731";                                    // "cid": "w1"
  }
  if (name == "bulk_delete") {
    return command_head_hex("88", "ab62756c6b5f64656c657465", true) +  // "op": "bulk_delete"
           "a464656c73" "92"                                       // "dels": [
           "92" "a27731" "91" "a26e31"                             //   ["w1", ["n1"]],
           "92" "a27732" "90";                                     //   ["w2", []]]
  }
  if (name == "update") {
    return command_head_hex("8a", "a6757064617465", false) +       // "op": "update"
           "a3636964" "a27731"                                     // "cid": "w1"
           "a3726576" "07"                                         // "rev": 7
           "a5656e747279" + entry_hex();                           // "entry": the entry
  }
  if (name == "clear_all") {
    return command_head_hex("87", "a9636c6561725f616c6c", false);  // "op": "clear_all"
  }
  if (name == "node_down") {
    return command_head_hex("88", "a96e6f64655f646f776e", true) +  // "op": "node_down"
           "a46e6f6465" "a26e31";                                  // "node": "n1"
  }
  if (name == "command_reply") {
    return "85"                                 // map of 5
           "a176" "01"                          // "v": 1
           "a26964" "2a"                        // "id": 42
           "a6737461747573" + kStatusOkHex +    // "status": ok
           "a3736571" "08"                      // "seq": 8
           "a26570" "03";                       // "ep": 3
  }
  if (name == "command_reply_of_term") {
    return "87"                                 // map of 7
           "a176" "01"                          // "v": 1
           "a26964" "2a"                        // "id": 42
           "a6737461747573" + kStatusOkHex +    // "status": ok
           "a3736571" "08"                      // "seq": 8
           "a26570" "03"                        // "ep": 3
           "a2746d" "02"                        // "tm": 2
           "a3696e63" "cf1122334455667788";     // "inc"
  }
  if (name == "conflict_reply") {
    return "85"                                 // map of 5
           "a176" "01"                          // "v": 1
           "a26964" "2a"                        // "id": 42
           "a6737461747573" "82"                // "status": {
           "a4636f6465" "a8636f6e666c696374"    //   "code": "conflict",
           "a76d657373616765" "d920"            //   "message": (str 8 of 32)
           "726f77202777312720697320617420"     //     "row 'w1' is at 
           "7265766973696f6e20382c206e6f742037" //      revision 8, not 7"}
           "a3736571" "00"                      // "seq": 0 (an error carries none)
           "a26570" "03";                       // "ep": 3
  }
  if (name == "files_request") {
    return "8a"                                 // map of 10 (no "name": it is empty)
           "a176" "01"                          // "v": 1
           "a26964" "2c"                        // "id": 44
           "a3687562" "a3687562"                // "hub": "hub"
           "a26f70" "a566696c6573"              // "op": "files"
           "a466726f6d" "01"                    // "from": 1
           "a2746f" "00"                        // "to": 0
           "a3736964" "00"                      // "sid": 0
           "a36f6666" "00"                      // "off": 0
           "a56d61785f6e" "cd0400"              // "max_n": 1024
           "a56d61785f62" "ce00100000";         // "max_b": 1048576
  }
  if (name == "standby_files_request") {
    return "8e"                                 // map of 14
           "a176" "01"                          // "v": 1
           "a26964" "2e"                        // "id": 46
           "a3687562" "a3687562"                // "hub": "hub"
           "a26f70" "a566696c6573"              // "op": "files"
           "a466726f6d" "01"                    // "from": 1
           "a2746f" "00"                        // "to": 0
           "a3736964" "00"                      // "sid": 0
           "a36f6666" "00"                      // "off": 0
           "a56d61785f6e" "cd0400"              // "max_n": 1024
           "a56d61785f62" "ce00100000"          // "max_b": 1048576
           "a3737462" "a3736231"                // "stb": "sb1"
           "a468617665" "09"                    // "have": 9
           "a477616974" "cd01f4"                // "wait": 500
           "a468696e63" "cf1122334455667788";   // "hinc": the incarnation of seq 9
  }
  if (name == "carrying_files_request") {
    return "de0010"                             // map of 16 (map 16)
           "a176" "01"                          // "v": 1
           "a26964" "2f"                        // "id": 47
           "a3687562" "a3687562"                // "hub": "hub"
           "a26f70" "a566696c6573"              // "op": "files"
           "a466726f6d" "01"                    // "from": 1
           "a2746f" "00"                        // "to": 0
           "a3736964" "00"                      // "sid": 0
           "a36f6666" "cd1267"                  // "off": 4711
           "a56d61785f6e" "cd0400"              // "max_n": 1024
           "a56d61785f62" "ce00010000"          // "max_b": 65536
           "a46e616d65" "b8"                    // "name": str of 24
           "30303030303030303030303030303030303030312e6c6f67"   // 00000000000000000001.log
           "a3737462" "a3736231"                // "stb": "sb1"
           "a468617665" "09"                    // "have": 9
           "a477616974" "cd01f4"                // "wait": 500
           "a468696e63" "cf1122334455667788"    // "hinc": the incarnation of seq 9
           "a3616864" "c3";                     // "ahd": true
  }
  if (name == "carrying_files_reply") {
    return "8c"                                 // map of 12
           "a176" "01"                          // "v": 1
           "a26964" "2f"                        // "id": 47
           "a6737461747573" + kStatusOkHex +    // "status": ok
           "a26570" "03"                        // "ep": 3
           "a468656164" "0a"                    // "head": 10
           "a56669727374" "00"                  // "first": 0
           "a46c617374" "00"                    // "last": 0
           "a16e" "02"                          // "n": 2 (a LogFile, then the bytes)
           "a3656e64" "c3"                      // "end": true
           "a3736964" "00"                      // "sid": 0
           "a46e657874" "cd12fa"                // "next": 4858
           "a5746f74616c" "01";                 // "total": 1 file
  }
  if (name == "file_request") {
    return "8b"                                 // map of 11
           "a176" "01"                          // "v": 1
           "a26964" "2d"                        // "id": 45
           "a3687562" "a3687562"                // "hub": "hub"
           "a26f70" "a466696c65"                // "op": "file"
           "a466726f6d" "01"                    // "from": 1
           "a2746f" "00"                        // "to": 0
           "a3736964" "00"                      // "sid": 0
           "a36f6666" "27"                      // "off": 39
           "a56d61785f6e" "cd0400"              // "max_n": 1024
           "a56d61785f62" "ce00010000"          // "max_b": 65536
           "a46e616d65" "b8"                    // "name": str of 24
           "30303030303030303030303030303030303030312e6c6f67";  // 00000000000000000001.log
  }
  if (name == "log_file") {
    return "87"                                 // map of 7
           "a176" "01"                          // "v": 1
           "a46e616d65" "b8"                    // "name": str of 24
           "30303030303030303030303030303030303030312e6c6f67"   // 00000000000000000001.log
           "a46b696e64" "a77365676d656e74"      // "kind": "segment"
           "a473697a65" "cd1267"                // "size": 4711
           "a5666972737401"                     // "first": 1
           "a46c61737409"                       // "last": 9
           "a67365616c6564" "c2";               // "sealed": false
  }
  if (name == "file_reply") {
    return "8c"                                 // map of 12
           "a176" "01"                          // "v": 1
           "a26964" "2d"                        // "id": 45
           "a6737461747573" + kStatusOkHex +    // "status": ok
           "a26570" "03"                        // "ep": 3
           "a468656164" "09"                    // "head": 9
           "a56669727374" "00"                  // "first": 0
           "a46c617374" "00"                    // "last": 0
           "a16e" "01"                          // "n": 1 (the bytes follow)
           "a3656e64" "c2"                      // "end": false
           "a3736964" "00"                      // "sid": 0
           "a46e657874" "cd1267"                // "next": 4711
           "a5746f74616c" "cd1267";             // "total": 4711
  }
  if (std::string read = read_golden_hex(name); !read.empty()) return read;
  BOOST_FAIL("no golden bytes for " << name);
  return "";
}
// clang-format on

// decode_command_reply with the default limits.
Result<CommandReply> decode_reply(std::string_view bytes) { return decode_command_reply(bytes); }

template <typename T, typename Decode>
void check_golden(std::string_view name, const T& sample, Decode decode) {
  BOOST_TEST_CONTEXT("message " << name) {
    const std::string golden = golden_hex(name);
    BOOST_TEST(to_hex(encoded(sample)) == golden);
    const Result<T> decoded = decode(from_hex(golden));
    BOOST_TEST_REQUIRE(decoded.ok(), decoded.status().to_string());
    BOOST_TEST((*decoded == sample));
  }
}

Result<HookPayload> decode_payload(std::string_view b) { return decode_hook_payload(b); }
Result<SnapshotRow> decode_row(std::string_view b) { return decode_snapshot_row(b); }
Result<Command> decode_cmd(std::string_view b) { return decode_command(b); }

BOOST_AUTO_TEST_SUITE(wire_golden)

BOOST_AUTO_TEST_CASE(bus_messages_encode_to_their_golden_bytes_and_back) {
  check_golden("event_header", test::sample_event_header(), decode_event_header);
  check_golden("event_batch_header", test::sample_event_batch_header(), decode_event_header);
  check_golden("hook_header", test::sample_hook_header(), decode_hook_header);
  check_golden("hook_payload", test::sample_hook_payload(), decode_payload);
  check_golden("heartbeat", test::sample_heartbeat(), decode_heartbeat);
  check_golden("event_header_of_term", test::sample_event_header_of_term(), decode_event_header);
  check_golden("heartbeat_of_term", test::sample_heartbeat_of_term(), decode_heartbeat);
  check_golden("heartbeat_with_endpoints", test::sample_heartbeat_with_endpoints(),
               decode_heartbeat);
}

BOOST_AUTO_TEST_CASE(replay_messages_encode_to_their_golden_bytes_and_back) {
  check_golden("range_request", test::sample_range_request(), decode_replay_request);
  check_golden("snapshot_request", test::sample_snapshot_request(), decode_replay_request);
  check_golden("range_reply", test::sample_range_reply(), decode_replay_reply_header);
  check_golden("range_reply_of_term", test::sample_range_reply_of_term(),
               decode_replay_reply_header);
  check_golden("snapshot_reply", test::sample_snapshot_reply(), decode_replay_reply_header);
  check_golden("error_reply", test::sample_error_reply(), decode_replay_reply_header);
  check_golden("snapshot_row", test::sample_snapshot_row(), decode_row);
  check_golden("files_request", test::sample_files_request(), decode_replay_request);
  check_golden("standby_files_request", test::sample_standby_files_request(),
               decode_replay_request);
  check_golden("carrying_files_request", test::sample_carrying_files_request(),
               decode_replay_request);
  check_golden("carrying_files_reply", test::sample_carrying_files_reply(),
               decode_replay_reply_header);
  check_golden("file_request", test::sample_file_request(), decode_replay_request);
  check_golden("log_file", test::sample_log_file(), decode_log_file);
  check_golden("file_reply", test::sample_file_reply(), decode_replay_reply_header);
}

BOOST_AUTO_TEST_CASE(commands_encode_to_their_golden_bytes_and_back) {
  check_golden("insert", test::sample_command(CommandOp::kInsert), decode_cmd);
  Command without_ttl = test::sample_command(CommandOp::kInsert);
  without_ttl.ttl_ms.reset();
  check_golden("insert_without_ttl", without_ttl, decode_cmd);
  check_golden("bulk_insert", test::sample_command(CommandOp::kBulkInsert), decode_cmd);
  check_golden("erase", test::sample_command(CommandOp::kErase), decode_cmd);
  check_golden("bulk_delete", test::sample_command(CommandOp::kBulkDelete), decode_cmd);
  check_golden("update", test::sample_command(CommandOp::kUpdate), decode_cmd);
  check_golden("clear_all", test::sample_command(CommandOp::kClearAll), decode_cmd);
  check_golden("node_down", test::sample_command(CommandOp::kNodeDown), decode_cmd);
  check_golden("command_reply", test::sample_command_reply(), decode_reply);
  check_golden("command_reply_of_term", test::sample_command_reply_of_term(), decode_reply);
  check_golden("conflict_reply", test::sample_conflict_reply(), decode_reply);
}

// docs/PROTOCOL.md, "Reads", "Examples".
BOOST_AUTO_TEST_CASE(reads_encode_to_their_golden_bytes_and_back) {
  check_golden("get_pid_request", test::sample_get_pid_request(), decode_cmd);
  check_golden("get_pid_reply", test::sample_get_pid_reply(), decode_reply);
  check_golden("dump_page_request", test::sample_dump_page_request(), decode_cmd);
  check_golden("dump_page_reply", test::sample_dump_page_reply(), decode_reply);
}

// The keys a read is written with (docs/PROTOCOL.md, "Reads"), in order, after "v", "id",
// "hub", "op", "tbl", "tmo": its op's, then "min", "cur", "lim" when set, then "tag", "cids",
// "wmd", "scope" for their ops.
std::vector<std::string> read_keys(CommandOp op, bool paging) {
  std::vector<std::string> keys = {"v", "id", "hub", "op", "tbl", "tmo"};
  const bool by_child = op == CommandOp::kLookup || op == CommandOp::kGetPid ||
                        op == CommandOp::kGetPids || op == CommandOp::kLocalPid ||
                        op == CommandOp::kEntryExists;
  if (by_child) keys.emplace_back("cid");
  if (paging) keys.insert(keys.end(), {"min", "cur", "lim"});
  if (op == CommandOp::kMatchTag) keys.emplace_back("tag");
  if (op == CommandOp::kContainsChildren) keys.emplace_back("cids");
  if (op == CommandOp::kLookup) keys.emplace_back("wmd");
  if (op == CommandOp::kProcessList) keys.emplace_back("scope");
  return keys;
}

BOOST_AUTO_TEST_CASE(every_read_round_trips_with_the_documented_keys) {
  constexpr std::uint64_t kMax = std::numeric_limits<std::uint64_t>::max();
  int reads = 0;
  for (int i = static_cast<int>(CommandOp::kLookup); i <= static_cast<int>(CommandOp::kStats);
       ++i) {
    const auto op = static_cast<CommandOp>(i);
    ++reads;
    BOOST_TEST(is_read(op));
    BOOST_TEST_CONTEXT("read " << op_name(op)) {
      BOOST_TEST((op_named(op_name(op)) == op));
      Command plain = test::sample_read(op);
      Command paging = plain;
      paging.at_least_seq = kMax;
      paging.cursor = std::string("\0\xff", 2) + std::string(300, 'c');  // bin 16
      paging.limit = std::numeric_limits<std::uint32_t>::max();
      for (const Command& c : {plain, paging}) {
        const std::string bytes = encoded(c);
        const Result<Command> decoded = decode_command(bytes);
        BOOST_TEST_REQUIRE(decoded.ok(), decoded.status().to_string());
        BOOST_TEST((*decoded == c));
        BOOST_TEST((test::keys(bytes) == read_keys(op, !c.cursor.empty())));
      }
    }
  }
  BOOST_TEST(reads == 16);
  BOOST_TEST(!is_read(CommandOp::kNodeDown));
  // The other values of the read keys.
  Command lookup = test::sample_read(CommandOp::kLookup);
  lookup.with_metadata = false;
  BOOST_TEST((*decode_command(encoded(lookup)) == lookup));
  Command global = test::sample_read(CommandOp::kProcessList);
  global.local = false;
  BOOST_TEST(to_hex(encoded(global))
                 .find("a573636f7065"
                       "a6676c6f62616c") != std::string::npos);
  BOOST_TEST((*decode_command(encoded(global)) == global));
  Command none = test::sample_read(CommandOp::kContainsChildren);
  none.ids.clear();
  BOOST_TEST((*decode_command(encoded(none)) == none));
}

// A reply with a result of any shape and a cursor; the last page has no "next", an error
// neither "res" nor "next".
BOOST_AUTO_TEST_CASE(read_replies_round_trip) {
  for (const std::string_view res : {"c0", "c3", "90", "80", "a27031", "91a27731", "c403616263"}) {
    BOOST_TEST_CONTEXT("res " << res) {
      const CommandReply last{7, Status(), 9, 3, from_hex(res), {}};
      BOOST_TEST((*decode_command_reply(encoded(last)) == last));
      BOOST_TEST((test::keys(encoded(last)) ==
                  std::vector<std::string>{"v", "id", "status", "seq", "ep", "res"}));
      const CommandReply page{7, Status(), 9, 3, from_hex(res), test::sample_cursor_w2()};
      BOOST_TEST((*decode_command_reply(encoded(page)) == page));
    }
  }
  const CommandReply timeout{
      7, Status::timeout("this node applied seq 5, not 8, within 5 ms"), 5, 3, {}, {}};
  BOOST_TEST(
      (test::keys(encoded(timeout)) == std::vector<std::string>{"v", "id", "status", "seq", "ep"}));
  BOOST_TEST((*decode_command_reply(encoded(timeout)) == timeout));
}

// Frame 2 of an event message with n events: an array of n bins, each in its smallest format.
BOOST_AUTO_TEST_CASE(an_event_batch_frame_is_an_array_of_bins) {
  const std::string e300(300, 'e');
  const std::string e70k(70'000, 'f');
  std::string out = "x";
  encode_event_batch({"ab", e300, e70k}, &out);
  const std::string golden = "x" +
                             from_hex(
                                 "93"  // array of 3
                                 "c402"
                                 "6162"       // bin 8 of 2: "ab"
                                 "c5012c") +  // bin 16 of 300
                             e300 +
                             from_hex("c600011170") +  // bin 32 of 70000
                             e70k;
  BOOST_TEST((out == golden));
  std::vector<std::string_view> events;
  BOOST_TEST_REQUIRE(decode_event_batch(std::string_view(out).substr(1), 3, {}, &events).ok());
  BOOST_TEST((events == std::vector<std::string_view>{"ab", e300, e70k}));
}

BOOST_AUTO_TEST_CASE(encode_snapshot_row_writes_the_bytes_of_a_snapshot_row) {
  const SnapshotRow row = test::sample_snapshot_row();
  std::string parts = "x";
  encode_snapshot_row(row.table, row.row.entry, row.row.expires_at_ms, row.revision, &parts);
  BOOST_TEST(parts == "x" + encoded(row));
  SnapshotRow permanent = row;
  permanent.row.expires_at_ms.reset();
  parts.clear();
  encode_snapshot_row(row.table, row.row.entry, std::nullopt, row.revision, &parts);
  BOOST_TEST(parts == encoded(permanent));
}

BOOST_AUTO_TEST_CASE(encode_appends_to_the_output) {
  std::string bytes = "prefix";
  encode(test::sample_event_header(), &bytes);
  BOOST_TEST(bytes == "prefix" + encoded(test::sample_event_header()));
}

BOOST_AUTO_TEST_CASE(every_status_code_travels_by_its_name) {
  for (int i = 0;; ++i) {
    const auto code = static_cast<Code>(i);
    if (code_name(code) == "unknown") break;
    BOOST_TEST_CONTEXT("code " << code_name(code)) {
      CommandReply reply = test::sample_command_reply();
      reply.status = Status(code, code == Code::kOk ? "" : "why");
      const std::string bytes = encoded(reply);
      BOOST_TEST(bytes.find(std::string(code_name(code))) != std::string::npos);
      const Result<CommandReply> decoded = decode_command_reply(bytes);
      BOOST_TEST_REQUIRE(decoded.ok(), decoded.status().to_string());
      BOOST_TEST((decoded->status == reply.status));
    }
  }
  BOOST_TEST(code_name(Code::kConflict) == "conflict");
}

// Extreme values: the largest integers, negative times and ttls, empty and long strings, every
// optional key absent or present.
BOOST_AUTO_TEST_CASE(extreme_values_round_trip) {
  constexpr std::uint64_t kMax = std::numeric_limits<std::uint64_t>::max();
  constexpr std::uint32_t kMax32 = std::numeric_limits<std::uint32_t>::max();
  const std::string long_name(70000, 'x');  // str 32

  const EventHeader eh{kMax, kMax, kMax};
  BOOST_TEST((*decode_event_header(encoded(eh)) == eh));
  const HookHeader hh{kMax, 0, kMax, kMax, kMax32 - 1, kMax32};
  BOOST_TEST((*decode_hook_header(encoded(hh)) == hh));
  const HookPayload hp{long_name, "t", "", {}};
  BOOST_TEST((*decode_hook_payload(encoded(hp)) == hp));
  for (const std::int64_t t : {std::numeric_limits<std::int64_t>::min(), std::int64_t{-1},
                               std::numeric_limits<std::int64_t>::max()}) {
    const Heartbeat hb{kMax, 1, t, kMax, 0};
    BOOST_TEST((*decode_heartbeat(encoded(hb)) == hb));
  }
  ReplayRequest rq;
  rq.id = kMax;
  rq.hub = long_name;
  rq.from = kMax;
  rq.to = kMax;
  rq.snapshot_id = kMax;
  rq.offset = kMax;
  rq.max_events = kMax32;
  rq.max_bytes = 0;
  BOOST_TEST((*decode_replay_request(encoded(rq)) == rq));
  ReplayReplyHeader rp;
  rp.id = kMax;
  rp.status = Status::internal(long_name);
  rp.count = kMax32;
  rp.total = kMax;
  BOOST_TEST((*decode_replay_reply_header(encoded(rp)) == rp));
  SnapshotRow row{"t", test::sample_row(false), kMax};
  row.row.expires_at_ms = std::numeric_limits<std::int64_t>::min();
  BOOST_TEST((*decode_snapshot_row(encoded(row)) == row));

  Command insert = test::sample_command(CommandOp::kInsert);
  insert.table = long_name;
  insert.timeout_ms = kMax32;
  for (const std::int64_t ttl : {std::int64_t{-5}, std::int64_t{0}}) {
    insert.ttl_ms = ttl;
    BOOST_TEST((*decode_command(encoded(insert)) == insert));
  }
  Command bulk = test::sample_command(CommandOp::kBulkInsert);
  bulk.entries.clear();
  BOOST_TEST((*decode_command(encoded(bulk)) == bulk));
  Command dels = test::sample_command(CommandOp::kBulkDelete);
  dels.deletes.clear();
  BOOST_TEST((*decode_command(encoded(dels)) == dels));
  Command update = test::sample_command(CommandOp::kUpdate);
  update.expect_revision = kMax;
  update.entry.metadata["nested"] = Value(Value::Array{Value(Value::Map{{"k", Value(-1.5)}})});
  BOOST_TEST((*decode_command(encoded(update)) == update));
  const CommandReply reply{kMax, Status::timeout(""), kMax, kMax, {}, {}};
  BOOST_TEST((*decode_command_reply(encoded(reply)) == reply));
}

// ---- topics ------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(topics_are_netstrings_under_the_root) {
  BOOST_TEST(netstring("") == "0:");
  BOOST_TEST(netstring("hub") == "3:hub");
  BOOST_TEST(netstring(std::string(12, 'a')) == "12:" + std::string(12, 'a'));
  BOOST_TEST(kTopicRoot == "prc1/");
  BOOST_TEST(hub_prefix("hub") == "prc1/3:hub/");
  BOOST_TEST(events_prefix("hub") == "prc1/3:hub/e/");
  BOOST_TEST(event_topic("hub", "t") == "prc1/3:hub/e/1:t");
  BOOST_TEST(hooks_prefix("hub") == "prc1/3:hub/h/");
  BOOST_TEST(hook_kind_prefix("hub", HookTopic::kChildRegistered) ==
             "prc1/3:hub/h/child_registered/");
  BOOST_TEST(hook_kind_prefix("hub", HookTopic::kChildUnregistered) ==
             "prc1/3:hub/h/child_unregistered/");
  BOOST_TEST(hook_topic("hub", HookTopic::kChildRegistered, "c1") ==
             "prc1/3:hub/h/child_registered/2:c1");
  BOOST_TEST(hook_topic("hub", HookTopic::kChildUnregistered, "c1") ==
             "prc1/3:hub/h/child_unregistered/2:c1");
  BOOST_TEST(heartbeat_topic("hub") == "prc1/3:hub/hb");
  // Names are bytes: slashes, colons, NULs and non-ASCII travel as they are.
  BOOST_TEST(event_topic("a/b", std::string_view("x:\0\xff", 4)) ==
             std::string("prc1/3:a/b/e/4:x:\0\xff", 19));
}

// clang-format off
BOOST_AUTO_TEST_CASE(topic_golden_bytes) {
  BOOST_TEST(to_hex(event_topic("hub", "tbl")) ==
             "70726331" "2f"                    // "prc1/"
             "333a" "687562" "2f"               // "3:" "hub" "/"
             "652f"                             // "e/"
             "333a" "74626c");                  // "3:" "tbl"
  BOOST_TEST(to_hex(hook_topic("hub", HookTopic::kChildRegistered, "w1")) ==
             "70726331" "2f" "333a" "687562" "2f"     // "prc1/3:hub/"
             "682f"                                   // "h/"
             "6368696c645f72656769737465726564" "2f"  // "child_registered/"
             "323a" "7731");                          // "2:" "w1"
  BOOST_TEST(to_hex(heartbeat_topic("hub")) ==
             "70726331" "2f" "333a" "687562" "2f"     // "prc1/3:hub/"
             "6862");                                 // "hb"
}
// clang-format on

BOOST_AUTO_TEST_CASE(parse_topic_inverts_every_topic) {
  const std::vector<std::string> names = {
      "hub", "t", std::string(1000, 'n'), "a/b:c", std::string("\0\xff", 2), "10:x", "1"};
  for (const std::string& hub : names) {
    for (const std::string& name : names) {
      BOOST_TEST_CONTEXT("hub " << hub.size() << " bytes, name " << name.size() << " bytes") {
        const Result<ParsedTopic> e = parse_topic(event_topic(hub, name));
        BOOST_TEST_REQUIRE(e.ok(), e.status().to_string());
        BOOST_TEST((e->kind == TopicKind::kEvent));
        BOOST_TEST(e->hub == hub);
        BOOST_TEST(e->table == name);
        for (const HookTopic kind : {HookTopic::kChildRegistered, HookTopic::kChildUnregistered}) {
          const Result<ParsedTopic> h = parse_topic(hook_topic(hub, kind, name));
          BOOST_TEST_REQUIRE(h.ok(), h.status().to_string());
          BOOST_TEST((h->kind == TopicKind::kHook));
          BOOST_TEST(h->hub == hub);
          BOOST_TEST((h->hook == kind));
          BOOST_TEST(h->child_id == name);
        }
      }
    }
    const Result<ParsedTopic> hb = parse_topic(heartbeat_topic(hub));
    BOOST_TEST_REQUIRE(hb.ok(), hb.status().to_string());
    BOOST_TEST((hb->kind == TopicKind::kHeartbeat));
    BOOST_TEST(hb->hub == hub);
  }
}

// ZeroMQ subscriptions are byte prefixes: a hub's, a table's or a child's topic must not be a
// prefix of another's.
BOOST_AUTO_TEST_CASE(no_topic_is_a_prefix_of_another_names_topic) {
  const std::vector<std::string> names = {"a", "ab", "a/", "1", "1:a", "10", "hb", "e"};
  const auto starts_with = [](std::string_view s, std::string_view p) {
    return s.substr(0, p.size()) == p;
  };
  for (const std::string& x : names) {
    for (const std::string& y : names) {
      if (x == y) continue;
      BOOST_TEST_CONTEXT(x << " / " << y) {
        BOOST_TEST(!starts_with(hub_prefix(y), hub_prefix(x)));
        BOOST_TEST(!starts_with(event_topic("h", y), event_topic("h", x)));
        BOOST_TEST(!starts_with(hook_topic("h", HookTopic::kChildRegistered, y),
                                hook_topic("h", HookTopic::kChildRegistered, x)));
        BOOST_TEST(!starts_with(heartbeat_topic(y), hub_prefix(x)));
      }
    }
  }
  BOOST_TEST(!starts_with(hook_kind_prefix("h", HookTopic::kChildUnregistered),
                          hook_kind_prefix("h", HookTopic::kChildRegistered)));
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace procreg::plugin::wire
