#include "udp/reassembler.h"

#include <chrono>
#include <cstdint>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "protocol/address.h"
#include "protocol/udp_header.h"

namespace socks5::udp {
namespace {

using Action = Reassembler::Result::Action;
using std::chrono::milliseconds;
using std::chrono::seconds;

protocol::Address Ip4(std::uint8_t last, std::uint16_t port) {
  return protocol::Address{protocol::Ipv4{10, 0, 0, last}, port};
}
protocol::Address Domain(std::string name, std::uint16_t port) {
  return protocol::Address{std::move(name), port};
}

const protocol::Address kDst = Ip4(1, 53);
const protocol::Address kOtherDst = Ip4(2, 53);

std::span<const std::uint8_t> Bytes(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}
std::string Text(const std::vector<std::uint8_t>& v) { return std::string(v.begin(), v.end()); }

// A reassembler on a fake clock: tests move `now` by hand.
class ReassemblerTest : public ::testing::Test {
 protected:
  explicit ReassemblerTest(ReassemblerOptions options = {}) : r_(options) {}

  Reassembler::Result Add(std::uint8_t frag, std::string_view payload,
                          const protocol::Address& dst = kDst) {
    protocol::UdpDatagram d{protocol::UdpHeader{frag, dst}, Bytes(payload)};
    return r_.Add(d, now_);
  }
  // Adds a fragment expected to be held.
  void Hold(std::uint8_t frag, std::string_view payload, const protocol::Address& dst = kDst) {
    EXPECT_EQ(Add(frag, payload, dst).action, Action::kHeld) << "frag " << int{frag};
  }
  void ExpectDropped(std::uint8_t frag, std::string_view payload,
                     const protocol::Address& dst = kDst) {
    EXPECT_EQ(Add(frag, payload, dst).action, Action::kDropped) << "frag " << int{frag};
  }
  // Adds a last fragment expected to complete `want` to `dst`.
  void ExpectWhole(std::uint8_t frag, std::string_view payload, std::string_view want,
                   const protocol::Address& dst = kDst) {
    Reassembler::Result result = Add(frag, payload, dst);
    ASSERT_EQ(result.action, Action::kReassembled) << "frag " << int{frag};
    EXPECT_EQ(Text(result.datagram.payload), want);
    EXPECT_EQ(result.datagram.dst, dst);
  }
  void ExpectNoQueue() {
    EXPECT_EQ(r_.held_fragments(), 0u);
    EXPECT_EQ(r_.held_bytes(), 0u);
    EXPECT_EQ(r_.Expiry(), std::nullopt);
  }

