#include "protocol/gssapi.h"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "gtest/gtest.h"

namespace socks5::protocol::gssapi {
namespace {

using Bytes = std::vector<std::uint8_t>;

ParseResult<Message> Parse(const Bytes& bytes, MessageType expected,
                           std::size_t max_token = kMaxTokenSize) {
  return ParseMessage(std::span<const std::uint8_t>(bytes), expected, max_token);
}

struct MessageCase {
  const char* name;
  Bytes bytes;
  MessageType expected;
  ParseStatus status;
  MessageType type = MessageType::kAbort;  // when complete
  Bytes token = {};                        // when complete
  std::size_t consumed = 0;                // when complete
};

TEST(GssapiMessageTest, Table) {
  const MessageCase cases[] = {
      {"empty", {}, MessageType::kAuthentication, ParseStatus::kNeedMore},
      {"version only", {0x01}, MessageType::kAuthentication, ParseStatus::kNeedMore},
      {"bad version",
       {0x05, 0x01, 0x00, 0x01, 0xaa},
       MessageType::kAuthentication,
       ParseStatus::kInvalid},
      {"bad version decided at once", {0x02}, MessageType::kAuthentication, ParseStatus::kInvalid},
      {"half a length", {0x01, 0x01, 0x00}, MessageType::kAuthentication, ParseStatus::kNeedMore},
      {"token missing",
       {0x01, 0x01, 0x00, 0x02, 0xaa},
       MessageType::kAuthentication,
       ParseStatus::kNeedMore},
      {"authentication token",
       {0x01, 0x01, 0x00, 0x02, 0xaa, 0xbb},
       MessageType::kAuthentication,
       ParseStatus::kComplete,
       MessageType::kAuthentication,
       {0xaa, 0xbb},
       6},
      {"bytes behind stay",
       {0x01, 0x03, 0x00, 0x01, 0x7f, 0x01, 0x03},
       MessageType::kEncapsulated,
       ParseStatus::kComplete,
       MessageType::kEncapsulated,
       {0x7f},
       5},
      {"protection message",
       {0x01, 0x02, 0x00, 0x01, 0x02},
       MessageType::kProtection,
       ParseStatus::kComplete,
       MessageType::kProtection,
       {0x02},
       5},
      {"abort whatever was expected",
       {0x01, 0xff, 0x99},
       MessageType::kEncapsulated,
       ParseStatus::kComplete,
       MessageType::kAbort,
       {},
       2},
      {"another type",
       {0x01, 0x03, 0x00, 0x01, 0x00},
       MessageType::kAuthentication,
       ParseStatus::kInvalid},
      {"unknown type",
       {0x01, 0x04, 0x00, 0x01, 0x00},
       MessageType::kEncapsulated,
       ParseStatus::kInvalid},
      {"empty token",
       {0x01, 0x01, 0x00, 0x00},
       MessageType::kAuthentication,
       ParseStatus::kInvalid},
  };
  for (const MessageCase& c : cases) {
    SCOPED_TRACE(c.name);
    const ParseResult<Message> r = Parse(c.bytes, c.expected);
    ASSERT_EQ(r.status, c.status);
    EXPECT_FALSE(r.reply.has_value());
    if (c.status != ParseStatus::kComplete) continue;
    EXPECT_EQ(r.value.type, c.type);
    EXPECT_EQ(Bytes(r.value.token.begin(), r.value.token.end()), c.token);
    EXPECT_EQ(r.consumed, c.consumed);
  }
}

// The limit is checked on the length field alone: an oversized token is refused before any of it
// arrives, so a peer cannot make the server buffer it.
TEST(GssapiMessageTest, OversizedTokenRefusedFromItsLength) {
  const Bytes header = {0x01, 0x01, 0x10, 0x01};  // 4097 bytes announced
  EXPECT_EQ(Parse(header, MessageType::kAuthentication, 4096).status, ParseStatus::kInvalid);
  EXPECT_EQ(Parse(header, MessageType::kAuthentication, 4097).status, ParseStatus::kNeedMore);
}

TEST(GssapiMessageTest, LargestTokenAtEveryPrefix) {
  Bytes bytes;
  const Bytes token(kMaxTokenSize, 0x5a);
  ASSERT_TRUE(AppendMessage(MessageType::kEncapsulated, token, bytes));
  ASSERT_EQ(bytes.size(), kHeaderSize + kMaxTokenSize);
  EXPECT_EQ(bytes[2], 0xff);
  EXPECT_EQ(bytes[3], 0xff);
  for (std::size_t n :
       {std::size_t{0}, std::size_t{1}, std::size_t{3}, std::size_t{4}, bytes.size() - 1}) {
    const Bytes prefix(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(n));
    EXPECT_EQ(Parse(prefix, MessageType::kEncapsulated).status, ParseStatus::kNeedMore) << n;
  }
  const ParseResult<Message> r = Parse(bytes, MessageType::kEncapsulated);
  ASSERT_EQ(r.status, ParseStatus::kComplete);
  EXPECT_EQ(r.value.token.size(), kMaxTokenSize);
}

TEST(GssapiMessageTest, AppendRefusesWhatLenCannotSay) {
  Bytes out = {0x09};
  EXPECT_FALSE(AppendMessage(MessageType::kEncapsulated, {}, out));
  const Bytes too_long(kMaxTokenSize + 1, 0);
  EXPECT_FALSE(AppendMessage(MessageType::kEncapsulated, too_long, out));
  EXPECT_EQ(out, Bytes({0x09}));  // nothing appended
  const Bytes token = {0xde, 0xad};
  ASSERT_TRUE(AppendMessage(MessageType::kAuthentication, token, out));
  EXPECT_EQ(out, Bytes({0x09, 0x01, 0x01, 0x00, 0x02, 0xde, 0xad}));
}

struct SetCase {
  const char* text;
  std::optional<ProtectionSet> set;
};

TEST(GssapiProtectionTest, ParseSet) {
  const SetCase cases[] = {
      {"integrity,confidentiality", ProtectionSet{false, true, true}},
      {"confidentiality", ProtectionSet{false, false, true}},
      {" none , integrity ", ProtectionSet{true, true, false}},
      {"none", ProtectionSet{true, false, false}},
      {"", std::nullopt},
      {"integrity,", std::nullopt},
      {"integrity,integrity", std::nullopt},
      {"clear", std::nullopt},
      {"Integrity", std::nullopt},
  };
  for (const SetCase& c : cases) {
    EXPECT_EQ(ParseProtectionSet(c.text), c.set) << '"' << c.text << '"';
  }
}

struct ChooseCase {
  std::uint8_t requested;
  ProtectionSet accepted;
  std::optional<Protection> chosen;
};

TEST(GssapiProtectionTest, Choose) {
  const ProtectionSet kDefault;  // integrity, confidentiality
  const ProtectionSet kAll{true, true, true};
  const ProtectionSet kIntegrityOnly{false, true, false};
  const ProtectionSet kNoneOnly{true, false, false};
  const ProtectionSet kNothing{false, false, false};
  const ChooseCase cases[] = {
      {1, kDefault, Protection::kIntegrity},
      {2, kDefault, Protection::kConfidentiality},
      {3, kDefault, Protection::kConfidentiality},  // selective: never chosen
      {3, kIntegrityOnly, Protection::kIntegrity},
      {0, kDefault, Protection::kConfidentiality},  // no protection not enabled: the strongest
      {0, kAll, Protection::kNone},
      {2, kIntegrityOnly, Protection::kIntegrity},  // less than asked: the client decides
      {1, kNoneOnly, Protection::kNone},
      {3, kNoneOnly, Protection::kNone},
      {4, kAll, std::nullopt},  // not a level
      {0xff, kDefault, std::nullopt},
      {1, kNothing, std::nullopt},
  };
  for (const ChooseCase& c : cases) {
    EXPECT_EQ(ChooseProtection(c.requested, c.accepted), c.chosen)
        << "requested " << int{c.requested};
  }
}

}  // namespace
}  // namespace socks5::protocol::gssapi
