// Admission decisions as tables (session/admission.h).
#include "session/admission.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "absl/time/time.h"

namespace socks5::session {
namespace {

asio::ip::address Ip(const char* text) { return asio::ip::make_address(text); }

TEST(KeyFor, MappedAndPlainIpv4AreOneClient) {
  EXPECT_EQ(KeyFor(Ip("192.0.2.7")), KeyFor(Ip("::ffff:192.0.2.7")));
  EXPECT_NE(KeyFor(Ip("192.0.2.7")), KeyFor(Ip("192.0.2.8")));
  EXPECT_NE(KeyFor(Ip("2001:db8::1")), KeyFor(Ip("2001:db8::2")));
}

TEST(PrefixKeyFor, Ipv6CountsPerSlash64) {
  EXPECT_EQ(PrefixKeyFor(Ip("2001:db8:1:2::1")), PrefixKeyFor(Ip("2001:db8:1:2:ffff::9")));
  EXPECT_NE(PrefixKeyFor(Ip("2001:db8:1:2::1")), PrefixKeyFor(Ip("2001:db8:1:3::1")));
  EXPECT_EQ(PrefixKeyFor(Ip("192.0.2.7")), KeyFor(Ip("192.0.2.7")));
  EXPECT_NE(PrefixKeyFor(Ip("192.0.2.7")), PrefixKeyFor(Ip("192.0.2.8")));
}

TEST(DecideAccept, Table) {
  struct Case {
    AcceptState state;
    AcceptVerdict want;
  };
  const Case cases[] = {
      {{.active_sessions = 0, .max_sessions = 10, .handshakes = 0, .max_handshakes = 5},
       AcceptVerdict::kAccept},
      // A full server refuses, even when it could shed a handshake.
      {{.active_sessions = 10,
        .max_sessions = 10,
        .handshakes = 5,
        .max_handshakes = 5,
        .can_shed = true},
       AcceptVerdict::kRefuseMaxSessions},
      {{.active_sessions = 11, .max_sessions = 10}, AcceptVerdict::kRefuseMaxSessions},
      // At the handshake cap the oldest is shed, when this worker has one.
      {{.active_sessions = 5,
        .max_sessions = 10,
        .handshakes = 5,
        .max_handshakes = 5,
        .can_shed = true},
       AcceptVerdict::kAcceptShedOldest},
      {{.active_sessions = 5,
        .max_sessions = 10,
        .handshakes = 5,
        .max_handshakes = 5,
        .can_shed = false},
       AcceptVerdict::kAccept},
      {{.active_sessions = 4,
        .max_sessions = 10,
        .handshakes = 4,
        .max_handshakes = 5,
        .can_shed = true},
       AcceptVerdict::kAccept},
      // 0: no handshake cap.
      {{.active_sessions = 9,
        .max_sessions = 10,
        .handshakes = 9,
        .max_handshakes = 0,
        .can_shed = true},
       AcceptVerdict::kAccept},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(DecideAccept(c.state), c.want)
        << "active=" << c.state.active_sessions << " handshakes=" << c.state.handshakes;
  }
}

TEST(ClientTable, CapsEachKindPerAddress) {
  ClientTable table;
  const ClientKey a = KeyFor(Ip("127.0.0.1"));
  const ClientKey b = KeyFor(Ip("127.0.0.2"));
  EXPECT_TRUE(table.TryAcquire(a, ClientKind::kSession, 2));
  EXPECT_TRUE(table.TryAcquire(a, ClientKind::kSession, 2));
  EXPECT_FALSE(table.TryAcquire(a, ClientKind::kSession, 2));
  EXPECT_TRUE(table.TryAcquire(a, ClientKind::kAssociation, 1));  // counted apart
  EXPECT_FALSE(table.TryAcquire(a, ClientKind::kAssociation, 1));
  EXPECT_TRUE(table.TryAcquire(b, ClientKind::kSession, 2));  // another address
  EXPECT_TRUE(table.TryAcquire(b, ClientKind::kSession, 0));  // 0: no cap
  EXPECT_EQ(table.Count(a, ClientKind::kSession), 2u);
  table.Release(a, ClientKind::kSession);
  EXPECT_TRUE(table.TryAcquire(a, ClientKind::kSession, 2));
}

TEST(ClientTable, ForgetsAnAddressHoldingNothing) {
  ClientTable table;
  const ClientKey a = KeyFor(Ip("127.0.0.1"));
  table.Release(a, ClientKind::kSession);  // nothing held: no-op
  EXPECT_EQ(table.addresses(), 0u);
  EXPECT_TRUE(table.TryAcquire(a, ClientKind::kAssociation, 0));
  EXPECT_EQ(table.addresses(), 1u);
  table.Release(a, ClientKind::kAssociation);
  EXPECT_EQ(table.addresses(), 0u);
}

TEST(ClientSlot, ReleasesOnDestructionAndMove) {
  ClientTable table;
  {
    std::optional<ClientSlot> one =
        ClientSlot::TryAcquire(table, Ip("::ffff:127.0.0.1"), ClientKind::kSession, 1);
    ASSERT_TRUE(one);
    EXPECT_FALSE(ClientSlot::TryAcquire(table, Ip("127.0.0.1"), ClientKind::kSession, 1));
    ClientSlot moved(std::move(*one));
    one.reset();  // the moved-from slot releases nothing
    EXPECT_EQ(table.Count(KeyFor(Ip("127.0.0.1")), ClientKind::kSession), 1u);
  }
  EXPECT_EQ(table.addresses(), 0u);
}

TEST(ClientTable, CountsAcrossThreads) {
  ClientTable table;
  const ClientKey a = KeyFor(Ip("127.0.0.1"));
  std::vector<std::thread> threads;
  std::atomic<int> granted{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 1000; ++i) {
        if (table.TryAcquire(a, ClientKind::kSession, 100)) {
          granted.fetch_add(1);
          table.Release(a, ClientKind::kSession);
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(granted.load(), 4000);
  EXPECT_EQ(table.addresses(), 0u);
}

TEST(UserTable, CapsEachUserAndForgetsOnesHoldingNothing) {
  UserTable table;
  EXPECT_TRUE(table.TryAcquire("alice", 2));
  EXPECT_TRUE(table.TryAcquire("alice", 2));
  EXPECT_FALSE(table.TryAcquire("alice", 2));
  EXPECT_TRUE(table.TryAcquire("bob", 2));                       // another user
  EXPECT_TRUE(table.TryAcquire(std::string("carol\0x", 7), 1));  // names are bytes
  EXPECT_FALSE(table.TryAcquire(std::string("carol\0x", 7), 1));
  EXPECT_TRUE(table.TryAcquire("carol", 1));  // not the same name
  EXPECT_EQ(table.Count("alice"), 2u);
  EXPECT_EQ(table.users(), 4u);
  table.Release("alice");
  EXPECT_TRUE(table.TryAcquire("alice", 2));
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(table.TryAcquire("dave", 0));  // 0: no cap
  table.Release("nobody");                                               // nothing held: no-op
  table.Release("bob");
  EXPECT_EQ(table.Count("bob"), 0u);
  EXPECT_EQ(table.users(), 4u);  // alice, carol\0x, carol, dave
}

TEST(UserSlot, ReleasesOnDestructionAndMove) {
  UserTable table;
  {
    std::optional<UserSlot> one = UserSlot::TryAcquire(table, "alice", 1);
    ASSERT_TRUE(one);
    EXPECT_FALSE(UserSlot::TryAcquire(table, "alice", 1));
    UserSlot moved(std::move(*one));
    one.reset();  // the moved-from slot releases nothing
    EXPECT_EQ(table.Count("alice"), 1u);
    std::optional<UserSlot> bob = UserSlot::TryAcquire(table, "bob", 1);
    ASSERT_TRUE(bob);
    moved = std::move(*bob);  // releases alice's, takes bob's
    EXPECT_EQ(table.Count("alice"), 0u);
    EXPECT_EQ(table.Count("bob"), 1u);
  }
  EXPECT_EQ(table.users(), 0u);
}

TEST(UserTable, CountsAcrossThreads) {
  UserTable table;
  std::vector<std::thread> threads;
  std::atomic<int> over{0};
  std::atomic<int> held_max{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 1000; ++i) {
        if (!table.TryAcquire("alice", 3)) {
          over.fetch_add(1);
          continue;
        }
        const int held = static_cast<int>(table.Count("alice"));
        int seen = held_max.load();
        while (held > seen && !held_max.compare_exchange_weak(seen, held)) {
        }
        table.Release("alice");
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_LE(held_max.load(), 3);
  EXPECT_EQ(table.users(), 0u);
}

TEST(DescriptorBudget, ChargesUpToTheLimit) {
  DescriptorBudget budget(5);
  std::optional<DescriptorCharge> three = DescriptorCharge::Try(&budget, 3);
  ASSERT_TRUE(three);
  EXPECT_FALSE(DescriptorCharge::Try(&budget, 3));  // 6 > 5: nothing charged
  EXPECT_EQ(budget.used(), 3);
  {
    std::optional<DescriptorCharge> two = DescriptorCharge::Try(&budget, 2);
    ASSERT_TRUE(two);
    EXPECT_EQ(budget.used(), 5);
    DescriptorCharge moved = std::move(*two);
    two.reset();
    EXPECT_EQ(budget.used(), 5);
  }
  EXPECT_EQ(budget.used(), 3);
  three->Reset();
  EXPECT_EQ(budget.used(), 0);
  three.reset();
  EXPECT_EQ(budget.used(), 0);                        // Reset twice releases once
  EXPECT_TRUE(DescriptorCharge::Try(nullptr, 1000));  // no budget: unlimited
}

TEST(HandshakeRegistry, ShedsTheOldestAndUnlistsOnDestruction) {
  asio::io_context io;
  std::atomic<std::size_t> global{0};
  HandshakeRegistry registry(&global);
  asio::ip::tcp::socket first(io), second(io);
  first.open(asio::ip::tcp::v4());
  second.open(asio::ip::tcp::v4());
  {
    HandshakeRegistry::Entry a(registry, first);
    {
      HandshakeRegistry::Entry b(registry, second);
      EXPECT_EQ(registry.size(), 2u);
      EXPECT_EQ(global.load(), 2u);
      EXPECT_TRUE(registry.ShedOldest());
      EXPECT_TRUE(a.shed());
      EXPECT_FALSE(b.shed());
      EXPECT_FALSE(first.is_open());
      EXPECT_TRUE(second.is_open());
      EXPECT_EQ(registry.size(), 1u);
      EXPECT_EQ(global.load(), 1u);
    }
    EXPECT_EQ(registry.size(), 0u);  // b left when it ended
    EXPECT_EQ(global.load(), 0u);
    EXPECT_FALSE(registry.ShedOldest());
  }  // a, already shed, does not unlist twice
  EXPECT_EQ(global.load(), 0u);
}

// Sequential failures from one address, each attempt made as soon as the last was answered.
TEST(AuthThrottle, DelaysGrowAfterTheFreeFailures) {
  ThrottleOptions options;
  options.free_failures = 3;
  options.base_delay = absl::Milliseconds(100);
  options.max_delay = absl::Seconds(1);
  options.decay = absl::Hours(1);  // no decay within the test
  AuthThrottle throttle(options);
  const ClientKey key = PrefixKeyFor(Ip("127.0.0.1"));
  absl::Time now = absl::FromUnixSeconds(1000);
  const absl::Duration want[] = {
      absl::ZeroDuration(),    absl::ZeroDuration(),    absl::ZeroDuration(),
      absl::Milliseconds(100), absl::Milliseconds(200), absl::Milliseconds(400),
      absl::Milliseconds(800), absl::Seconds(1),        absl::Seconds(1)};
  for (const absl::Duration& expected : want) {
    absl::Duration wait = throttle.Admit(key, now);
    EXPECT_NEAR(absl::ToDoubleMilliseconds(wait), absl::ToDoubleMilliseconds(expected), 1.0);
    now += wait;
    throttle.RecordFailure(key, now);
  }
  // Another address is not delayed.
  EXPECT_EQ(throttle.Admit(PrefixKeyFor(Ip("127.0.0.2")), now), absl::ZeroDuration());
}

TEST(AuthThrottle, ParallelAttemptsQueueAndFailuresDecay) {
  ThrottleOptions options;
  options.free_failures = 1;
  options.base_delay = absl::Milliseconds(100);
  options.max_delay = absl::Seconds(1);
  options.decay = absl::Seconds(10);
  AuthThrottle throttle(options);
  const ClientKey key = KeyFor(Ip("127.0.0.1"));
  absl::Time now = absl::FromUnixSeconds(1000);
  throttle.RecordFailure(key, now);
  throttle.RecordFailure(key, now);  // score 2: step 200 ms
  // Three attempts at the same instant queue behind each other, each capped at max_delay.
  EXPECT_EQ(throttle.Admit(key, now), absl::Milliseconds(200));
  EXPECT_EQ(throttle.Admit(key, now), absl::Milliseconds(400));
  EXPECT_EQ(throttle.Admit(key, now), absl::Milliseconds(600));
  for (int i = 0; i < 10; ++i) throttle.Admit(key, now);
  EXPECT_EQ(throttle.Admit(key, now), absl::Seconds(1));
  // After 20 s of quiet both failures are forgotten.
  EXPECT_EQ(throttle.Admit(key, now + absl::Seconds(20)), absl::ZeroDuration());
}

TEST(AuthThrottle, RemembersAtMostMaxTracked) {
  ThrottleOptions options;
  options.max_tracked = 8;
  AuthThrottle throttle(options);
  absl::Time now = absl::FromUnixSeconds(1000);
  for (int i = 0; i < 100; ++i) {
    asio::ip::address_v4::bytes_type bytes{10, 0, 0, static_cast<unsigned char>(i)};
    throttle.RecordFailure(KeyFor(asio::ip::address_v4(bytes)), now);
  }
  EXPECT_LE(throttle.tracked(), 8u);
}

TEST(AuthThrottle, OffWhenFreeFailuresIsZero) {
  ThrottleOptions options;
  options.free_failures = 0;
  AuthThrottle throttle(options);
  const ClientKey key = KeyFor(Ip("127.0.0.1"));
  absl::Time now = absl::FromUnixSeconds(1000);
  for (int i = 0; i < 100; ++i) throttle.RecordFailure(key, now);
  EXPECT_EQ(throttle.Admit(key, now), absl::ZeroDuration());
  EXPECT_EQ(throttle.tracked(), 0u);
}

}  // namespace
}  // namespace socks5::session