  SteadyTime now_ = SteadyTime{} + std::chrono::hours(1);
  Reassembler r_;
};

TEST_F(ReassemblerTest, InOrderFragmentsReassembleOnce) {
  Hold(0x01, "ab");
  Hold(0x02, "cd");
  EXPECT_EQ(r_.held_fragments(), 2u);
  EXPECT_EQ(r_.held_bytes(), 4u);
  ExpectWhole(0x83, "ef", "abcdef");
  ExpectNoQueue();

  ReassemblerStats want;
  want.fragments_held = 3;
  want.reassembled = 1;
  EXPECT_EQ(r_.stats(), want);
}

TEST_F(ReassemblerTest, LoneLastFragmentIsWhole) {
  ExpectWhole(0x81, "x", "x");
  ExpectNoQueue();
  EXPECT_EQ(r_.stats().reassembled, 1u);
}

TEST_F(ReassemblerTest, DeliveredOnceThenANewSequenceStartsClean) {
  Hold(0x01, "a");
  ExpectWhole(0x82, "b", "ab");
  Hold(0x01, "c");
  ExpectWhole(0x82, "d", "cd");
  EXPECT_EQ(r_.stats().reassembled, 2u);
  EXPECT_EQ(r_.stats().abandoned_repeat, 0u);
}

TEST_F(ReassemblerTest, KeepsDomainDestination) {
  Hold(0x01, "a", Domain("example.com", 53));
  ExpectWhole(0x82, "b", "ab", Domain("example.com", 53));
}

TEST_F(ReassemblerTest, EmptyPayloadFragments) {
  Hold(0x01, "");
  Hold(0x02, "");
  ExpectWhole(0x83, "", "");
}

TEST_F(ReassemblerTest, StandalonePassesThroughUntouched) {
  EXPECT_EQ(Add(0x00, "hello").action, Action::kPassThrough);
  ExpectNoQueue();
  ReassemblerStats want;
  want.standalone = 1;
  EXPECT_EQ(r_.stats(), want);
}

// F7: 01, 03, 02 -> the queue restarts at 02. That queue lacks position 1, so its last fragment
// cannot make a whole datagram: it is dropped, never sent with a hole.
TEST_F(ReassemblerTest, LowerPositionRestartsTheQueue) {
  Hold(0x01, "a");
  Hold(0x03, "c");
  Hold(0x02, "b");
  EXPECT_EQ(r_.stats().abandoned_out_of_order, 1u);
  EXPECT_EQ(r_.held_fragments(), 1u);
  EXPECT_EQ(r_.held_bytes(), 1u);
  ExpectDropped(0x83, "c");
  ExpectNoQueue();

  ReassemblerStats want;
  want.fragments_held = 4;
  want.abandoned_out_of_order = 1;
  want.dropped_incomplete = 1;
  EXPECT_EQ(r_.stats(), want);

  // The next sequence is unaffected.
  Hold(0x01, "x");
  ExpectWhole(0x82, "y", "xy");
}

TEST_F(ReassemblerTest, RestartAtPositionOneDeliversTheNewSequence) {
  Hold(0x01, "old1");
  Hold(0x02, "old2");
  Hold(0x01, "new1");
  ExpectWhole(0x82, "new2", "new1new2");
  EXPECT_EQ(r_.stats().abandoned_out_of_order, 1u);
}

TEST_F(ReassemblerTest, LowerLastFragmentAbandonsAndIsIncomplete) {
  Hold(0x01, "a");
  Hold(0x02, "b");
  Hold(0x03, "c");
  ExpectDropped(0x82, "b");
  EXPECT_EQ(r_.stats().abandoned_out_of_order, 1u);
  EXPECT_EQ(r_.stats().dropped_incomplete, 1u);
  ExpectNoQueue();
}

TEST_F(ReassemblerTest, LowerLastFragmentOneIsWhole) {
  Hold(0x01, "a");
  Hold(0x02, "b");
  ExpectWhole(0x81, "z", "z");
  EXPECT_EQ(r_.stats().abandoned_out_of_order, 1u);
}

TEST_F(ReassemblerTest, GapIsNeverDelivered) {
  Hold(0x01, "a");
  Hold(0x03, "c");  // 02 lost
  ExpectDropped(0x84, "d");
  ExpectNoQueue();
  ReassemblerStats want;
  want.fragments_held = 3;
  want.dropped_incomplete = 1;
  EXPECT_EQ(r_.stats(), want);
}

TEST_F(ReassemblerTest, SequenceNotStartingAtOneIsNeverDelivered) {
  Hold(0x02, "b");
  ExpectDropped(0x83, "c");
  EXPECT_EQ(r_.stats().dropped_incomplete, 1u);
}

TEST_F(ReassemblerTest, IdenticalDuplicateIsDroppedAndQueueKept) {
  Hold(0x01, "a");
  Hold(0x02, "b");
  ExpectDropped(0x02, "b");
  EXPECT_EQ(r_.held_fragments(), 2u);
  ExpectWhole(0x83, "c", "abc");
  ReassemblerStats want;
  want.fragments_held = 3;
  want.dropped_duplicate = 1;
  want.reassembled = 1;
  EXPECT_EQ(r_.stats(), want);
}

TEST_F(ReassemblerTest, EmptyDuplicateIsDropped) {
  Hold(0x01, "");
  ExpectDropped(0x01, "");
  ExpectWhole(0x82, "b", "b");
  EXPECT_EQ(r_.stats().dropped_duplicate, 1u);
}

// The same position with other bytes is a new sequence: keeping the old fragment would splice two
// datagrams together.
TEST_F(ReassemblerTest, DifferentFragmentAtSamePositionRestarts) {
  Hold(0x01, "old");
  Hold(0x01, "new");
  EXPECT_EQ(r_.held_fragments(), 1u);
  ExpectWhole(0x82, "!", "new!");
  ReassemblerStats want;
  want.fragments_held = 3;
  want.abandoned_repeat = 1;
  want.reassembled = 1;
  EXPECT_EQ(r_.stats(), want);
}

TEST_F(ReassemblerTest, LastFlagAtTheHighestPositionIsNotADuplicate) {
  Hold(0x01, "a");
  Hold(0x02, "b");
  ExpectDropped(0x82, "b");  // restarts at 02 (last): lacks 01
  EXPECT_EQ(r_.stats().abandoned_repeat, 1u);
  EXPECT_EQ(r_.stats().dropped_incomplete, 1u);
  EXPECT_EQ(r_.stats().dropped_duplicate, 0u);
}

TEST_F(ReassemblerTest, OnlyTheHighestPositionIsComparedForDuplicates) {
  Hold(0x01, "a");
  Hold(0x02, "b");
  Hold(0x01, "a");  // lower than the highest: a restart even though bytes match (F7)
  EXPECT_EQ(r_.stats().abandoned_out_of_order, 1u);
  EXPECT_EQ(r_.held_fragments(), 1u);
}

TEST_F(ReassemblerTest, TimerRunsFromTheFirstFragment) {
  const SteadyTime start = now_;
  Hold(0x01, "a");
  EXPECT_EQ(r_.Expiry(), start + seconds(5));
  now_ += seconds(4);
  Hold(0x02, "b");
  EXPECT_EQ(r_.Expiry(), start + seconds(5));  // not pushed back

  r_.OnTimer(start + milliseconds(4999));  // early or stale timer: nothing
  EXPECT_EQ(r_.held_fragments(), 2u);
  EXPECT_EQ(r_.stats().abandoned_timeout, 0u);

  r_.OnTimer(start + seconds(5));
  ExpectNoQueue();
  EXPECT_EQ(r_.stats().abandoned_timeout, 1u);
  r_.OnTimer(start + seconds(6));  // no queue: nothing more counted
  EXPECT_EQ(r_.stats().abandoned_timeout, 1u);

  now_ = start + seconds(6);
  ExpectDropped(0x83, "c");  // its queue is gone
  EXPECT_EQ(r_.stats().dropped_incomplete, 1u);
}

TEST_F(ReassemblerTest, LastFragmentJustBeforeTheTimeoutCompletes) {
  const SteadyTime start = now_;
  Hold(0x01, "a");
  now_ = start + seconds(5) - std::chrono::nanoseconds(1);
  ExpectWhole(0x82, "b", "ab");
}

// The caller's timer may be late: Add() itself refuses to extend an expired queue.
TEST_F(ReassemblerTest, ExpiredQueueIsAbandonedOnAddEvenWithoutTimer) {
  Hold(0x01, "a");
  now_ += seconds(5);
  ExpectDropped(0x82, "b");
  ReassemblerStats want;
  want.fragments_held = 2;
  want.abandoned_timeout = 1;
  want.dropped_incomplete = 1;
  EXPECT_EQ(r_.stats(), want);
}

TEST_F(ReassemblerTest, RestartResetsTheTimer) {
  Hold(0x01, "a");
  now_ += seconds(3);
  Hold(0x01, "z");  // restarts
  EXPECT_EQ(r_.Expiry(), now_ + seconds(5));
}

TEST(ReassemblerOptionsTest, LongerTimeoutIsKept) {
  Reassembler r(ReassemblerOptions{.timeout = seconds(30)});
  const SteadyTime t0 = SteadyTime{} + seconds(100);
  protocol::UdpDatagram d{protocol::UdpHeader{0x01, kDst}, Bytes("a")};
  EXPECT_EQ(r.Add(d, t0).action, Action::kHeld);
  EXPECT_EQ(r.Expiry(), t0 + seconds(30));
}

TEST(ReassemblerOptionsTest, TimeoutBelowTheRfcMinimumIsRaised) {
  Reassembler r(ReassemblerOptions{.timeout = seconds(1)});
  EXPECT_EQ(r.options().timeout, seconds(5));
  const SteadyTime t0 = SteadyTime{} + seconds(100);
  protocol::UdpDatagram d{protocol::UdpHeader{0x01, kDst}, Bytes("a")};
  r.Add(d, t0);
  EXPECT_EQ(r.Expiry(), t0 + seconds(5));
}

TEST(ReassemblerOptionsTest, Validate) {
  EXPECT_TRUE(ValidateReassemblerOptions({}).ok());
  EXPECT_TRUE(ValidateReassemblerOptions({.timeout = seconds(60)}).ok());
  EXPECT_TRUE(ValidateReassemblerOptions({.max_fragments = 1}).ok());

  absl::Status short_timeout = ValidateReassemblerOptions({.timeout = milliseconds(4999)});
  EXPECT_EQ(short_timeout.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(short_timeout.message(), ::testing::HasSubstr("4.999s"));
  EXPECT_THAT(short_timeout.message(), ::testing::HasSubstr("minimum of 5s"));
  EXPECT_EQ(ValidateReassemblerOptions({.max_bytes = 0}).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ValidateReassemblerOptions({.max_fragments = 0}).code(),
            absl::StatusCode::kInvalidArgument);
  absl::Status many = ValidateReassemblerOptions({.max_fragments = 128});
  EXPECT_EQ(many.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(many.message(), ::testing::HasSubstr("128 is not in 1..127"));
}

TEST_F(ReassemblerTest, DifferentDestinationMidQueueRestarts) {
  Hold(0x01, "a");
  Hold(0x02, "b", kOtherDst);
  EXPECT_EQ(r_.stats().abandoned_dst_changed, 1u);
  EXPECT_EQ(r_.held_fragments(), 1u);
  ExpectDropped(0x83, "c", kOtherDst);  // the restarted queue lacks 01
  EXPECT_EQ(r_.stats().dropped_incomplete, 1u);
}

TEST_F(ReassemblerTest, DestinationChangeToPositionOneDeliversTheNewDatagram) {
  Hold(0x01, "a");
  Hold(0x02, "b");
  Hold(0x01, "x", kOtherDst);
  ExpectWhole(0x82, "y", "xy", kOtherDst);
  EXPECT_EQ(r_.stats().abandoned_dst_changed, 1u);
}

TEST_F(ReassemblerTest, PortAndAddressTypeAreBothPartOfTheDestination) {
  Hold(0x01, "a", Ip4(1, 53));
  Hold(0x02, "b", Ip4(1, 54));
  Hold(0x03, "c", Domain("10.0.0.1", 54));
  EXPECT_EQ(r_.stats().abandoned_dst_changed, 2u);
}

TEST_F(ReassemblerTest, StandaloneAbandonsAPartialQueue) {
  Hold(0x01, "a");
  EXPECT_EQ(Add(0x00, "x").action, Action::kPassThrough);
  ExpectNoQueue();
  ExpectDropped(0x82, "b");  // its 01 is gone
  ReassemblerStats want;
  want.fragments_held = 2;
  want.standalone = 1;
  want.abandoned_by_standalone = 1;
  want.dropped_incomplete = 1;
  EXPECT_EQ(r_.stats(), want);
}

TEST_F(ReassemblerTest, StandaloneToAnotherDestinationAlsoAbandons) {
  Hold(0x01, "a");
  EXPECT_EQ(Add(0x00, "x", kOtherDst).action, Action::kPassThrough);
  EXPECT_EQ(r_.stats().abandoned_by_standalone, 1u);
}

TEST_F(ReassemblerTest, LastFlagWithoutPositionIsDroppedAndQueueKept) {
  Hold(0x01, "a");
  ExpectDropped(0x80, "junk");
  EXPECT_EQ(r_.held_fragments(), 1u);
  ExpectWhole(0x82, "b", "ab");
  EXPECT_EQ(r_.stats().dropped_bad_frag, 1u);
}

class SmallCapTest : public ReassemblerTest {
 protected:
  SmallCapTest() : ReassemblerTest(ReassemblerOptions{.max_bytes = 10, .max_fragments = 3}) {}
};

TEST_F(SmallCapTest, ExactlyAtTheByteCapIsDelivered) {
  Hold(0x01, "12345");
  ExpectWhole(0x82, "67890", "1234567890");
}

TEST_F(SmallCapTest, OneByteOverTheCapAbandons) {
  Hold(0x01, "12345");
  ExpectDropped(0x02, "678901");
  ExpectNoQueue();
  ExpectDropped(0x83, "x");  // the rest of that sequence cannot complete
  ReassemblerStats want;
  want.fragments_held = 2;
  want.abandoned_too_big = 1;
  want.dropped_incomplete = 1;
  EXPECT_EQ(r_.stats(), want);
}

TEST_F(SmallCapTest, SingleFragmentOverTheCapIsDropped) {
  ExpectDropped(0x01, "12345678901");
  ExpectNoQueue();
  EXPECT_EQ(r_.stats().abandoned_too_big, 1u);
  EXPECT_EQ(r_.stats().fragments_held, 0u);
  // A standalone datagram is not limited: it is relayed as it came.
  EXPECT_EQ(Add(0x00, "12345678901").action, Action::kPassThrough);
}

TEST_F(SmallCapTest, FragmentCap) {
  Hold(0x01, "a");
  Hold(0x02, "b");
  ExpectWhole(0x83, "c", "abc");
  Hold(0x01, "a");
  Hold(0x02, "b");
  Hold(0x03, "c");
  ExpectDropped(0x84, "d");
  ExpectNoQueue();
  EXPECT_EQ(r_.stats().abandoned_too_many, 1u);
}

TEST_F(ReassemblerTest, AllOneHundredTwentySevenPositions) {
  std::string want;
  for (int position = 1; position < 127; ++position) {
    const std::string piece(1, static_cast<char>('A' + position % 26));
    want += piece;
    Hold(static_cast<std::uint8_t>(position), piece);
  }
  ExpectWhole(0xff, "!", want + "!");
}

// F11-sized: the default cap admits the largest UDP payload with headroom (65,535 bytes) and not
// one byte more; the memory held never exceeds the cap.
TEST_F(ReassemblerTest, DefaultByteCap) {
  const std::string big(65000, 'x');
  Hold(0x01, big);
  EXPECT_LE(r_.held_capacity(), 65535u);
  ExpectWhole(0x82, std::string(535, 'y'), big + std::string(535, 'y'));

  Hold(0x01, big);
  ExpectDropped(0x82, std::string(536, 'y'));
  EXPECT_EQ(r_.stats().abandoned_too_big, 1u);
}

TEST(ReassemblerMemoryTest, CapacityNeverExceedsTheCap) {
  Reassembler r(ReassemblerOptions{.max_bytes = 1000});
  SteadyTime now = SteadyTime{} + seconds(1);
  const std::string piece(300, 'p');
  for (std::uint8_t position = 1; position <= 4; ++position) {
    protocol::UdpDatagram d{protocol::UdpHeader{position, kDst}, Bytes(piece)};
    r.Add(d, now);
    EXPECT_LE(r.held_bytes(), 1000u);
    EXPECT_LE(r.held_capacity(), 1000u);
  }
  EXPECT_EQ(r.stats().fragments_held, 3u);
  EXPECT_EQ(r.stats().abandoned_too_big, 1u);
  EXPECT_EQ(r.held_capacity(), 0u);  // abandoning gives the memory back
}

// One scripted run through every outcome, with every counter checked.
TEST_F(ReassemblerTest, StatsCountEveryOutcomeExactly) {
  Hold(0x01, "a");
  Hold(0x02, "b");
  ExpectDropped(0x02, "b");  // duplicate
  ExpectWhole(0x83, "c", "abc");
  EXPECT_EQ(Add(0x00, "s").action, Action::kPassThrough);
  Hold(0x01, "a");
  Hold(0x01, "A");  // repeat
  Hold(0x02, "b");
  Hold(0x01, "a");                                         // out of order
  Hold(0x02, "b", kOtherDst);                              // dst changed
  ExpectDropped(0x80, "");                                 // bad frag
  EXPECT_EQ(Add(0x00, "s").action, Action::kPassThrough);  // abandons
  Hold(0x01, "a");
  now_ += seconds(5);
  r_.OnTimer(now_);          // timeout
  ExpectDropped(0x82, "b");  // incomplete

  ReassemblerStats want;
  want.standalone = 2;
  want.fragments_held = 10;
  want.reassembled = 1;
  want.dropped_duplicate = 1;
  want.dropped_incomplete = 1;
  want.dropped_bad_frag = 1;
  want.abandoned_by_standalone = 1;
  want.abandoned_out_of_order = 1;
  want.abandoned_repeat = 1;
  want.abandoned_dst_changed = 1;
  want.abandoned_timeout = 1;
  EXPECT_EQ(r_.stats(), want);
}

// Arbitrary bytes through the real parser, then the reassembler: never a crash, never more held
// than the caps, and every result accounted for in the stats.
TEST(ReassemblerFuzzTest, RandomDatagramsKeepTheInvariants) {
  ReassemblerOptions options{.max_bytes = 2000, .max_fragments = 20};
  Reassembler r(options);
  std::mt19937 rng(12345);
  SteadyTime now = SteadyTime{} + seconds(1);
  const std::uint8_t frags[] = {0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x7f,
                                0x80, 0x81, 0x82, 0x83, 0x84, 0xff};
  std::uint64_t pass = 0, whole = 0, parsed = 0;
  for (int i = 0; i < 20000; ++i) {
    std::vector<std::uint8_t> wire;
    if (rng() % 4 == 0) {
      // Pure noise, mostly rejected by the parser.
      wire.resize(rng() % 40);
      for (auto& b : wire) b = static_cast<std::uint8_t>(rng());
    } else {
      // A plausible header: RSV 0000, FRAG, one of two IPv4 targets or a short domain.
      wire = {0x00, 0x00, frags[rng() % std::size(frags)]};
      if (rng() % 5 == 0) {
        wire.insert(wire.end(), {0x03, 0x01, 'a'});
      } else {
        wire.insert(wire.end(), {0x01, 10, 0, 0, static_cast<std::uint8_t>(1 + rng() % 2)});
      }
      wire.insert(wire.end(), {0x00, 0x35});
      wire.resize(wire.size() + rng() % 700, static_cast<std::uint8_t>(rng()));
      if (rng() % 10 == 0) wire.resize(rng() % wire.size());  // truncated
    }
    std::optional<protocol::UdpDatagram> d = protocol::ParseUdpDatagram(wire);
    if (rng() % 50 == 0) now += seconds(rng() % 7);
    if (rng() % 30 == 0) r.OnTimer(now);
    if (!d) continue;
    ++parsed;
    Reassembler::Result result = r.Add(*d, now);
    if (result.action == Action::kPassThrough) ++pass;
    if (result.action == Action::kReassembled) {
      ++whole;
      EXPECT_LE(result.datagram.payload.size(), options.max_bytes);
    }
    ASSERT_LE(r.held_bytes(), options.max_bytes);
    ASSERT_LE(r.held_capacity(), options.max_bytes);
    ASSERT_LE(r.held_fragments(), options.max_fragments);
    if (r.held_fragments() > 0) {
      ASSERT_TRUE(r.Expiry().has_value());
      EXPECT_GT(*r.Expiry(), now);
    }
  }
  EXPECT_GT(parsed, 10000u);  // the generator really exercised the reassembler
  EXPECT_GT(whole, 0u);
  EXPECT_EQ(r.stats().standalone, pass);
  EXPECT_EQ(r.stats().reassembled, whole);
}

}  // namespace
}  // namespace socks5::udp
