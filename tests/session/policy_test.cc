// The policy snapshot store: Current()/Replace() numbering, followers seeing reloads, and
// concurrent readers with a writer (run under ThreadSanitizer by the tsan step).
#include "session/policy.h"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace socks5::session {
namespace {

// Credentials that know one name: which snapshot a reader got is visible through it.
class Named : public Credentials {
 public:
  explicit Named(std::string name) : name_(std::move(name)) {}
  bool Check(absl::string_view user, absl::string_view) const override { return user == name_; }
  bool Contains(absl::string_view user) const override { return user == name_; }
  const std::string& name() const { return name_; }

 private:
  std::string name_;
};

Policy WithUser(std::string name) {
  Policy policy;
  policy.users = std::make_shared<const Named>(std::move(name));
  return policy;
}

TEST(PolicyStoreTest, StartsEmptyAtGenerationZero) {
  auto owned = std::make_shared<PolicyStore>();
  PolicyStore& store = *owned;
  std::shared_ptr<const Policy> current = store.Current();
  ASSERT_NE(current, nullptr);
  EXPECT_EQ(current->users, nullptr);
  EXPECT_EQ(current->rules, nullptr);
  EXPECT_EQ(current->generation, 0u);
  EXPECT_EQ(store.generation(), 0u);
}

TEST(PolicyStoreTest, ReplaceNumbersGenerationsAndOldSnapshotsStayIntact) {
  auto owned = std::make_shared<PolicyStore>();
  PolicyStore& store = *owned;
  EXPECT_EQ(store.Replace(WithUser("alice")), 1u);
  std::shared_ptr<const Policy> first = store.Current();  // a session that started now
  Policy stale = WithUser("bob");
  stale.generation = 77;  // whatever the caller put there, the store numbers it
  EXPECT_EQ(store.Replace(std::move(stale)), 2u);
  EXPECT_EQ(store.generation(), 2u);
  EXPECT_EQ(store.Current()->generation, 2u);
  EXPECT_TRUE(store.Current()->users->Contains("bob"));
  // The earlier session's snapshot is unchanged.
  EXPECT_EQ(first->generation, 1u);
  EXPECT_TRUE(first->users->Contains("alice"));
  EXPECT_FALSE(first->users->Contains("bob"));
}

TEST(PolicyFollowerTest, RefreshesOnlyAfterAReplace) {
  auto owned = std::make_shared<PolicyStore>();
  PolicyStore& store = *owned;
  store.Replace(WithUser("alice"));
  PolicyFollower follower(owned, store.Current());
  EXPECT_FALSE(follower.Refresh());
  EXPECT_FALSE(follower.Refresh());
  EXPECT_EQ(follower.policy().generation, 1u);
  store.Replace(WithUser("bob"));
  store.Replace(WithUser("carol"));  // two reloads between looks: one refresh, to the last
  EXPECT_TRUE(follower.Refresh());
  EXPECT_EQ(follower.policy().generation, 3u);
  EXPECT_TRUE(follower.policy().users->Contains("carol"));
  EXPECT_FALSE(follower.Refresh());
}

TEST(PolicyFollowerTest, AStaleStartRefreshesAtTheFirstLook) {
  // A UDP association starting from its session's snapshot, after a reload since the session
  // began: its first look moves it to the current one.
  auto owned = std::make_shared<PolicyStore>();
  PolicyStore& store = *owned;
  store.Replace(WithUser("alice"));
  std::shared_ptr<const Policy> session_start = store.Current();
  store.Replace(WithUser("bob"));
  PolicyFollower follower(owned, session_start);
  EXPECT_EQ(follower.policy().generation, 1u);
  EXPECT_TRUE(follower.Refresh());
  EXPECT_EQ(follower.policy().generation, 2u);
}

// Readers take snapshots and use them while a writer replaces them: every snapshot a reader
// sees is whole (its users match its generation) and generations never go backwards.
TEST(PolicyStoreTest, ConcurrentReadersAndAWriter) {
  constexpr int kReaders = 4;
  constexpr std::uint64_t kMinReplacements = 2000;
  constexpr std::uint64_t kMinReadsWhileWriting = 10000;
  auto owned = std::make_shared<PolicyStore>();
  PolicyStore& store = *owned;
  store.Replace(WithUser("user1"));
  std::atomic<bool> done{false};
  std::atomic<int> ready{0};
  std::atomic<int> bad{0};
  std::atomic<std::uint64_t> reads{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < kReaders; ++r) {
    readers.emplace_back([&] {
      std::uint64_t last = 0;
      std::shared_ptr<const Policy> start = store.Current();
      PolicyFollower follower(owned, start);
      ready.fetch_add(1);
      while (!done.load(std::memory_order_acquire)) {
        std::shared_ptr<const Policy> p = store.Current();
        const auto& users = static_cast<const Named&>(*p->users);
        if (users.name() != "user" + std::to_string(p->generation)) bad.fetch_add(1);
        if (p->generation < last) bad.fetch_add(1);
        last = p->generation;
        const std::uint64_t before = follower.policy().generation;
        follower.Refresh();
        if (follower.policy().generation < before) bad.fetch_add(1);
        reads.fetch_add(1, std::memory_order_relaxed);
      }
    });
  }
  while (ready.load() < kReaders) std::this_thread::yield();
  // Replaces until both enough replacements and enough reads overlapped them (bounded).
  const std::uint64_t reads_at_start = reads.load();
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  std::uint64_t g = 1;
  while ((g < kMinReplacements || reads.load() - reads_at_start < kMinReadsWhileWriting) &&
         std::chrono::steady_clock::now() < give_up) {
    ++g;
    EXPECT_EQ(store.Replace(WithUser("user" + std::to_string(g))), g);
  }
  const std::uint64_t reads_while_writing = reads.load() - reads_at_start;
  done.store(true, std::memory_order_release);
  for (auto& t : readers) t.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_GE(reads_while_writing, kMinReadsWhileWriting);
  EXPECT_EQ(store.Current()->generation, g);
}

// Two writers at once: every Replace gets its own generation, none is lost.
TEST(PolicyStoreTest, ConcurrentWritersEachGetAGeneration) {
  constexpr int kPerWriter = 500;
  auto owned = std::make_shared<PolicyStore>();
  PolicyStore& store = *owned;
  std::vector<std::uint64_t> seen_a, seen_b;
  std::thread a([&] {
    for (int i = 0; i < kPerWriter; ++i) seen_a.push_back(store.Replace(WithUser("a")));
  });
  std::thread b([&] {
    for (int i = 0; i < kPerWriter; ++i) seen_b.push_back(store.Replace(WithUser("b")));
  });
  a.join();
  b.join();
  std::vector<bool> taken(2 * kPerWriter + 1, false);
  for (const auto* seen : {&seen_a, &seen_b}) {
    for (std::uint64_t g : *seen) {
      ASSERT_GE(g, 1u);
      ASSERT_LE(g, 2u * kPerWriter);
      EXPECT_FALSE(taken[g]) << "generation " << g << " given twice";
      taken[g] = true;
    }
  }
  EXPECT_EQ(store.generation(), 2u * kPerWriter);
}

}  // namespace
}  // namespace socks5::session
