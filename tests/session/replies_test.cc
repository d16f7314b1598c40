#include "session/replies.h"

#include <cerrno>

#include "dns/resolver.h"
#include "gtest/gtest.h"

namespace socks5::session {
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

}  // namespace
}  // namespace socks5::session
