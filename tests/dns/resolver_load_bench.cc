// The DNS exhaustion attack of issue 11, defect 6, as a bench: N lookups of distinct names, each
// started from its own loop iteration (as N sessions would), against a DNS server that never
// answers. Prints the resolver thread's CPU time, how the lookups ended, how many questions reached
// the server, and how late the loop got (the worst delay of a 10 ms ticker and of an IP-literal
// lookup, which is what a CONNECT to an IP address on that worker waits for).
//
//   dns_load_bench [LOOKUPS=9000] [TIMEOUT_SECONDS=5] [MAX_IN_FLIGHT=default, 0: no cap]
//
// Only the public Resolver API of before the cap is used (MAX_IN_FLIGHT is ignored where the
// option does not exist), so the same file builds against older trees for a before/after
// comparison. Loopback only: the fake server binds 127.0.0.1:0.
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <thread>

#include "dns/resolver.h"
#include "tests/dns/fake_dns_server.h"

namespace {

using Clock = std::chrono::steady_clock;

double ThreadCpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_THREAD, &usage);
  return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
         static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

template <typename Options>
void SetMaxInFlight(Options& options, const char* value) {
  if constexpr (requires { options.max_in_flight; }) {
    if (value != nullptr) options.max_in_flight = static_cast<std::size_t>(std::atol(value));
    std::printf("max_in_flight %zu\n", options.max_in_flight);
  }
}

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

}  // namespace

int main(int argc, char** argv) {
  const int lookups = argc > 1 ? std::atoi(argv[1]) : 9000;
  const int timeout_s = argc > 2 ? std::atoi(argv[2]) : 5;

  // The server on its own thread, so its receiving is not charged to the resolver's thread.
  asio::io_context server_io;
  auto server = std::make_unique<socks5::dns::testing::FakeDnsServer>(server_io);
  server->set_silent(true);
  auto server_guard = asio::make_work_guard(server_io);
  std::thread server_thread([&] { server_io.run(); });

  asio::io_context io;
  socks5::dns::ResolverOptions options;
  options.servers = {server->server()};
  options.timeout = absl::Seconds(timeout_s);
  SetMaxInFlight(options, argc > 3 ? argv[3] : nullptr);
  auto created = socks5::dns::Resolver::Create(io, options);
  if (!created.ok()) {
    std::fprintf(stderr, "%s\n", created.status().ToString().c_str());
    return 1;
  }
  std::unique_ptr<socks5::dns::Resolver> resolver = *std::move(created);

  const double cpu_start = ThreadCpuSeconds();
  const Clock::time_point wall_start = Clock::now();
  int done = 0;
  std::map<std::string, int> outcomes;
  Clock::duration worst_tick = {};
  Clock::duration worst_literal = {};

  // One lookup per loop iteration.
  std::function<void(int)> start = [&](int i) {
    if (i == lookups) return;
    resolver->Resolve("n" + std::to_string(i) + ".load.test",
                      [&](std::error_code ec, socks5::dns::Resolver::Addresses) {
                        ++outcomes[ec ? ec.message() : "ok"];
                        ++done;
                      });
    asio::post(io, [&start, i] { start(i + 1); });
  };
  asio::post(io, [&] { start(0); });

  // The ticker: every 10 ms, note its lateness, and time an IP-literal lookup.
  asio::steady_timer ticker(io);
  Clock::time_point expected = Clock::now() + std::chrono::milliseconds(10);
  std::function<void()> tick = [&] {
    ticker.expires_at(expected);
    ticker.async_wait([&](std::error_code ec) {
      if (ec || done == lookups) return;
      worst_tick = std::max(worst_tick, Clock::now() - expected);
      Clock::time_point asked = Clock::now();
      resolver->Resolve("192.0.2.1", [&, asked](std::error_code, socks5::dns::Resolver::Addresses) {
        worst_literal = std::max(worst_literal, Clock::now() - asked);
      });
      expected = Clock::now() + std::chrono::milliseconds(10);
      tick();
    });
  };
  tick();

  while (done < lookups && Clock::now() - wall_start < std::chrono::seconds(10 * timeout_s + 60)) {
    io.run_one_for(std::chrono::seconds(1));
  }
  const double cpu = ThreadCpuSeconds() - cpu_start;
  const double wall = std::chrono::duration<double>(Clock::now() - wall_start).count();
  ticker.cancel();
  resolver.reset();
  io.poll();

  server_guard.reset();
  int questions = 0;
  asio::post(server_io, [&] {
    questions = server->total_queries();
    server.reset();
  });
  server_thread.join();

  std::printf("lookups %d (timeout %ds): resolver thread CPU %.3f s, wall %.3f s\n", lookups,
              timeout_s, cpu, wall);
  std::printf("questions that reached the server: %d\n", questions);
  for (const auto& [outcome, count] : outcomes) std::printf("  %6d  %s\n", count, outcome.c_str());
  std::printf("worst 10 ms ticker delay %.1f ms, worst IP-literal lookup %.1f ms\n", Ms(worst_tick),
              Ms(worst_literal));
  return done == lookups ? 0 : 1;
}
