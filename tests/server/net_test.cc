#include "server/net.h"

#include <cerrno>

#include "dns/resolver.h"
#include "gtest/gtest.h"

namespace socks5::server {
namespace {

using protocol::Reply;

std::error_code Sys(int e) { return std::error_code(e, std::system_category()); }

TEST(ReplyForErrorTest, OneTable) {
  struct Case {
    std::error_code error;
    Reply reply;
  } cases[] = {
      {Sys(ECONNREFUSED), Reply::kConnectionRefused},
      {asio::error::connection_refused, Reply::kConnectionRefused},
      {Sys(EHOSTUNREACH), Reply::kHostUnreachable},
      {Sys(ENETUNREACH), Reply::kNetworkUnreachable},
      {asio::error::network_unreachable, Reply::kNetworkUnreachable},
      {Sys(ETIMEDOUT), Reply::kTtlExpired},
      {asio::error::timed_out, Reply::kTtlExpired},
      {Sys(EACCES), Reply::kNotAllowed},
      {Sys(EADDRNOTAVAIL), Reply::kGeneralFailure},
      {dns::Errc::kNotFound, Reply::kHostUnreachable},
      {dns::Errc::kTimeout, Reply::kHostUnreachable},
      {dns::Errc::kBadName, Reply::kHostUnreachable},
      {dns::Errc::kCancelled, Reply::kGeneralFailure},
      {std::make_error_code(std::errc::io_error), Reply::kGeneralFailure},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(ReplyForError(c.error), c.reply) << c.error.message();
  }
}

TEST(AddressConversionTest, RoundTripAndUnmapping) {
  protocol::Address v4 = FromAsio(asio::ip::make_address("192.0.2.7"), 8080);
  EXPECT_EQ(v4.ToString(), "192.0.2.7:8080");
  EXPECT_EQ(ToAsioAddress(v4).to_string(), "192.0.2.7");
  protocol::Address mapped = FromAsio(asio::ip::make_address("::ffff:192.0.2.7"), 1);
  EXPECT_EQ(mapped.type(), protocol::AddressType::kIPv4);
  protocol::Address v6 = FromAsio(asio::ip::make_address("2001:db8::1"), 53);
  EXPECT_EQ(v6.type(), protocol::AddressType::kIPv6);
  EXPECT_EQ(ToAsioAddress(v6).to_string(), "2001:db8::1");
}

TEST(InterleaveFamiliesTest, StartsWithFirstFamilyAndAlternates) {
  auto a = [](const char* s) { return asio::ip::make_address(s); };
  std::vector<asio::ip::address> in = {a("2001:db8::1"), a("2001:db8::2"), a("2001:db8::3"),
                                       a("192.0.2.1"), a("192.0.2.2")};
  std::vector<asio::ip::address> want = {a("2001:db8::1"), a("192.0.2.1"), a("2001:db8::2"),
                                         a("192.0.2.2"), a("2001:db8::3")};
  EXPECT_EQ(InterleaveFamilies(in), want);
  std::vector<asio::ip::address> v4_first = {a("192.0.2.1"), a("2001:db8::1")};
  EXPECT_EQ(InterleaveFamilies(v4_first), v4_first);
  EXPECT_TRUE(InterleaveFamilies({}).empty());
}

}  // namespace
}  // namespace socks5::server
