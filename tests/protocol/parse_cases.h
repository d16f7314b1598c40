// Shared helpers for the protocol tests: hex byte literals and the checks every parser gets
// (every strict prefix needs more, trailing bytes are not consumed, invalid is decided early).
#ifndef SOCKS5_TESTS_PROTOCOL_PARSE_CASES_H_
#define SOCKS5_TESTS_PROTOCOL_PARSE_CASES_H_

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <ostream>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "protocol/messages.h"

namespace socks5::protocol::testing {

using ByteVector = std::vector<std::uint8_t>;

// "05 01 00" or "7f000001": pairs of hex digits; spaces are ignored.
inline ByteVector Hex(std::string_view hex) {
  ByteVector out;
  int high = -1;
  for (char c : hex) {
    if (c == ' ') continue;
    int nibble = (c >= '0' && c <= '9')   ? c - '0'
                 : (c >= 'a' && c <= 'f') ? c - 'a' + 10
                 : (c >= 'A' && c <= 'F') ? c - 'A' + 10
                                          : -1;
    if (nibble < 0) ADD_FAILURE() << "bad hex digit '" << c << "' in \"" << hex << "\"";
    if (high < 0) {
      high = nibble;
    } else {
      out.push_back(static_cast<std::uint8_t>(high << 4 | nibble));
      high = -1;
    }
  }
  if (high >= 0) ADD_FAILURE() << "odd number of hex digits in \"" << hex << "\"";
  return out;
}

// The bytes of a string, as hex ("bob" -> "62 6f 62").
inline std::string HexOf(std::string_view s) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (char c : s) {
    auto byte = static_cast<unsigned char>(c);
    out += kDigits[byte >> 4];
    out += kDigits[byte & 0xf];
    out += ' ';
  }
  return out;
}

