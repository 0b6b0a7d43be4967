// The lines crash_writer reports on its --acks file and that the crash tests read back: what a
// writer thread is about to write (an intent) and what a write that returned ok wrote (an ack).
// Each line is appended with one write(2); fields are separated by tabs (no field holds one).
//
//   I <tab> <thread> <tab> <op> {<tab> <key>}                   before the call
//   A <tab> <thread> <tab> <seq> <tab> <op> {<tab> <key> <tab> <row>}   after it returned ok
//
// <seq> is what the call returned (0: the call wrote nothing, e.g. an update of a row that is
// not bound). Each (<key>, <row>) is a row the call may have changed, read by the same thread
// right after the call returned: <key> is "<table>/<child>", <row> the row's line of
// harness::canonical_dump, or "-" if the table holds no such row. Each writer thread owns its
// rows and nodes (no other thread writes them), so a row's last acknowledged text is its state
// until that thread writes it again.
//
// Thread safety: value functions.
#pragma once

#include <cstdint>
#include <map>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "harness/canonical_text.h"
#include "procreg/types.h"

namespace procreg::crash {

inline constexpr const char* kHub = "crash";
inline constexpr const char* kSideTable = "side";
inline constexpr const char* kNoRow = "-";

// Key -> row line (see above) of every row of every table, from dump_all_tables().
inline std::map<std::string, std::string> rows_by_key(const std::map<std::string, Dump>& tables) {
  std::map<std::string, std::string> rows;
  for (const auto& [table, dump] : tables) {
    for (const auto& [id, entry] : dump) {
      std::string line = harness::canonical_dump({{table, Dump{{id, entry}}}});
      if (!line.empty() && line.back() == '\n') line.pop_back();
      rows.emplace(table + "/" + id, std::move(line));
    }
  }
  return rows;
}

struct AckLine {
  int thread = 0;
  std::uint64_t seq = 0;
  std::string op;
  std::vector<std::pair<std::string, std::string>> rows;  // key, row line or kNoRow
};

// The keys are those of every row the call may change.
inline std::string intent_line(int thread, const std::string& op,
                               const std::vector<std::string>& keys) {
  std::string out = "I\t" + std::to_string(thread) + "\t" + op;
  for (const auto& k : keys) out += "\t" + k;
  return out + "\n";
}

inline std::string ack_line(const AckLine& a) {
  std::string out = "A\t" + std::to_string(a.thread) + "\t" + std::to_string(a.seq) + "\t" + a.op;
  for (const auto& [key, row] : a.rows) out += "\t" + key + "\t" + row;
  return out + "\n";
}

inline std::vector<std::string> split_tabs(const std::string& line) {
  std::vector<std::string> fields;
  std::size_t start = 0;
  for (;;) {  // one field per pass; ends at the last tab
    const std::size_t tab = line.find('\t', start);
    fields.push_back(line.substr(start, tab - start));
    if (tab == std::string::npos) return fields;
    start = tab + 1;
  }
}

}  // namespace procreg::crash
