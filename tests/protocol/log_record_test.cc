#include "protocol/log_record.h"

#include <cstdint>
#include <string>

#include "gtest/gtest.h"
#include "protocol/address.h"

namespace socks5::protocol {
namespace {

TEST(LogRecordTest, TextIsKeyValuePairsInOrder) {
  LogRecord record;
  record.Add("client", "127.0.0.1:5000");
  record.Add("up", std::uint64_t{79});
  record.AddSeconds("duration", 0.0031);
  record.AddBool("rejected", true);
  EXPECT_EQ(record.Text(), " client=127.0.0.1:5000 up=79 duration=0.003s rejected=true");
}

TEST(LogRecordTest, JsonHasNumbersAsNumbersAndStringsQuoted) {
  LogRecord record;
  record.Add("client", "127.0.0.1:5000");
  record.Add("up", std::uint64_t{18446744073709551615ULL});
  record.AddSeconds("duration", 1.5);
  record.AddBool("rejected", false);
  EXPECT_EQ(record.Json(),
            R"({"client":"127.0.0.1:5000","up":18446744073709551615,"duration":1.500,)"
            R"("rejected":false})");
}

TEST(LogRecordTest, JsonPrefixComesFirst) {
  LogRecord record;
  EXPECT_EQ(record.Json(), "{}");
  EXPECT_EQ(record.Json(R"("event":"access")"), R"({"event":"access"})");
  record.Add("cmd", "CONNECT");
  EXPECT_EQ(record.Json(R"("event":"access")"), R"({"event":"access","cmd":"CONNECT"})");
}

// What a client sent is escaped for the text log (EscapeForLog: `\` becomes \x5c); JSON then
// escapes the quote and the backslash of that text, so no client byte can end the string.
TEST(LogRecordTest, JsonEscapesQuotesBackslashesAndControlBytes) {
  EXPECT_EQ(JsonString(R"(a"b\c)"), R"("a\"b\\c")");
  EXPECT_EQ(JsonString(std::string("\x01\n", 2)), R"("\u0001\u000a")");
  LogRecord record;
  record.Add("user", EscapeForLog(std::string("al\"ice\\\n", 8)));
  EXPECT_EQ(record.Text(), R"( user=al"ice\x5c\x0a)");
  EXPECT_EQ(record.Json(), R"({"user":"al\"ice\\x5c\\x0a"})");
}

TEST(LogRecordTest, AppendKeepsOrder) {
  LogRecord a;
  a.Add("x", std::uint64_t{1});
  LogRecord b;
  b.Add("y", "z");
  a.Append(b);
  EXPECT_EQ(a.Text(), " x=1 y=z");
  EXPECT_TRUE(LogRecord().empty());
  EXPECT_FALSE(a.empty());
}

}  // namespace
}  // namespace socks5::protocol
