#include "protocol/proxy_header.h"

#include <arpa/inet.h>  // inet_pton: text to address, no I/O

#include <algorithm>
#include <array>
#include <cstring>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"

namespace socks5::protocol {
namespace {

constexpr std::array<std::uint8_t, 12> kV2Signature = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                                       0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
constexpr std::string_view kV1Prefix = "PROXY ";

// v2 address block sizes (spec s.2.2): two addresses and two ports.
constexpr std::size_t kInet4Block = 4 + 4 + 2 + 2;
constexpr std::size_t kInet6Block = 16 + 16 + 2 + 2;
constexpr std::size_t kUnixBlock = 108 + 108;
// The shortest header of either version: "PROXY UNKNOWN\r\n".
constexpr std::size_t kMinProxySize = 15;

ProxyParse Invalid(std::string why) {
  ProxyParse parse;
  parse.status = ProxyParseStatus::kInvalid;
  parse.error = std::move(why);
  return parse;
}

ProxyParse NeedMore(std::size_t need) {
  ProxyParse parse;
  parse.need = need;
  return parse;
}

// The canonical text forms (inet_pton: IPv4 dotted quad without leading zeros, IPv6 RFC 4291).
template <typename Ip>
bool ParseIp(absl::string_view text, int family, Ip* out) {
  const std::string copy(text);  // inet_pton needs a NUL-terminated string
  return inet_pton(family, copy.c_str(), out->data()) == 1;
}

// Decimal 0..65535 without sign or leading zeros.
bool ParsePort(absl::string_view text, std::uint16_t* out) {
  if (text.empty() || text.size() > 5 || (text.size() > 1 && text[0] == '0')) return false;
  if (!std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return false;
  }
  std::uint32_t value = 0;
  if (!absl::SimpleAtoi(text, &value) || value > 65535) return false;
  *out = static_cast<std::uint16_t>(value);
  return true;
}

// "PROXY TCP4 192.0.2.1 198.51.100.1 56324 1080\r\n" (spec s.2.1). `in` starts with "PROXY ".
ProxyParse ParseV1(std::string_view in) {
  const std::string_view window = in.substr(0, kMaxProxyV1Size);
  const std::size_t lf = window.find('\n');
  if (lf == std::string_view::npos) {
    if (window.size() >= kMaxProxyV1Size) return Invalid("PROXY v1 line longer than 107 bytes");
    return NeedMore(in.size() < kMinProxySize ? kMinProxySize - in.size() : 1);
  }
  if (lf == 0 || window[lf - 1] != '\r') return Invalid("PROXY v1 line does not end in CRLF");
  const absl::string_view line(window.data() + kV1Prefix.size(), lf - 1 - kV1Prefix.size());
  ProxyParse parse;
  parse.status = ProxyParseStatus::kComplete;
  parse.header.version = 1;
  parse.consumed = lf + 1;
  if (absl::StartsWith(line, "UNKNOWN") && (line.size() == 7 || line[7] == ' ')) {
    return parse;  // the rest of the line is to be ignored (spec s.2.1)
  }
  const std::vector<absl::string_view> f = absl::StrSplit(line, ' ');
  if (f.size() != 5) return Invalid("PROXY v1 line is not PROXY PROTO SRC DST SPORT DPORT");
  Address source;
  Address destination;
  if (f[0] == "TCP4") {
    Ipv4 s{};
    Ipv4 d{};
    if (!ParseIp(f[1], AF_INET, &s) || !ParseIp(f[2], AF_INET, &d)) {
      return Invalid("PROXY v1 TCP4 with a bad IPv4 address");
    }
    source.host = s;
    destination.host = d;
  } else if (f[0] == "TCP6") {
    Ipv6 s{};
    Ipv6 d{};
    if (!ParseIp(f[1], AF_INET6, &s) || !ParseIp(f[2], AF_INET6, &d)) {
      return Invalid("PROXY v1 TCP6 with a bad IPv6 address");
    }
    source.host = s;
    destination.host = d;
  } else {
    return Invalid("PROXY v1 protocol is not TCP4, TCP6 or UNKNOWN");
  }
  if (!ParsePort(f[3], &source.port) || !ParsePort(f[4], &destination.port)) {
    return Invalid("PROXY v1 with a bad port");
  }
  parse.header.source = std::move(source);
  parse.header.destination = std::move(destination);
  return parse;
}

std::uint16_t Load16(const std::uint8_t* p) { return static_cast<std::uint16_t>(p[0] << 8 | p[1]); }

// 12-byte signature, version/command, family/transport, 16-bit length, addresses, TLVs (s.2.2).
// `in` starts with the whole signature.
ProxyParse ParseV2(std::span<const std::uint8_t> in, std::size_t max_size) {
  // Each field is judged as soon as it is in, so garbage is refused without waiting for more.
  if (in.size() > 12) {
    if ((in[12] >> 4) != 2) return Invalid("PROXY v2 version is not 2");
    if ((in[12] & 0x0F) > 1) return Invalid("PROXY v2 command is neither LOCAL nor PROXY");
  }
  if (in.size() > 13 && ((in[13] >> 4) > 3 || (in[13] & 0x0F) > 2)) {
    return Invalid("PROXY v2 unknown address family or transport");
  }
  if (in.size() < kProxyV2FixedSize) return NeedMore(kProxyV2FixedSize - in.size());
  const std::uint8_t command = in[12] & 0x0F;
  const std::uint8_t family = in[13] >> 4;
  const std::uint8_t transport = in[13] & 0x0F;
  const std::size_t length = Load16(&in[14]);
  const std::size_t total = kProxyV2FixedSize + length;
  if (total > max_size) {
    return Invalid(
        absl::StrCat("PROXY v2 header of ", total, " bytes, over the limit of ", max_size));
  }
  if (command == 1) {
    // PROXY over a known family must carry its addresses; decided before they arrive.
    const std::size_t block = family == 1   ? kInet4Block
                              : family == 2 ? kInet6Block
                              : family == 3 ? kUnixBlock
                                            : 0;
    if (length < block) return Invalid("PROXY v2 length too short for its address family");
    if (family != 0 && transport == 2) return Invalid("PROXY v2 DGRAM on a stream connection");
  }
  if (in.size() < total) return NeedMore(total - in.size());
  ProxyParse parse;
  parse.status = ProxyParseStatus::kComplete;
  parse.consumed = total;
  ProxyHeader& h = parse.header;
  h.version = 2;
  if (command == 0) {
    h.local = true;  // the addresses, if any, are ignored (spec)
    return parse;
  }
  if (transport != 1 || (family != 1 && family != 2)) {
    return parse;  // UNSPEC or AF_UNIX: the connection's own addresses stand
  }
  const std::uint8_t* body = in.data() + kProxyV2FixedSize;
  Address source;
  Address destination;
  if (family == 1) {
    Ipv4 s{};
    Ipv4 d{};
    std::memcpy(s.data(), body, 4);
    std::memcpy(d.data(), body + 4, 4);
    source.host = s;
    destination.host = d;
    body += 8;
  } else {
    Ipv6 s{};
    Ipv6 d{};
    std::memcpy(s.data(), body, 16);
    std::memcpy(d.data(), body + 16, 16);
    source.host = s;
    destination.host = d;
    body += 32;
  }
  source.port = Load16(body);
  destination.port = Load16(body + 2);
  h.source = std::move(source);
  h.destination = std::move(destination);
  return parse;  // TLVs after the addresses are skipped
}

// "1.2.3.4" / "2001:db8::1": the address part of Address::ToString.
std::string HostText(const Address& a) {
  std::string text = a.ToString();
  text.erase(text.rfind(':'));
  if (!text.empty() && text.front() == '[') text = text.substr(1, text.size() - 2);
  return text;
}

}  // namespace

ProxyParse ParseProxyHeader(std::span<const std::uint8_t> in, std::size_t max_size) {
  max_size = std::max(max_size, kMinProxyMaxSize);
  const std::size_t sig = std::min(in.size(), kV2Signature.size());
  if (std::equal(in.begin(), in.begin() + static_cast<std::ptrdiff_t>(sig), kV2Signature.begin())) {
    if (in.empty()) return NeedMore(kMinProxySize);  // either version
    return in.size() < kV2Signature.size() ? NeedMore(kProxyV2FixedSize - in.size())
                                           : ParseV2(in, max_size);
  }
  const std::string_view text(reinterpret_cast<const char*>(in.data()), in.size());
  const std::size_t pre = std::min(text.size(), kV1Prefix.size());
  if (text.substr(0, pre) == kV1Prefix.substr(0, pre)) {
    return text.size() < kV1Prefix.size() ? NeedMore(kMinProxySize - text.size()) : ParseV1(text);
  }
  return Invalid("no PROXY protocol header (neither the v1 nor the v2 signature)");
}

std::string EncodeProxyV1(const Address& source, const Address& destination) {
  if (source.is_domain() || source.type() != destination.type()) return {};
  return absl::StrCat("PROXY ", source.type() == AddressType::kIPv4 ? "TCP4 " : "TCP6 ",
                      HostText(source), " ", HostText(destination), " ", source.port, " ",
                      destination.port, "\r\n");
}

std::string EncodeProxyV2(const Address& source, const Address& destination) {
  if (source.is_domain() || source.type() != destination.type()) return {};
  const bool v4 = source.type() == AddressType::kIPv4;
  std::string out(kV2Signature.begin(), kV2Signature.end());
  const std::size_t length = v4 ? kInet4Block : kInet6Block;
  out += '\x21';                // version 2, PROXY
  out += v4 ? '\x11' : '\x21';  // AF_INET or AF_INET6, STREAM
  out += static_cast<char>(length >> 8);
  out += static_cast<char>(length & 0xFF);
  auto append_host = [&out](const Address& a) {
    std::visit(
        [&out](const auto& host) {
          if constexpr (!std::is_same_v<std::decay_t<decltype(host)>, std::string>) {
            out.append(host.begin(), host.end());
          }
        },
        a.host);
  };
  append_host(source);
  append_host(destination);
  for (const std::uint16_t port : {source.port, destination.port}) {
    out += static_cast<char>(port >> 8);
    out += static_cast<char>(port & 0xFF);
  }
  return out;
}

}  // namespace socks5::protocol
