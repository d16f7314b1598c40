// session/rules.h over a real Session on a loopback connection: the query it builds, the access
// log's rule=, and the UDP association's per-destination decision cache.
#include "session/rules.h"

#include <memory>
#include <string>

#include "gtest/gtest.h"

namespace socks5::session {
namespace {

std::shared_ptr<const policy::RuleSet> Rules(absl::string_view text) {
  auto rules = policy::ParseRules(text, "rules");
  EXPECT_TRUE(rules.ok()) << rules.status();
  return std::make_shared<const policy::RuleSet>(rules.ok() ? *std::move(rules)
                                                            : policy::RuleSet());
}

udp::Endpoint Target(absl::string_view ip, std::uint16_t port) {
  return udp::Endpoint{*policy::ParseIp(ip), port};
}

class SessionRulesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dns::ResolverOptions options;
    options.servers = {"127.0.0.1"};  // never asked
    resolver_ = std::move(*dns::Resolver::Create(io_, options));
    context_ = std::make_unique<Context>(settings_, io_, *resolver_, active_, 0, 1);
    asio::ip::tcp::acceptor acceptor(io_, {asio::ip::make_address("127.0.0.1"), 0});
    client_.connect(acceptor.local_endpoint());
    session_ = std::make_unique<Session>(*context_, acceptor.accept());
  }
  void TearDown() override {
    session_.reset();
    context_.reset();
    resolver_.reset();
  }

  std::shared_ptr<const policy::RuleSet> kept_;  // declared first: outlives the session
  asio::io_context io_;
  Settings settings_;
  std::unique_ptr<dns::Resolver> resolver_;
  std::atomic<std::size_t> active_{0};
  std::unique_ptr<Context> context_;
  asio::ip::tcp::socket client_{io_};
  std::unique_ptr<Session> session_;
};

TEST_F(SessionRulesTest, QueryCarriesTheClientAndTheAuthenticatedUser) {
  policy::Query query = RuleQuery(*session_, policy::Command::kBind);
  EXPECT_EQ(query.client, *policy::ParseIp("127.0.0.1"));
  EXPECT_FALSE(query.user.has_value());
  EXPECT_EQ(query.command, policy::Command::kBind);
  session_->set_user("alice");
  query = RuleQuery(*session_, policy::Command::kUdp);
  ASSERT_TRUE(query.user.has_value());
  EXPECT_EQ(*query.user, "alice");
}

TEST_F(SessionRulesTest, AccessLogNamesTheRuleOnlyOnceOneDecided) {
  // Kept by the fixture: the record points into the rules until the session's last log line.
  auto& rules = kept_ = Rules("allow port=80\n");
  const absl::Time start = session_->record().start;
  EXPECT_EQ(session_->record().LogLine({}, start).find(" rule="), std::string::npos);
  RecordRule(*session_, policy::Decision{});
  EXPECT_NE(session_->record().LogLine({}, start).find(" rule=default"), std::string::npos);
  RecordRule(*session_, policy::Decision{true, &rules->rules()[0]});
  EXPECT_NE(session_->record().LogLine({}, start).find(" rule=rules:1"), std::string::npos);
  ApplyAllowingRule(*session_, &rules->rules()[0]);
  EXPECT_EQ(session_->allowing_rule(), &rules->rules()[0]);
}

TEST_F(SessionRulesTest, UdpDecisionsAreCachedPerNameAddressAndPort) {
  session_->set_user("alice");
  UdpRuleCache cache(Rules("deny to=127.0.0.2\n"
                           "deny to=.blocked.test\n"
                           "allow user=alice port=53\n"),
                     *session_);
  const std::string blocked = "www.Blocked.TEST";
  const std::string blocked_lower = "www.blocked.test";
  const std::string fine = "fine.test";
  EXPECT_TRUE(cache.Allowed(Target("127.0.0.1", 53), nullptr));
  EXPECT_FALSE(cache.Allowed(Target("127.0.0.1", 54), nullptr));         // port
  EXPECT_FALSE(cache.Allowed(Target("127.0.0.2", 53), nullptr));         // address
  EXPECT_FALSE(cache.Allowed(Target("::ffff:127.0.0.2", 53), nullptr));  // mapped = IPv4
  EXPECT_FALSE(cache.Allowed(Target("127.0.0.1", 53), &blocked));        // the name
  EXPECT_TRUE(cache.Allowed(Target("127.0.0.1", 53), &fine));
  EXPECT_EQ(cache.size(), 5u);  // the mapped address is the IPv4 one's entry
  EXPECT_FALSE(cache.Allowed(Target("127.0.0.1", 53), &blocked_lower));  // same entry, any case
  EXPECT_TRUE(cache.Allowed(Target("127.0.0.1", 53), nullptr));
  EXPECT_EQ(cache.size(), 5u);

  // A reload: the new rules decide, nothing remembered from the old ones.
  cache.Reset(Rules("deny port=53\nallow\n"));
  EXPECT_EQ(cache.size(), 0u);
  EXPECT_FALSE(cache.Allowed(Target("127.0.0.1", 53), nullptr));
  EXPECT_TRUE(cache.Allowed(Target("127.0.0.1", 54), nullptr));
}

TEST_F(SessionRulesTest, UdpCacheIsBounded) {
  UdpRuleCache cache(Rules("allow port=1-1000\n"), *session_);
  for (std::uint16_t port = 1; port <= UdpRuleCache::kMaxEntries + 10; ++port) {
    EXPECT_EQ(cache.Allowed(Target("127.0.0.1", port), nullptr), port <= 1000) << port;
    EXPECT_LE(cache.size(), UdpRuleCache::kMaxEntries);
  }
}

TEST_F(SessionRulesTest, UdpCacheWithoutRulesAllowsEverything) {
  UdpRuleCache cache(nullptr, *session_);
  EXPECT_TRUE(cache.Allowed(Target("127.0.0.1", 9), nullptr));
  EXPECT_EQ(cache.size(), 0u);
}

}  // namespace
}  // namespace socks5::session