inline ByteVector Concat(ByteVector a, const ByteVector& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

inline const char* StatusName(ParseStatus s) {
  switch (s) {
    case ParseStatus::kNeedMore:
      return "kNeedMore";
    case ParseStatus::kComplete:
      return "kComplete";
    case ParseStatus::kInvalid:
      return "kInvalid";
  }
  return "?";
}

// A table row for input the parser must reject: with `reply` (nullopt: just close), decided as
// soon as the first `decided_at` bytes are there (every shorter prefix is kNeedMore).
struct Rejected {
  std::optional<Reply> reply;
  std::size_t decided_at;
};

// Whether encoding a complete row's value gives back the row's bytes (not when e.g. RSV != 0).
enum class Encodes { kSameBytes, kDifferentBytes };

// One row of a parser table: {name, hex} needs more, {name, hex, value} is complete,
// {name, hex, Rejected{...}} is invalid.
template <typename T>
struct ParseCase {
  ParseCase(std::string name, std::string hex)
      : name(std::move(name)), hex(std::move(hex)), status(ParseStatus::kNeedMore) {}
  ParseCase(std::string name, std::string hex, T value, Encodes encodes = Encodes::kSameBytes)
      : name(std::move(name)),
        hex(std::move(hex)),
        status(ParseStatus::kComplete),
        value(std::move(value)),
        canonical(encodes == Encodes::kSameBytes) {}
  ParseCase(std::string name, std::string hex, Rejected rejected)
      : name(std::move(name)),
        hex(std::move(hex)),
        status(ParseStatus::kInvalid),
        reply(rejected.reply),
        decided_at(rejected.decided_at) {}

  std::string name;  // test name suffix: [A-Za-z0-9_]
  std::string hex;   // the input
  ParseStatus status;
  T value{};                   // kComplete: the parsed value
  std::optional<Reply> reply;  // kInvalid: the reply code to send (nullopt: just close)
  std::size_t decided_at = 0;  // kInvalid: see Rejected
  bool canonical = true;       // kComplete: encoding `value` gives exactly `hex`
};

template <typename T>
void PrintTo(const ParseCase<T>& c, std::ostream* os) {
  *os << c.name << " {" << c.hex << "}";
}

template <typename T>
using ParseFn = ParseResult<T> (*)(std::span<const std::uint8_t>);

// The checks every table row gets, whatever the message type.
template <typename T>
void CheckParseCase(ParseFn<T> parse, const ParseCase<T>& c) {
  const ByteVector input = Hex(c.hex);
  const ByteVector trailing = Hex("de ad be ef 05 01 00");
  std::span<const std::uint8_t> in(input);

  auto result = parse(in);
  ASSERT_EQ(StatusName(result.status), StatusName(c.status));

  switch (c.status) {
    case ParseStatus::kComplete: {
      EXPECT_EQ(result.consumed, input.size());
      EXPECT_TRUE(result.value == c.value);
      EXPECT_FALSE(result.reply.has_value());
      for (std::size_t n = 0; n < input.size(); ++n) {
        EXPECT_EQ(StatusName(parse(in.first(n)).status), StatusName(ParseStatus::kNeedMore))
            << "strict prefix of " << n << " bytes";
      }
      // Whatever follows the message (pipelined data) is not part of it.
      const ByteVector longer = Concat(input, trailing);
      auto with_trailing = parse(longer);
      EXPECT_EQ(StatusName(with_trailing.status), StatusName(ParseStatus::kComplete));
      EXPECT_EQ(with_trailing.consumed, input.size());
      EXPECT_TRUE(with_trailing.value == c.value);
      break;
    }
    case ParseStatus::kInvalid: {
      EXPECT_EQ(result.reply, c.reply);
      const std::size_t decided_at = c.decided_at;
      ASSERT_GE(decided_at, 1u);
      ASSERT_LE(decided_at, input.size());
      for (std::size_t n = 0; n < decided_at; ++n) {
        EXPECT_EQ(StatusName(parse(in.first(n)).status), StatusName(ParseStatus::kNeedMore))
            << "prefix of " << n << " bytes, before the deciding byte";
      }
      for (std::size_t n = decided_at; n <= input.size(); ++n) {
        auto early = parse(in.first(n));
        EXPECT_EQ(StatusName(early.status), StatusName(ParseStatus::kInvalid))
            << "prefix of " << n << " bytes, the deciding byte is in";
        EXPECT_EQ(early.reply, c.reply) << "prefix of " << n << " bytes";
      }
      auto with_trailing = parse(Concat(input, trailing));
      EXPECT_EQ(StatusName(with_trailing.status), StatusName(ParseStatus::kInvalid));
      EXPECT_EQ(with_trailing.reply, c.reply);
      break;
    }
    case ParseStatus::kNeedMore: {
      EXPECT_FALSE(result.reply.has_value());
      for (std::size_t n = 0; n < input.size(); ++n) {
        EXPECT_EQ(StatusName(parse(in.first(n)).status), StatusName(ParseStatus::kNeedMore));
      }
      break;
    }
  }
}

// Encodes `value` with `encode` and checks the size contract: exactly `expected` when the
// buffer is big enough (also when it is larger), and 0 for every smaller buffer.
template <typename EncodeFn>
void CheckEncoder(EncodeFn encode, const ByteVector& expected) {
  ByteVector out(expected.size() + 8, 0xcc);
  std::size_t written = encode(std::span<std::uint8_t>(out));
  ASSERT_EQ(written, expected.size());
  EXPECT_EQ(ByteVector(out.begin(), out.begin() + written), expected);
  EXPECT_EQ(out[written], 0xcc) << "wrote past the message";
  for (std::size_t n = 0; n < expected.size(); ++n) {
    ByteVector small(n);
    EXPECT_EQ(encode(std::span<std::uint8_t>(small)), 0u) << "buffer of " << n << " bytes";
  }
}

// The complete, canonical rows of a table: encoding their value must give their bytes.
template <typename T, std::size_t N>
std::vector<ParseCase<T>> EncodableCases(const ParseCase<T> (&cases)[N]) {
  std::vector<ParseCase<T>> out;
  for (const auto& c : cases) {
    if (c.status == ParseStatus::kComplete && c.canonical) out.push_back(c);
  }
  return out;
}

template <typename T>
std::string CaseName(const ::testing::TestParamInfo<ParseCase<T>>& info) {
  return info.param.name;
}

inline Address V4(std::uint8_t a, std::uint8_t b, std::uint8_t c, std::uint8_t d,
                  std::uint16_t port) {
  return Address{Ipv4{a, b, c, d}, port};
}

inline Address V6(std::string_view hex16, std::uint16_t port) {
  ByteVector bytes = Hex(hex16);
  Ipv6 ip{};
  if (bytes.size() != ip.size()) {
    ADD_FAILURE() << "IPv6 needs 16 bytes: " << hex16;
    return Address{ip, port};
  }
  std::copy(bytes.begin(), bytes.end(), ip.begin());
  return Address{ip, port};
}

inline Address Domain(std::string name, std::uint16_t port) {
  return Address{std::move(name), port};
}

}  // namespace socks5::protocol::testing

#endif  // SOCKS5_TESTS_PROTOCOL_PARSE_CASES_H_
