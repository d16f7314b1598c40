// A worker: one thread, one io_context, its own SO_REUSEPORT acceptors, and the session::Context
// its sessions use (its resolver, relay pools and port pickers). Everything a session touches
// lives on the worker that accepted it, so the data path takes no locks.
#ifndef SOCKS5_SERVER_WORKER_H_
#define SOCKS5_SERVER_WORKER_H_

#include <atomic>
#include <cstddef>
#include <memory>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "asio.hpp"
#include "dns/resolver.h"
#include "server/config.h"
#include "session/context.h"

namespace socks5::server {

// Counts sessions across all workers for --max_sessions and graceful shutdown.
struct SessionCounter {
  std::atomic<std::size_t> active{0};
};

class Worker {
 public:
  // `admission`: the process-wide admission tables (session/admission.h), shared by every worker;
  // null: the worker makes its own (tests).
  Worker(const Config& config, int index, SessionCounter& sessions,
         session::Admission* admission = nullptr);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Opens and binds this worker's acceptors. `endpoints` carry real ports (worker 0 binds the
  // configured ones first and the rest reuse the ports it got).
  absl::Status Listen(const std::vector<asio::ip::tcp::endpoint>& endpoints);
  absl::StatusOr<std::vector<asio::ip::tcp::endpoint>> LocalEndpoints() const;
  // Before Start(): the destination policy that knows every listening port and local address,
  // and the process-wide UDP memory budget (must outlive the worker).
  void SetProcessWide(std::shared_ptr<const udp::DestinationPolicy> destinations,
                      udp::MemoryBudget* udp_memory);
  // Before Start(): the process-wide RFC 1929 verifier (session/verifier.h; must outlive the
  // worker's loop, and be stopped before the loop is destroyed). Null: checks run inline.
  void SetVerifier(session::Verifier* verifier);
  // Before Start(): the server's users and rules (session/policy.h), replaced on SIGHUP.
  void SetPolicies(std::shared_ptr<const session::PolicyStore> policies);
  // ---- metrics ----
  // This worker's counters, for the scrape (read on another thread: relaxed atomics).
  const metrics::WorkerMetrics& metrics() const { return context_->metrics; }
  // Before Start(): --metrics_per_user's table (must outlive the worker); null: none.
  void SetUserMetrics(metrics::UserTable* users) { context_->metric_users = users; }
  void Start();          // starts the thread
  void StopAccepting();  // thread-safe: closes the acceptors
  void Stop();           // thread-safe: stops the loop; sessions are dropped
  void Join();

 private:
  asio::awaitable<void> RunAcceptor(asio::ip::tcp::acceptor& acceptor);
  // Admission at accept (session::DecideAccept, the descriptor budget, the per-client cap): starts
  // the session, or closes the connection at once.
  void Admit(asio::ip::tcp::socket socket, const asio::ip::tcp::endpoint& remote);
  // Out of descriptors at accept: frees the reserve descriptor, accepts one pending connection and
  // closes it, so clients are answered instead of left in the backlog. False when it could not.
  bool AcceptAndCloseWithReserve(asio::ip::tcp::acceptor& acceptor);

  const Config& config_;
  SessionCounter& sessions_;
  std::unique_ptr<session::Admission> own_admission_;  // when none was given
  session::Admission* admission_;
  int reserve_fd_ = -1;  // /dev/null, see AcceptAndCloseWithReserve
  std::unique_ptr<asio::io_context> io_;
  std::unique_ptr<dns::Resolver> resolver_;
  std::unique_ptr<session::Context> context_;
  std::vector<std::unique_ptr<asio::ip::tcp::acceptor>> acceptors_;
  std::thread thread_;
};

}  // namespace socks5::server

#endif  // SOCKS5_SERVER_WORKER_H_
