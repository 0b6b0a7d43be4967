// procreg tests: RLIMIT_FSIZE lowered for a scope, so that a write past `bytes` into any file
// fails with EFBIG as it would on a full disk (SIGXFSZ ignored meanwhile). Process-wide: use it
// only where no other thread writes files it should not fail.
#pragma once

#include <signal.h>
#include <sys/resource.h>

#include <boost/test/unit_test.hpp>

namespace procreg::testing {

class FileSizeLimit {
 public:
  explicit FileSizeLimit(rlim_t bytes) {
    BOOST_REQUIRE(::getrlimit(RLIMIT_FSIZE, &saved_limit_) == 0);
    saved_handler_ = ::signal(SIGXFSZ, SIG_IGN);
    rlimit lowered = saved_limit_;
    lowered.rlim_cur = bytes;
    BOOST_REQUIRE(::setrlimit(RLIMIT_FSIZE, &lowered) == 0);
  }
  ~FileSizeLimit() {
    ::setrlimit(RLIMIT_FSIZE, &saved_limit_);
    ::signal(SIGXFSZ, saved_handler_);
  }
  FileSizeLimit(const FileSizeLimit&) = delete;
  FileSizeLimit& operator=(const FileSizeLimit&) = delete;

 private:
  rlimit saved_limit_{};
  sighandler_t saved_handler_ = SIG_DFL;
};

}  // namespace procreg::testing
