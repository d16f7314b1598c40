// The pure cache, on fake time: TTL caps, expiry, negative entries, LRU bound.
#include "dns/cache.h"

#include <string>

#include "gtest/gtest.h"

namespace socks5::dns {
namespace {

const absl::Time kStart = absl::FromUnixSeconds(1'000'000);

CacheOptions Options(std::size_t max_entries = 8) {
  return CacheOptions{
      .max_entries = max_entries, .max_ttl = absl::Minutes(10), .negative_ttl = absl::Seconds(5)};
}

TEST(CacheTest, EmptyCacheMisses) {
  Cache<std::string> cache(Options());
  std::string value = "untouched";
  EXPECT_EQ(cache.Lookup("a.test", kStart, &value), CacheStatus::kMiss);
  EXPECT_EQ(value, "untouched");
}

TEST(CacheTest, AnswerLivesItsTtl) {
  Cache<std::string> cache(Options());
  cache.InsertFound("a.test", "1.2.3.4", absl::Seconds(30), kStart);
  std::string value;
  EXPECT_EQ(cache.Lookup("a.test", kStart, &value), CacheStatus::kFound);
  EXPECT_EQ(value, "1.2.3.4");
  EXPECT_EQ(cache.Lookup("a.test", kStart + absl::Seconds(29), &value), CacheStatus::kFound);
  EXPECT_EQ(cache.Lookup("a.test", kStart + absl::Seconds(30), &value), CacheStatus::kMiss);
  EXPECT_EQ(cache.size(), 0u) << "an expired entry is dropped when seen";
}

TEST(CacheTest, OtherNamesMiss) {
  Cache<std::string> cache(Options());
  cache.InsertFound("a.test", "1.2.3.4", absl::Seconds(30), kStart);
  std::string value;
  EXPECT_EQ(cache.Lookup("b.test", kStart, &value), CacheStatus::kMiss);
}

TEST(CacheTest, TtlIsCappedAtMaxTtl) {
  Cache<std::string> cache(Options());
  cache.InsertFound("a.test", "1.2.3.4", absl::Hours(24), kStart);
  std::string value;
  EXPECT_EQ(cache.Lookup("a.test", kStart + absl::Minutes(10) - absl::Seconds(1), &value),
            CacheStatus::kFound);
  EXPECT_EQ(cache.Lookup("a.test", kStart + absl::Minutes(10), &value), CacheStatus::kMiss);
}

TEST(CacheTest, ZeroTtlIsNotCached) {
  Cache<std::string> cache(Options());
  cache.InsertFound("a.test", "1.2.3.4", absl::ZeroDuration(), kStart);
  std::string value;
  EXPECT_EQ(cache.Lookup("a.test", kStart, &value), CacheStatus::kMiss);
  EXPECT_EQ(cache.size(), 0u);
}

TEST(CacheTest, NotFoundLivesNegativeTtl) {
  Cache<std::string> cache(Options());
  cache.InsertNotFound("gone.test", kStart);
  std::string value = "untouched";
  EXPECT_EQ(cache.Lookup("gone.test", kStart + absl::Seconds(4), &value), CacheStatus::kNotFound);
  EXPECT_EQ(value, "untouched");
  EXPECT_EQ(cache.Lookup("gone.test", kStart + absl::Seconds(5), &value), CacheStatus::kMiss);
}

TEST(CacheTest, ZeroNegativeTtlDisablesNegativeCaching) {
  CacheOptions options = Options();
  options.negative_ttl = absl::ZeroDuration();
  Cache<std::string> cache(options);
  cache.InsertNotFound("gone.test", kStart);
  std::string value;
  EXPECT_EQ(cache.Lookup("gone.test", kStart, &value), CacheStatus::kMiss);
}

TEST(CacheTest, ReinsertReplacesValueAndLifetime) {
  Cache<std::string> cache(Options());
  cache.InsertNotFound("a.test", kStart);
  cache.InsertFound("a.test", "5.6.7.8", absl::Seconds(60), kStart + absl::Seconds(1));
  EXPECT_EQ(cache.size(), 1u);
  std::string value;
  EXPECT_EQ(cache.Lookup("a.test", kStart + absl::Seconds(30), &value), CacheStatus::kFound);
  EXPECT_EQ(value, "5.6.7.8");
  EXPECT_EQ(cache.Lookup("a.test", kStart + absl::Seconds(61), &value), CacheStatus::kMiss);
}

TEST(CacheTest, EvictsLeastRecentlyUsedBeyondBound) {
  Cache<std::string> cache(Options(/*max_entries=*/3));
  absl::Duration ttl = absl::Minutes(1);
  cache.InsertFound("a", "A", ttl, kStart);
  cache.InsertFound("b", "B", ttl, kStart);
  cache.InsertFound("c", "C", ttl, kStart);
  std::string value;
  // Touching "a" makes "b" the least recently used.
  ASSERT_EQ(cache.Lookup("a", kStart, &value), CacheStatus::kFound);
  cache.InsertFound("d", "D", ttl, kStart);
  EXPECT_EQ(cache.size(), 3u);
  EXPECT_EQ(cache.Lookup("b", kStart, &value), CacheStatus::kMiss);
  EXPECT_EQ(cache.Lookup("a", kStart, &value), CacheStatus::kFound);
  EXPECT_EQ(cache.Lookup("c", kStart, &value), CacheStatus::kFound);
  EXPECT_EQ(cache.Lookup("d", kStart, &value), CacheStatus::kFound);
}

TEST(CacheTest, NegativeEntriesCountTowardsTheBound) {
  Cache<std::string> cache(Options(/*max_entries=*/2));
  cache.InsertNotFound("x", kStart);
  cache.InsertFound("a", "A", absl::Minutes(1), kStart);
  cache.InsertFound("b", "B", absl::Minutes(1), kStart);
  EXPECT_EQ(cache.size(), 2u);
  std::string value;
  EXPECT_EQ(cache.Lookup("x", kStart, &value), CacheStatus::kMiss);
}

TEST(CacheTest, SizeNeverExceedsBound) {
  Cache<std::string> cache(Options(/*max_entries=*/16));
  for (int i = 0; i < 1000; ++i) {
    cache.InsertFound("n" + std::to_string(i), "v", absl::Minutes(1), kStart);
    ASSERT_LE(cache.size(), 16u);
  }
  std::string value;
  EXPECT_EQ(cache.Lookup("n999", kStart, &value), CacheStatus::kFound);
  EXPECT_EQ(cache.Lookup("n983", kStart, &value), CacheStatus::kMiss);
}

TEST(CacheTest, ZeroEntriesDisablesCache) {
  Cache<std::string> cache(Options(/*max_entries=*/0));
  cache.InsertFound("a", "A", absl::Minutes(1), kStart);
  cache.InsertNotFound("x", kStart);
  EXPECT_EQ(cache.size(), 0u);
}

}  // namespace
}  // namespace socks5::dns
