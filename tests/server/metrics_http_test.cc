#include "server/metrics_http.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace socks5::server {
namespace {

using ::testing::EndsWith;
using ::testing::HasSubstr;
using ::testing::StartsWith;

class MetricsHttpTest : public ::testing::Test {
 protected:
  MetricsHttp http_{[] { return std::string("socks5d_up 1\n"); }};
};

TEST_F(MetricsHttpTest, ServesMetricsWithTheTextFormatsContentType) {
  const std::string reply = http_.Respond("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_THAT(reply, StartsWith("HTTP/1.1 200 OK\r\n"));
  EXPECT_THAT(reply, HasSubstr("Content-Type: text/plain; version=0.0.4"));
  EXPECT_THAT(reply, HasSubstr("Content-Length: 13\r\n"));
  EXPECT_THAT(reply, EndsWith("\r\n\r\nsocks5d_up 1\n"));
  // A query string is ignored, as Prometheus's own handlers do.
  EXPECT_THAT(http_.Respond("GET /metrics?x=1 HTTP/1.0\r\n\r\n"), StartsWith("HTTP/1.1 200"));
}

TEST_F(MetricsHttpTest, ReadyzFollowsSetReady) {
  EXPECT_THAT(http_.Respond("GET /readyz HTTP/1.1\r\n\r\n"), StartsWith("HTTP/1.1 503"));
  http_.SetReady(true);
  EXPECT_THAT(http_.Respond("GET /readyz HTTP/1.1\r\n\r\n"), StartsWith("HTTP/1.1 200"));
  http_.SetReady(false);
  EXPECT_THAT(http_.Respond("GET /readyz HTTP/1.1\r\n\r\n"), StartsWith("HTTP/1.1 503"));
  EXPECT_THAT(http_.Respond("GET /healthz HTTP/1.1\r\n\r\n"), StartsWith("HTTP/1.1 200"));
}

TEST_F(MetricsHttpTest, ErrorsByStatus) {
  EXPECT_THAT(http_.Respond("GET /other HTTP/1.1\r\n\r\n"), StartsWith("HTTP/1.1 404"));
  EXPECT_THAT(http_.Respond("POST /metrics HTTP/1.1\r\n\r\n"), StartsWith("HTTP/1.1 405"));
  EXPECT_THAT(http_.Respond("HEAD /metrics HTTP/1.1\r\n\r\n"), StartsWith("HTTP/1.1 405"));
  EXPECT_THAT(http_.Respond("GET /metrics\r\n\r\n"), StartsWith("HTTP/1.1 400"));
  EXPECT_THAT(http_.Respond("\x05\x01\x00\r\n\r\n"), StartsWith("HTTP/1.1 400"));
}

}  // namespace
}  // namespace socks5::server
