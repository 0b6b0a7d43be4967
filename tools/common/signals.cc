#include "tools/common/signals.h"

#include <pthread.h>

#include <cerrno>
#include <ctime>
#include <stdexcept>

namespace procreg::tools {

Signals::Signals() {
  sigemptyset(&set_);
  sigaddset(&set_, SIGINT);
  sigaddset(&set_, SIGTERM);
  sigaddset(&set_, SIGUSR1);
  if (pthread_sigmask(SIG_BLOCK, &set_, nullptr) != 0) {
    throw std::runtime_error("cannot block signals");
  }
}

int Signals::wait(std::chrono::milliseconds timeout) const {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::nanoseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() < 0) left = std::chrono::nanoseconds(0);
    timespec ts{static_cast<time_t>(left.count() / 1'000'000'000),
                static_cast<long>(left.count() % 1'000'000'000)};
    const int sig = sigtimedwait(&set_, nullptr, &ts);
    if (sig > 0) return sig;
    if (errno == EAGAIN) return 0;  // timed out
    // EINTR (another signal, e.g. SIGCHLD with a handler): wait for the rest of the time.
  }
}

}  // namespace procreg::tools
