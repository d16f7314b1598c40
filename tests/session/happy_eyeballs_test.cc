#include "session/happy_eyeballs.h"

#include <cerrno>
#include <optional>

#include "asio/experimental/as_tuple.hpp"
#include "gtest/gtest.h"

namespace socks5::session {
namespace {

using namespace std::chrono_literals;

// Runs AsyncConnectAny on a fresh loop and returns its result.
struct Harness {
  asio::io_context io;
  std::optional<ConnectResult> result;

  void Run(std::vector<asio::ip::tcp::endpoint> candidates, std::chrono::nanoseconds timeout,
           std::chrono::nanoseconds delay) {
    asio::co_spawn(
        io,
        [&, candidates]() -> asio::awaitable<void> {
          ConnectResult r = co_await AsyncConnectAny(candidates, timeout, delay);
          result.emplace(std::move(r));
        },
        [](std::exception_ptr e) {
          if (e) std::rethrow_exception(e);
        });
    io.run_for(10s);
  }
};

// A loopback port with nothing listening: bind, note the port, close.
asio::ip::tcp::endpoint ClosedPort(asio::io_context& io) {
  asio::ip::tcp::acceptor a(io, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  auto endpoint = a.local_endpoint();
  a.close();
  return endpoint;
}

TEST(MoreTellingErrorTest, RefusedWins) {
  std::error_code refused(ECONNREFUSED, std::system_category());
  std::error_code net(ENETUNREACH, std::system_category());
  std::error_code host(EHOSTUNREACH, std::system_category());
  EXPECT_EQ(MoreTellingError(net, refused), refused);
  EXPECT_EQ(MoreTellingError(refused, net), refused);
  EXPECT_EQ(MoreTellingError(net, host), host);
  EXPECT_EQ(MoreTellingError({}, net), net);
}

TEST(AsyncConnectAnyTest, FallsThroughRefusedToListening) {
  Harness h;
  asio::ip::tcp::acceptor listening(
      h.io, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  auto good = listening.local_endpoint();
  h.Run({ClosedPort(h.io), ClosedPort(h.io), good}, 5s, 250ms);
  ASSERT_TRUE(h.result.has_value());
  ASSERT_TRUE(h.result->ok()) << h.result->error().message();
  EXPECT_EQ(h.result->value().remote_endpoint(), good);
}

TEST(AsyncConnectAnyTest, AllRefusedReportsRefused) {
  Harness h;
  h.Run({ClosedPort(h.io), ClosedPort(h.io)}, 5s, 250ms);
  ASSERT_TRUE(h.result.has_value());
  EXPECT_EQ(h.result->error().value(), ECONNREFUSED);
  EXPECT_FALSE(h.result->ok());  // no socket
}

TEST(AsyncConnectAnyTest, EmptyCandidatesFail) {
  Harness h;
  h.Run({}, 1s, 250ms);
  ASSERT_TRUE(h.result.has_value());
  EXPECT_TRUE(h.result->error());
}

TEST(InterleaveFamiliesTest, StartsWithFirstFamilyAndAlternates) {
  auto a = [](const char* s) { return asio::ip::make_address(s); };
  std::vector<asio::ip::address> in = {a("2001:db8::1"), a("2001:db8::2"), a("2001:db8::3"),
                                       a("192.0.2.1"), a("192.0.2.2")};
  std::vector<asio::ip::address> want = {a("2001:db8::1"), a("192.0.2.1"), a("2001:db8::2"),
                                         a("192.0.2.2"), a("2001:db8::3")};
  EXPECT_EQ(InterleaveFamilies(in), want);
  std::vector<asio::ip::address> v4_first = {a("192.0.2.1"), a("2001:db8::1")};
  EXPECT_EQ(InterleaveFamilies(v4_first), v4_first);
  EXPECT_TRUE(InterleaveFamilies({}).empty());
}

}  // namespace
}  // namespace socks5::session
