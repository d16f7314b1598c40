#include "udp/policy.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "protocol/address.h"
#include "udp/endpoint.h"

namespace socks5::udp {
namespace {

protocol::Ipv6 Mapped(protocol::Ipv4 v4) {
  return {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, v4[0], v4[1], v4[2], v4[3]};
}
constexpr protocol::Ipv4 kClient4 = {192, 0, 2, 10};
constexpr protocol::Ipv4 kOther4 = {192, 0, 2, 99};
constexpr protocol::Ipv6 kLoopback6 = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};

Endpoint Ep(protocol::Ipv4 ip, std::uint16_t port) { return Endpoint{IpAddress(ip), port}; }
Endpoint Ep(const protocol::Ipv6& ip, std::uint16_t port) { return Endpoint{IpAddress(ip), port}; }

TEST(IpAddressTest, MappedIpv6IsItsIpv4Address) {
  EXPECT_EQ(IpAddress(Mapped(kClient4)), IpAddress(kClient4));
  EXPECT_TRUE(IpAddress(Mapped(kClient4)).is_v4());
  EXPECT_NE(IpAddress(kLoopback6), IpAddress(protocol::Ipv4{127, 0, 0, 1}));
  EXPECT_FALSE(IpAddress(kLoopback6).is_v4());
  // ::192.0.2.10 (the deprecated IPv4-compatible form) is not mapped.
  protocol::Ipv6 compatible = Mapped(kClient4);
  compatible[10] = compatible[11] = 0;
  EXPECT_NE(IpAddress(compatible), IpAddress(kClient4));
  // Only ::ffff:0:0/96 is mapped: one bit off anywhere in the prefix is a real IPv6 address.
  for (int i = 0; i < 12; ++i) {
    protocol::Ipv6 near = Mapped(kClient4);
    near[i] ^= 0x01;
    EXPECT_FALSE(IpAddress(near).is_v4()) << "byte " << i;
  }
}

TEST(IpAddressTest, ToString) {
  EXPECT_EQ(IpAddress(kClient4).ToString(), "192.0.2.10");
  EXPECT_EQ(IpAddress(Mapped(kClient4)).ToString(), "192.0.2.10");
  EXPECT_EQ(IpAddress(kLoopback6).ToString(), "::1");
  EXPECT_EQ(Ep(kClient4, 80).ToString(), "192.0.2.10:80");
  EXPECT_EQ(Ep(kLoopback6, 80).ToString(), "[::1]:80");
}

TEST(IpAddressTest, FromAddress) {
  EXPECT_EQ(IpAddress::FromAddress(protocol::Address{kClient4, 1}), IpAddress(kClient4));
  EXPECT_EQ(IpAddress::FromAddress(protocol::Address{Mapped(kClient4), 1}), IpAddress(kClient4));
  EXPECT_EQ(IpAddress::FromAddress(protocol::Address{std::string("example.com"), 1}), std::nullopt);
  EXPECT_EQ(Endpoint::FromAddress(protocol::Address{kLoopback6, 7}), Ep(kLoopback6, 7));
  EXPECT_TRUE(IpAddress().is_unspecified());
  EXPECT_TRUE(IpAddress(protocol::Ipv6{}).is_unspecified());
  EXPECT_FALSE(IpAddress(kLoopback6).is_unspecified());
}

TEST(IpAddressTest, HashesEqualForMappedForms) {
  absl::flat_hash_set<Endpoint> set;
  set.insert(Ep(Mapped(kClient4), 53));
  EXPECT_TRUE(set.contains(Ep(kClient4, 53)));
  EXPECT_FALSE(set.contains(Ep(kClient4, 54)));
}

struct Arrival {
  Endpoint source;
  Admission want;
};
struct AdmissionCase {
  std::string name;
  IpAddress control_peer;
  protocol::Address requested;
  std::optional<Endpoint> client_before;  // client() before any datagram
  std::vector<Arrival> arrivals;
  std::optional<Endpoint> client_after;
};

std::string CaseName(const ::testing::TestParamInfo<AdmissionCase>& info) {
  return info.param.name;
}

class ClientAdmissionTest : public ::testing::TestWithParam<AdmissionCase> {};

TEST_P(ClientAdmissionTest, Table) {
  const AdmissionCase& c = GetParam();
  ClientAdmission admission(c.control_peer, c.requested);
  EXPECT_EQ(admission.client(), c.client_before);
  for (std::size_t i = 0; i < c.arrivals.size(); ++i) {
    const Arrival& a = c.arrivals[i];
    EXPECT_EQ(AdmissionName(admission.Admit(a.source)), std::string(AdmissionName(a.want)))
        << "arrival " << i << " from " << a.source.ToString();
  }
  EXPECT_EQ(admission.client(), c.client_after);
}

using enum Admission;
const protocol::Address kUnknown4{protocol::Ipv4{}, 0};

INSTANTIATE_TEST_SUITE_P(
    Cases, ClientAdmissionTest,
    ::testing::Values(
        // F1: 0.0.0.0:0 -> the first datagram from the client's IP locks the port.
        AdmissionCase{"UnknownLocksOntoFirstPort",
                      IpAddress(kClient4),
                      kUnknown4,
                      std::nullopt,
                      {{Ep(kClient4, 5000), kAccept},
                       {Ep(kClient4, 5000), kAccept},
                       {Ep(kClient4, 5001), kDropWrongPort}},
                      Ep(kClient4, 5000)},
        // F3: a foreign IP is dropped and does not lock the port.
        AdmissionCase{"ForeignIpDroppedAndLocksNothing",
                      IpAddress(kClient4),
                      kUnknown4,
                      std::nullopt,
                      {{Ep(kOther4, 5000), kDropForeignIp},
                       {Ep(kClient4, 6000), kAccept},
                       {Ep(kOther4, 6000), kDropForeignIp},
                       {Ep(kClient4, 5000), kDropWrongPort}},
                      Ep(kClient4, 6000)},
        // F2: the request names the client's address and port, and the client sends from it
        // first: locked for good.
        AdmissionCase{"NamedEndpointFirstLocksForGood",
                      IpAddress(kClient4),
                      protocol::Address{kClient4, 5000},
                      Ep(kClient4, 5000),
                      {{Ep(kClient4, 5000), kAccept},
                       {Ep(kClient4, 5001), kDropWrongPort},
                       {Ep(kOther4, 5000), kDropForeignIp},
                       {Ep(kClient4, 5000), kAccept}},
                      Ep(kClient4, 5000)},
        // F14 (v2ray, Xray): DST names the target, here on the client's own address; the client
        // sends from another port. The first such source is locked onto, a third port dropped.
        AdmissionCase{"HintMissedLocksOntoFirstSource",
                      IpAddress(kClient4),
                      protocol::Address{kClient4, 53},
                      Ep(kClient4, 53),
                      {{Ep(kClient4, 40000), kAccept},
                       {Ep(kClient4, 40000), kAccept},
                       {Ep(kClient4, 40001), kDropWrongPort}},
                      Ep(kClient4, 40000)},
        // The hint never admits a foreign address, not even on the named port, and a foreign
        // datagram locks nothing.
        AdmissionCase{"HintNeverAdmitsAForeignAddress",
                      IpAddress(kClient4),
                      protocol::Address{kClient4, 5000},
                      Ep(kClient4, 5000),
                      {{Ep(kOther4, 5000), kDropForeignIp},
                       {Ep(kOther4, 6000), kDropForeignIp},
                       {Ep(kClient4, 6000), kAccept},
                       {Ep(kOther4, 6000), kDropForeignIp}},
                      Ep(kClient4, 6000)},
        // The named endpoint sends after another port was locked onto: it takes the association
        // over, for good; the earlier port is dropped from then on.
        AdmissionCase{"NamedEndpointSendingLaterTakesOver",
                      IpAddress(kClient4),
                      protocol::Address{kClient4, 5000},
                      Ep(kClient4, 5000),
                      {{Ep(kClient4, 5001), kAccept},
                       {Ep(kClient4, 5000), kAccept},
                       {Ep(kClient4, 5001), kDropWrongPort},
                       {Ep(kClient4, 5002), kDropWrongPort},
                       {Ep(kClient4, 5000), kAccept}},
                      Ep(kClient4, 5000)},
        // 0.0.0.0:PORT (what PySocks sends): the same hint, the IP is the control peer's.
        AdmissionCase{"UnspecifiedAddressWithPort",
                      IpAddress(kClient4),
                      protocol::Address{protocol::Ipv4{}, 5000},
                      Ep(kClient4, 5000),
                      {{Ep(kClient4, 5000), kAccept}, {Ep(kClient4, 5001), kDropWrongPort}},
                      Ep(kClient4, 5000)},
        AdmissionCase{"UnspecifiedAddressWithPortMissed",
                      IpAddress(kClient4),
                      protocol::Address{protocol::Ipv4{}, 5000},
                      Ep(kClient4, 5000),
                      {{Ep(kClient4, 5001), kAccept}, {Ep(kClient4, 5002), kDropWrongPort}},
                      Ep(kClient4, 5001)},
        AdmissionCase{"NamedAddressPortZeroLocks",
                      IpAddress(kClient4),
                      protocol::Address{kClient4, 0},
                      std::nullopt,
                      {{Ep(kClient4, 7000), kAccept}, {Ep(kClient4, 7001), kDropWrongPort}},
                      Ep(kClient4, 7000)},
        // Behind NAT the client names its private address: the control peer's IP still rules,
        // and the port (which NAT rewrites too) is ignored in favour of lock-on.
        AdmissionCase{"OtherNamedAddressIgnored",
                      IpAddress(kClient4),
                      protocol::Address{protocol::Ipv4{10, 0, 0, 5}, 5000},
                      std::nullopt,
                      {{Ep(protocol::Ipv4{10, 0, 0, 5}, 5000), kDropForeignIp},
                       {Ep(kClient4, 40000), kAccept},
                       {Ep(kClient4, 5000), kDropWrongPort}},
                      Ep(kClient4, 40000)},
        AdmissionCase{"DomainNameKeepsItsPort",
                      IpAddress(kClient4),
                      protocol::Address{std::string("client.example"), 5000},
                      Ep(kClient4, 5000),
                      {{Ep(kClient4, 5000), kAccept}, {Ep(kClient4, 5002), kDropWrongPort}},
                      Ep(kClient4, 5000)},
        AdmissionCase{"Ipv6ClientHintOnItsOwnAddress",
                      IpAddress(kLoopback6),
                      protocol::Address{kLoopback6, 53},
                      Ep(kLoopback6, 53),
                      {{Ep(protocol::Ipv4{127, 0, 0, 1}, 53), kDropForeignIp},
                       {Ep(kLoopback6, 9000), kAccept},
                       {Ep(kLoopback6, 53), kAccept},
                       {Ep(kLoopback6, 9000), kDropWrongPort}},
                      Ep(kLoopback6, 53)},
        AdmissionCase{"Ipv6Client",
                      IpAddress(kLoopback6),
                      protocol::Address{protocol::Ipv6{}, 0},
                      std::nullopt,
                      {{Ep(protocol::Ipv4{127, 0, 0, 1}, 9000), kDropForeignIp},
                       {Ep(kLoopback6, 9000), kAccept},
                       {Ep(kLoopback6, 9001), kDropWrongPort}},
                      Ep(kLoopback6, 9000)},
        // A dual-stack listener sees ::ffff:a.b.c.d on the control connection, an IPv4 UDP
        // socket sees a.b.c.d (and the other way round): the same client.
        AdmissionCase{"MappedControlPeerIpv4Datagram",
                      IpAddress(Mapped(kClient4)),
                      kUnknown4,
                      std::nullopt,
                      {{Ep(kClient4, 5000), kAccept}, {Ep(Mapped(kClient4), 5000), kAccept}},
                      Ep(kClient4, 5000)},
        AdmissionCase{
            "Ipv4ControlPeerMappedDatagram",
            IpAddress(kClient4),
            kUnknown4,
            std::nullopt,
            {{Ep(Mapped(kClient4), 5000), kAccept}, {Ep(Mapped(kOther4), 5000), kDropForeignIp}},
            Ep(kClient4, 5000)},
        AdmissionCase{"MappedNamedAddressIsTheControlPeer",
                      IpAddress(kClient4),
                      protocol::Address{Mapped(kClient4), 5000},
                      Ep(kClient4, 5000),
                      {{Ep(kClient4, 5000), kAccept}, {Ep(kClient4, 5001), kDropWrongPort}},
                      Ep(kClient4, 5000)}),
    CaseName);

TEST(ReplyPolicyTest, Parse) {
  EXPECT_EQ(ParseReplyPolicy("restricted").value(), ReplyPolicy::kRestricted);
  EXPECT_EQ(ParseReplyPolicy("full_cone").value(), ReplyPolicy::kFullCone);
  for (const char* bad : {"", "Restricted", "full-cone", "fullcone", "restricted "}) {
    absl::StatusOr<ReplyPolicy> p = ParseReplyPolicy(bad);
    EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(p.status().message(), ::testing::HasSubstr("restricted, full_cone")) << bad;
  }
  EXPECT_STREQ(ReplyPolicyName(ReplyPolicy::kRestricted), "restricted");
  EXPECT_STREQ(ReplyPolicyName(ReplyPolicy::kFullCone), "full_cone");
}

const Endpoint kDns = Ep(protocol::Ipv4{198, 51, 100, 1}, 53);

TEST(RemoteAdmissionTest, RestrictedAdmitsOnlyEndpointsSentTo) {
  RemoteAdmission remote(ReplyPolicy::kRestricted);
  EXPECT_FALSE(remote.Admit(kDns));
  remote.NoteSent(kDns);
  EXPECT_TRUE(remote.Admit(kDns));
  EXPECT_FALSE(remote.Admit(Ep(protocol::Ipv4{198, 51, 100, 1}, 54)));         // other port
  EXPECT_FALSE(remote.Admit(Ep(protocol::Ipv4{198, 51, 100, 2}, 53)));         // other IP
  EXPECT_TRUE(remote.Admit(Ep(Mapped(protocol::Ipv4{198, 51, 100, 1}), 53)));  // same host
  remote.NoteSent(kDns);
  EXPECT_EQ(remote.size(), 1u);
}

TEST(RemoteAdmissionTest, FullConeAdmitsAnyoneAndRemembersNothing) {
  RemoteAdmission remote(ReplyPolicy::kFullCone);
  EXPECT_TRUE(remote.Admit(kDns));
  EXPECT_TRUE(remote.Admit(Ep(kLoopback6, 1)));
  remote.NoteSent(kDns);
  EXPECT_EQ(remote.size(), 0u);
}

TEST(RemoteAdmissionTest, ForgetsTheLeastRecentlySentTo) {
  RemoteAdmission remote(ReplyPolicy::kRestricted, 3);
  const Endpoint a = Ep(kOther4, 1), b = Ep(kOther4, 2), c = Ep(kOther4, 3), d = Ep(kOther4, 4);
  remote.NoteSent(a);
  remote.NoteSent(b);
  remote.NoteSent(c);
  remote.NoteSent(a);  // refreshes a: b is now the oldest
  remote.NoteSent(d);
  EXPECT_EQ(remote.size(), 3u);
  EXPECT_TRUE(remote.Admit(a));
  EXPECT_FALSE(remote.Admit(b));
  EXPECT_TRUE(remote.Admit(c));
  EXPECT_TRUE(remote.Admit(d));
}

TEST(RemoteAdmissionTest, ReceivingDoesNotRefresh) {
  RemoteAdmission remote(ReplyPolicy::kRestricted, 2);
  const Endpoint a = Ep(kOther4, 1), b = Ep(kOther4, 2), c = Ep(kOther4, 3);
  remote.NoteSent(a);
  remote.NoteSent(b);
  for (int i = 0; i < 10; ++i) EXPECT_TRUE(remote.Admit(a));
  remote.NoteSent(c);
  EXPECT_FALSE(remote.Admit(a));
  EXPECT_TRUE(remote.Admit(b));
}

TEST(RemoteAdmissionTest, DefaultCapacityBoundsMemory) {
  RemoteAdmission remote(ReplyPolicy::kRestricted);
  for (std::uint16_t port = 1; port <= 1025; ++port) remote.NoteSent(Ep(kOther4, port));
  EXPECT_EQ(remote.size(), RemoteAdmission::kDefaultCapacity);
  EXPECT_FALSE(remote.Admit(Ep(kOther4, 1)));
  EXPECT_TRUE(remote.Admit(Ep(kOther4, 2)));
  EXPECT_TRUE(remote.Admit(Ep(kOther4, 1025)));
}

}  // namespace
}  // namespace socks5::udp
