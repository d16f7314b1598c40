#include "metrics/exposition.h"

#include <memory>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace socks5::metrics {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

ProcessMetrics Process() {
  ProcessMetrics p;
  p.version = "9.8.7";
  p.sessions_open = 4;
  p.descriptor_budget = 19000;
  p.reloads = 2;
  p.limits = {{"max_sessions", "refused_connections", 3}};
  p.udp_drop_names = {"foreign", "wrong_port"};
  return p;
}

TEST(ExpositionTest, RendersTheSummedCountersInTextFormat) {
  auto m = std::make_unique<WorkerMetrics>();
  m->sessions[Index(Protocol::kSocks5)][Index(Command::kConnect)][Index(Reply::k00)].Add(3);
  m->sessions[Index(Protocol::kSocks4a)][Index(Command::kBind)][Index(Reply::k5b)].Add(1);
  m->bytes_up.Add(3000);
  m->handshakes[Index(Handshake::kAuthFailure)].Add();
  m->connect_seconds.Observe(2'000'000);  // 2 ms
  m->udp_drops[1].Add(5);
  const std::string text = Render(Families(*m, Process()));
  EXPECT_THAT(text, HasSubstr("# TYPE socks5d_sessions_total counter"));
  EXPECT_THAT(text, HasSubstr("socks5d_sessions_total{protocol=\"socks5\",command=\"connect\","
                              "reply=\"00\"} 3\n"));
  EXPECT_THAT(text, HasSubstr("socks5d_sessions_total{protocol=\"socks4a\",command=\"bind\","
                              "reply=\"5b\"} 1\n"));
  // Combinations that never happened are left out.
  EXPECT_THAT(text, Not(HasSubstr("reply=\"07\"")));
  EXPECT_THAT(text, HasSubstr("socks5d_relayed_bytes_total{direction=\"up\"} 3000\n"));
  EXPECT_THAT(text, HasSubstr("socks5d_handshakes_total{outcome=\"auth_failure\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("socks5d_handshakes_total{outcome=\"timeout\"} 0\n"));
  EXPECT_THAT(text, HasSubstr("# TYPE socks5d_connect_duration_seconds histogram"));
  EXPECT_THAT(text, HasSubstr("socks5d_connect_duration_seconds_bucket{le=\"0.001\"} 0\n"));
  EXPECT_THAT(text, HasSubstr("socks5d_connect_duration_seconds_bucket{le=\"0.0025\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("socks5d_connect_duration_seconds_bucket{le=\"+Inf\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("socks5d_connect_duration_seconds_count 1\n"));
  EXPECT_THAT(text, HasSubstr("socks5d_udp_dropped_datagrams_total{reason=\"wrong_port\"} 5\n"));
  EXPECT_THAT(text, HasSubstr("socks5d_limits_hit_total{limit=\"max_sessions\","
                              "event=\"refused_connections\"} 3\n"));
  EXPECT_THAT(text, HasSubstr("socks5d_open_connections 4\n"));
  EXPECT_THAT(text, HasSubstr("socks5d_descriptor_budget 19000\n"));
  EXPECT_THAT(text, HasSubstr("socks5d_reloads_total 2\n"));
  EXPECT_THAT(text, HasSubstr("socks5d_build_info{version=\"9.8.7\"} 1\n"));
  EXPECT_THAT(text, Not(HasSubstr("user=")));  // no --metrics_per_user
  EXPECT_THAT(text, Not(HasSubstr("socks5d_user_")));
}

TEST(ExpositionTest, ActiveGaugeListsTheCommonCommandsAtZero) {
  auto m = std::make_unique<WorkerMetrics>();
  m->active[Index(Protocol::kSocks4)][Index(Command::kConnect)].Add(2);
  const std::string text = Render(Families(*m, Process()));
  EXPECT_THAT(text, HasSubstr("socks5d_sessions_active{protocol=\"socks5\",command=\"connect\"} "
                              "0\n"));
  EXPECT_THAT(text, HasSubstr("socks5d_sessions_active{protocol=\"socks4\",command=\"connect\"} "
                              "2\n"));
  EXPECT_THAT(text, Not(HasSubstr("socks5d_sessions_active{protocol=\"http\"")));
}

TEST(ExpositionTest, PerUserOnlyWhenAsked) {
  auto m = std::make_unique<WorkerMetrics>();
  ProcessMetrics p = Process();
  p.per_user = true;
  p.users = {{"alice", 2, 100, 200}, {"b\"o\\b", 1, 1, 1}};
  const std::string text = Render(Families(*m, p));
  EXPECT_THAT(text, HasSubstr("socks5d_user_sessions_total{user=\"alice\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("socks5d_user_relayed_bytes_total{user=\"alice\",direction=\"down\"} "
                              "200\n"));
  // The serializer escapes a name's quote and backslash.
  EXPECT_THAT(text, HasSubstr("socks5d_user_sessions_total{user=\"b\\\"o\\\\b\"} 1\n"));
}

TEST(UserTableTest, SumsPerUserAndFoldsNamesBeyondTheCap) {
  UserTable table(2);
  table.Add("alice", 10, 20);
  table.Add("bob", 1, 2);
  table.Add("alice", 5, 5);
  table.Add("carol", 7, 7);  // over the cap
  table.Add("dave", 1, 1);
  table.Add("bob", 1, 1);  // known names still count as themselves
  std::vector<UserCount> users = table.Snapshot();
  ASSERT_EQ(users.size(), 3u);
  EXPECT_EQ(users[0].user, UserTable::kOther);
  EXPECT_EQ(users[0].sessions, 2u);
  EXPECT_EQ(users[0].bytes_up, 8u);
  EXPECT_EQ(users[1].user, "alice");
  EXPECT_EQ(users[1].sessions, 2u);
  EXPECT_EQ(users[1].bytes_up, 15u);
  EXPECT_EQ(users[1].bytes_down, 25u);
  EXPECT_EQ(users[2].user, "bob");
  EXPECT_EQ(users[2].sessions, 2u);
}

}  // namespace
}  // namespace socks5::metrics
