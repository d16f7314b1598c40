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
           std::chrono::nanoseconds delay, ConnectLimits limits = {}) {
    asio::co_spawn(
        io,
        [&, candidates, limits]() -> asio::awaitable<void> {
          ConnectResult r = co_await AsyncConnectAny(candidates, timeout, delay, limits);
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
  EXPECT_EQ(h.result->value().socket.remote_endpoint(), good);
  // The third candidate: CONNECT takes that candidate's rule without asking the socket.
  EXPECT_EQ(h.result->value().candidate, 2u);
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

asio::ip::address Ip(const char* text) { return asio::ip::make_address(text); }

TEST(AsyncConnectAnyTest, BindsEachAttemptToTheEgressAddressOfItsFamily) {
  Harness h;
  asio::ip::tcp::acceptor listener(h.io, asio::ip::tcp::endpoint(Ip("127.0.0.1"), 0));
  // Every 127/8 address is this host's: the connection comes from the egress one.
  h.Run({listener.local_endpoint()}, 5s, 250ms,
        ConnectLimits{.egress = Egress{.v4 = Ip("127.0.0.3"), .v6 = Ip("::1")}});
  ASSERT_TRUE(h.result && h.result->ok()) << (h.result ? h.result->error().message() : "none");
  EXPECT_EQ((*h.result)->socket.local_endpoint().address(), Ip("127.0.0.3"));
  asio::ip::tcp::socket accepted = listener.accept();
  EXPECT_EQ(accepted.remote_endpoint().address(), Ip("127.0.0.3"));
}

TEST(AsyncConnectAnyTest, OneFamilyEgressTriesOnlyThatFamily) {
  Harness h;
  asio::ip::tcp::acceptor listener(h.io, asio::ip::tcp::endpoint(Ip("::1"), 0));
  // An IPv6 listener first, but only IPv4 has an egress address: it is never tried.
  h.Run({listener.local_endpoint()}, 5s, 250ms,
        ConnectLimits{.egress = Egress{.v4 = Ip("127.0.0.1")}});
  ASSERT_TRUE(h.result);
  ASSERT_FALSE(h.result->ok());
  EXPECT_EQ(h.result->error(), asio::error::host_unreachable);
}

TEST(AsyncConnectAnyTest, PerCandidateSourcesReplaceTheEgress) {
  Harness h;
  asio::ip::tcp::acceptor listener(h.io, asio::ip::tcp::endpoint(Ip("127.0.0.1"), 0));
  // The first candidate is refused (from .5); the second connects from its own source, .6.
  h.Run({ClosedPort(h.io), listener.local_endpoint()}, 5s, 250ms,
        ConnectLimits{.egress = Egress{.v4 = Ip("127.0.0.4")},
                      .sources = {Ip("127.0.0.5"), Ip("127.0.0.6")}});
  ASSERT_TRUE(h.result && h.result->ok()) << (h.result ? h.result->error().message() : "none");
  EXPECT_EQ((*h.result)->socket.local_endpoint().address(), Ip("127.0.0.6"));
}

TEST(AsyncConnectAnyTest, SourcesNotMatchingTheCandidatesAreRefused) {
  Harness h;
  h.Run({ClosedPort(h.io), ClosedPort(h.io)}, 5s, 250ms,
        ConnectLimits{.sources = {Ip("127.0.0.5")}});
  ASSERT_TRUE(h.result);
  ASSERT_FALSE(h.result->ok());
  EXPECT_EQ(h.result->error(), std::make_error_code(std::errc::invalid_argument));
}

TEST(ReachableCandidatesTest, Table) {
  const asio::ip::tcp::endpoint v4(Ip("192.0.2.1"), 80), v6(Ip("2001:db8::1"), 80),
      mapped(Ip("::ffff:192.0.2.2"), 80);
  const std::vector<asio::ip::tcp::endpoint> all = {v4, v6, mapped};
  struct Case {
    Egress egress;
    std::vector<asio::ip::tcp::endpoint> want;
  };
  for (const Case& c :
       {Case{Egress{}, all}, Case{Egress{.v4 = Ip("198.51.100.1"), .v6 = Ip("2001:db8:2::1")}, all},
        Case{Egress{.v4 = Ip("198.51.100.1")}, {v4, mapped}},
        Case{Egress{.v6 = Ip("2001:db8:2::1")}, {v6}}}) {
    EXPECT_EQ(ReachableCandidates(c.egress, all), c.want);
  }
}

TEST(ParseEgressTest, Table) {
  struct Case {
    const char* text;
    const char* v4;  // "" none; nullptr: an error
    const char* v6;
  };
  for (const Case& c :
       {Case{"", "", ""}, Case{"198.51.100.7", "198.51.100.7", ""},
        Case{"2001:db8::7", "", "2001:db8::7"},
        Case{"198.51.100.7, 2001:db8::7", "198.51.100.7", "2001:db8::7"},
        Case{"2001:db8::7,198.51.100.7", "198.51.100.7", "2001:db8::7"},
        Case{"::ffff:198.51.100.7", "198.51.100.7", ""},  // mapped is IPv4
        Case{"198.51.100.7,198.51.100.8", nullptr, nullptr},
        Case{"2001:db8::7,2001:db8::8", nullptr, nullptr},
        Case{"198.51.100.7,::ffff:1.2.3.4", nullptr, nullptr}, Case{"0.0.0.0", nullptr, nullptr},
        Case{"::", nullptr, nullptr}, Case{"224.0.0.1", nullptr, nullptr},
        Case{"ff02::1", nullptr, nullptr}, Case{"255.255.255.255", nullptr, nullptr},
        Case{"example.com", nullptr, nullptr}, Case{"198.51.100.7:80", nullptr, nullptr}}) {
    absl::StatusOr<Egress> got = ParseEgress(c.text);
    if (c.v4 == nullptr) {
      ASSERT_FALSE(got.ok()) << c.text;
      EXPECT_NE(got.status().message().find("--outbound_address"), std::string::npos);
      continue;
    }
    ASSERT_TRUE(got.ok()) << c.text << ": " << got.status();
    EXPECT_EQ(got->v4 ? got->v4->to_string() : "", c.v4) << c.text;
    EXPECT_EQ(got->v6 ? got->v6->to_string() : "", c.v6) << c.text;
  }
  EXPECT_NE(ParseEgress("1.2.3.4,5.6.7.8").status().message().find("at most one IPv4"),
            std::string::npos);
}

TEST(WithRuleEgressTest, ARuleReplacesTheFlagEntirely) {
  const Egress flag{.v4 = Ip("198.51.100.1"), .v6 = Ip("2001:db8::1")};
  const Egress same = WithRuleEgress(flag, std::nullopt, std::nullopt);
  EXPECT_EQ(same.v4, flag.v4);
  EXPECT_EQ(same.v6, flag.v6);
  const Egress rule = WithRuleEgress(flag, Ip("203.0.113.9"), std::nullopt);
  EXPECT_EQ(rule.v4, Ip("203.0.113.9"));
  EXPECT_FALSE(rule.v6);  // the rule's sessions are IPv4-only
}

}  // namespace
}  // namespace socks5::session
