// Loopback sockets for the etcd client's tests: free ports, a listener that never answers, and
// a one-shot HTTP server that answers whatever bytes it is given.
//
// Thread safety: each object belongs to the test's thread (OneShotHttpServer runs its own
// thread, joined by its destructor).
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace procreg::testing {

// A TCP socket bound to 127.0.0.1:`port` (0: any free port), listening if `backlog` > 0.
// Returns the descriptor and sets *bound to its port; throws on failure.
inline int bind_loopback(int port, int backlog, int* bound) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error("socket failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      (backlog > 0 && ::listen(fd, backlog) != 0) ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(fd);
    throw std::runtime_error("cannot bind a socket on 127.0.0.1");
  }
  *bound = ntohs(addr.sin_port);
  return fd;
}

// `n` distinct ports of 127.0.0.1 free right now: all bound to port 0 at once, then closed.
// Another process may take one before it is used; callers retry.
inline std::vector<int> free_ports(int n) {
  std::vector<int> fds, ports;
  for (int i = 0; i < n; ++i) {
    int port = 0;
    fds.push_back(bind_loopback(0, 0, &port));
    ports.push_back(port);
  }
  for (int fd : fds) ::close(fd);
  return ports;
}

// Listens on 127.0.0.1 and never accepts: a connection completes (the kernel's backlog) and
// then no byte ever comes back, so a request to it can only time out.
class SilentListener {
 public:
  SilentListener() : fd_(bind_loopback(0, 16, &port_)) {}
  ~SilentListener() { ::close(fd_); }
  SilentListener(const SilentListener&) = delete;
  SilentListener& operator=(const SilentListener&) = delete;
  int port() const { return port_; }

 private:
  int port_ = 0;
  int fd_;
};

// An HTTP/1.1 answer: `status` ("200 OK"), a JSON content type whatever the body, and `body`.
inline std::string http_answer(const std::string& status, const std::string& body) {
  return "HTTP/1.1 " + status +
         "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\nConnection: close\r\n\r\n" + body;
}

// Accepts one connection within 10 s, reads the request (what arrives within 1 s, until the
// blank line), writes `answer` and closes.
class OneShotHttpServer {
 public:
  explicit OneShotHttpServer(std::string answer)
      : fd_(bind_loopback(0, 4, &port_)),
        thread_([this, answer = std::move(answer)] { serve(answer); }) {}
  ~OneShotHttpServer() {
    thread_.join();
    ::close(fd_);
  }
  OneShotHttpServer(const OneShotHttpServer&) = delete;
  OneShotHttpServer& operator=(const OneShotHttpServer&) = delete;
  int port() const { return port_; }

 private:
  void serve(const std::string& answer) const {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, 10'000) != 1) return;
    const int conn = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (conn < 0) return;
    std::string request;
    char buffer[4096];
    pollfd c{conn, POLLIN, 0};
    while (request.find("\r\n\r\n") == std::string::npos && ::poll(&c, 1, 1'000) == 1) {
      const ssize_t n = ::read(conn, buffer, sizeof buffer);
      if (n <= 0) break;
      request.append(buffer, static_cast<std::size_t>(n));
    }
    (void)!::write(conn, answer.data(), answer.size());
    ::shutdown(conn, SHUT_RDWR);
    ::close(conn);
  }

  int port_ = 0;
  int fd_;
  std::thread thread_;
};

}  // namespace procreg::testing
