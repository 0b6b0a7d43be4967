// Small helpers for procreg's benchmarks: timing, heap accounting, the results table.
//
// Every figure is reported next to a baseline measured in the same run, as a ratio, because
// the machines are shared and absolute numbers drift. Each measurement is the best of
// `repeats` runs (the least disturbed one).
#pragma once

#include <malloc.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace procreg::bench {

using Clock = std::chrono::steady_clock;

// Runs `body` (which performs `ops` operations) `repeats` times; returns the best ops/s.
inline double best_rate(int repeats, double ops, const std::function<void()>& body) {
  double best = 0;
  for (int i = 0; i < repeats; ++i) {
    const auto t0 = Clock::now();
    body();
    const double s = std::chrono::duration<double>(Clock::now() - t0).count();
    best = std::max(best, ops / std::max(s, 1e-9));
  }
  return best;
}

// Bytes currently allocated on the heap (glibc's in-use total).
inline std::size_t heap_in_use() {
  malloc_trim(0);
  return mallinfo2().uordblks + mallinfo2().hblkhd;
}

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "procreg-bench-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) std::abort();
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string sub(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// One row of the results: what, its rate, the baseline's, and the target ratio (0 = none).
struct Row {
  std::string what;
  double value;
  std::string unit;
  std::string baseline;
  double baseline_value;
  double target_ratio;  // value / baseline_value must reach this (0: informational)
  bool lower_is_better = false;
};

class Report {
 public:
  void add(Row row) {
    const double ratio = ratio_of(row);
    std::printf("%-48s %14.0f %-8s | %-40s %14.0f | x%-7.2f %s\n", row.what.c_str(), row.value,
                row.unit.c_str(), row.baseline.c_str(), row.baseline_value, ratio,
                verdict(row).c_str());
    std::fflush(stdout);
    rows_.push_back(std::move(row));
  }
  void print_markdown() const {
    std::printf(
        "\n| measurement | value | baseline (same run) | baseline value | ratio | target |\n");
    std::printf("|---|---:|---|---:|---:|---|\n");
    for (const auto& r : rows_) {
      std::printf("| %s | %.0f %s | %s | %.0f | %.2f | %s |\n", r.what.c_str(), r.value,
                  r.unit.c_str(), r.baseline.c_str(), r.baseline_value, ratio_of(r),
                  verdict(r).c_str());
    }
  }

 private:
  static double ratio_of(const Row& r) {
    if (r.baseline_value == 0) return 0;
    return r.lower_is_better ? r.baseline_value / std::max(r.value, 1e-9)
                             : r.value / r.baseline_value;
  }
  static std::string verdict(const Row& r) {
    if (r.target_ratio == 0) return "";
    char buf[64];
    std::snprintf(buf, sizeof buf, ">= %.2f: %s", r.target_ratio,
                  ratio_of(r) >= r.target_ratio ? "met" : "MISSED");
    return buf;
  }
  std::vector<Row> rows_;
};

}  // namespace procreg::bench
