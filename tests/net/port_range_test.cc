#include "net/port_range.h"

#include <cstdint>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace socks5::net {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(ParsePortRangeTest, Valid) {
  struct Case {
    const char* text;
    PortRange want;
  };
  for (const Case& c : std::vector<Case>{{"1-65535", {1, 65535}},
                                         {"40000-40999", {40000, 40999}},
                                         {"5000-5000", {5000, 5000}},
                                         {"00080-81", {80, 81}}}) {
    absl::StatusOr<PortRange> got = ParsePortRange(c.text);
    ASSERT_TRUE(got.ok()) << c.text << ": " << got.status();
    EXPECT_EQ(*got, c.want) << c.text;
  }
}

TEST(ParsePortRangeTest, Invalid) {
  struct Case {
    const char* text;
    const char* message;  // a part of the error message
  };
  for (const Case& c : std::vector<Case>{
           {"", "expected LO-HI"},
           {"5000", "expected LO-HI"},
           {"5000:6000", "expected LO-HI"},
           {"-", "1..65535"},
           {"5000-", "1..65535"},
           {"-6000", "1..65535"},
           {"0-10", "1..65535"},
           {"10-65536", "1..65535"},
           {"99999-100000", "1..65535"},
           {"000001-2", "1..65535"},
           {" 1-2", "1..65535"},
           {"1-2 ", "1..65535"},
           {"+1-2", "1..65535"},
           {"1--2", "1..65535"},
           {"1-2-3", "1..65535"},
           {"a-b", "1..65535"},
           {"0x10-0x20", "1..65535"},
           {"100-50", "LO (100) is greater than HI (50)"},
       }) {
    absl::StatusOr<PortRange> got = ParsePortRange(c.text);
    ASSERT_FALSE(got.ok()) << "\"" << c.text << "\" parsed as " << got->ToString();
    EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument) << c.text;
    EXPECT_THAT(got.status().message(), HasSubstr(c.message)) << c.text;
    EXPECT_THAT(got.status().message(), HasSubstr(std::string("\"") + c.text + "\"")) << c.text;
  }
}

TEST(PortRangeTest, Basics) {
  PortRange r{100, 103};
  EXPECT_EQ(r.size(), 4u);
  EXPECT_TRUE(r.Contains(100));
  EXPECT_TRUE(r.Contains(103));
  EXPECT_FALSE(r.Contains(99));
  EXPECT_FALSE(r.Contains(104));
  EXPECT_EQ(r.ToString(), "100-103");
  EXPECT_EQ((PortRange{1, 65535}).size(), 65535u);
}

TEST(PortPickerTest, NextIsRoundRobin) {
  PortPicker picker(PortRange{10, 13});
  std::vector<std::uint16_t> got;
  for (int i = 0; i < 6; ++i) got.push_back(picker.Next());
  EXPECT_THAT(got, ElementsAre(10, 11, 12, 13, 10, 11));
}

TEST(PortPickerTest, StartOffsetWraps) {
  PortPicker picker(PortRange{10, 13}, 6);  // 6 mod 4 = 2
  EXPECT_EQ(picker.Next(), 12);
  EXPECT_EQ(picker.Next(), 13);
  EXPECT_EQ(picker.Next(), 10);
}

TEST(PortPickerTest, PickSkipsRefusedPortsAndContinuesAfterTheChosenOne) {
  PortPicker picker(PortRange{10, 14});
  std::vector<std::uint16_t> offered;
  auto busy_10_11 = [&](std::uint16_t port) {
    offered.push_back(port);
    return port != 10 && port != 11;
  };
  EXPECT_EQ(picker.Pick(busy_10_11), 12);
  EXPECT_THAT(offered, ElementsAre(10, 11, 12));
  offered.clear();
  EXPECT_EQ(picker.Pick(busy_10_11), 13);  // continues, does not restart at the low end
  EXPECT_EQ(picker.Pick(busy_10_11), 14);
  EXPECT_EQ(picker.Pick(busy_10_11), 12);  // wrapped past the busy ones
  EXPECT_THAT(offered, ElementsAre(13, 14, 10, 11, 12));
}

TEST(PortPickerTest, PickOffersEveryPortOnceWhenAllAreBusy) {
  PortPicker picker(PortRange{20, 24}, 3);
  std::vector<std::uint16_t> offered;
  EXPECT_EQ(picker.Pick([&](std::uint16_t port) {
    offered.push_back(port);
    return false;
  }),
            std::nullopt);
  EXPECT_THAT(offered, ElementsAre(23, 24, 20, 21, 22));
}

TEST(PortPickerTest, SinglePortRange) {
  PortPicker picker(PortRange{7, 7}, 12345);
  EXPECT_EQ(picker.Next(), 7);
  EXPECT_EQ(picker.Pick([](std::uint16_t) { return true; }), 7);
  int calls = 0;
  EXPECT_EQ(picker.Pick([&](std::uint16_t) { return ++calls, false; }), std::nullopt);
  EXPECT_EQ(calls, 1);
}

TEST(PortPickerTest, WholePortSpaceWrapsWithoutOverflow) {
  PortPicker picker(PortRange{1, 65535}, 65534);
  EXPECT_EQ(picker.Next(), 65535);
  EXPECT_EQ(picker.Next(), 1);
  std::size_t calls = 0;
  std::uint16_t lowest = 65535, highest = 0;
  EXPECT_EQ(picker.Pick([&](std::uint16_t port) {
    ++calls;
    lowest = std::min(lowest, port);
    highest = std::max(highest, port);
    return false;
  }),
            std::nullopt);
  EXPECT_EQ(calls, 65535u);
  EXPECT_EQ(lowest, 1);
  EXPECT_EQ(highest, 65535);
}

}  // namespace
}  // namespace socks5::net
