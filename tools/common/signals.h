// Stop signals for a program that runs procreg's threads: SIGINT, SIGTERM and SIGUSR1 are
// blocked in the thread that constructs Signals, before it starts any other (ZeroMQ's and
// procreg's threads inherit the mask), and that thread takes them with wait() (sigtimedwait).
// No signal ever interrupts a procreg or ZeroMQ thread, and there is no asynchronous handler.
//
// Thread safety: a Signals belongs to the thread that constructed it.
#pragma once

#include <signal.h>

#include <chrono>

namespace procreg::tools {

class Signals {
 public:
  // Blocks the three signals in the calling thread. Throws std::runtime_error if it cannot.
  Signals();
  Signals(const Signals&) = delete;
  Signals& operator=(const Signals&) = delete;

  // Waits up to `timeout` (0: just checks) for one of the signals; returns it, or 0.
  int wait(std::chrono::milliseconds timeout) const;
  // SIGINT and SIGTERM ask a program to stop; SIGUSR1 means what the program says.
  static bool stops(int sig) { return sig == SIGINT || sig == SIGTERM; }

 private:
  sigset_t set_;
};

}  // namespace procreg::tools
