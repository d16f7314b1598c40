#include "protocol/address.h"

#include <cstddef>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace socks5::protocol {
namespace {

constexpr char kHexDigits[] = "0123456789abcdef";

std::string Ipv4ToString(const Ipv4& ip) {
  return absl::StrCat(ip[0], ".", ip[1], ".", ip[2], ".", ip[3]);
}

// One 16-bit group in lower case without leading zeros (RFC 5952 s.4.1, s.4.3).
void AppendGroup(std::uint16_t group, std::string& out) {
  bool started = false;
  for (int shift = 12; shift >= 0; shift -= 4) {
    int nibble = (group >> shift) & 0xf;
    if (nibble == 0 && !started && shift != 0) continue;
    started = true;
    out.push_back(kHexDigits[nibble]);
  }
}

// RFC 5952 s.4: the longest run of two or more zero groups becomes "::" (the first run on a
// tie); IPv4-mapped addresses end in dotted decimal (s.5).
std::string Ipv6ToString(const Ipv6& ip) {
  std::uint16_t groups[8];
  for (int i = 0; i < 8; ++i) {
    groups[i] = static_cast<std::uint16_t>((ip[2 * i] << 8) | ip[2 * i + 1]);
  }
  bool mapped = groups[0] == 0 && groups[1] == 0 && groups[2] == 0 && groups[3] == 0 &&
                groups[4] == 0 && groups[5] == 0xffff;
  if (mapped) {
    return absl::StrCat("::ffff:", Ipv4ToString(Ipv4{ip[12], ip[13], ip[14], ip[15]}));
  }

  int best_start = -1;
  int best_len = 0;
  for (int i = 0; i < 8;) {
    if (groups[i] != 0) {
      ++i;
      continue;
    }
    int start = i;
    while (i < 8 && groups[i] == 0) ++i;
    if (i - start > best_len) {
      best_start = start;
      best_len = i - start;
    }
  }
  if (best_len < 2) best_start = -1;  // a single zero group is not shortened (s.4.2.2)

  std::string out;
  for (int i = 0; i < 8; ++i) {
    if (i == best_start) {
      out += "::";
      i += best_len - 1;
      continue;
    }
    if (!out.empty() && out.back() != ':') out.push_back(':');
    AppendGroup(groups[i], out);
  }
  return out;
}

}  // namespace

std::string EscapeForLog(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  for (char c : bytes) {
    auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte >= 0x7f || c == '\\') {
      out += "\\x";
      out.push_back(kHexDigits[byte >> 4]);
      out.push_back(kHexDigits[byte & 0xf]);
    } else {
      out.push_back(c);
    }
  }
  return out;
}

AddressType Address::type() const {
  if (std::holds_alternative<Ipv4>(host)) return AddressType::kIPv4;
  if (std::holds_alternative<Ipv6>(host)) return AddressType::kIPv6;
  return AddressType::kDomain;
}

bool Address::is_unspecified_ip() const {
  if (const auto* v4 = std::get_if<Ipv4>(&host)) return *v4 == Ipv4{};
  if (const auto* v6 = std::get_if<Ipv6>(&host)) return *v6 == Ipv6{};
  return false;
}

std::size_t Address::encoded_size() const {
  std::size_t host_size = 0;
  if (std::holds_alternative<Ipv4>(host)) {
    host_size = 4;
  } else if (std::holds_alternative<Ipv6>(host)) {
    host_size = 16;
  } else {
    host_size = 1 + std::get<std::string>(host).size();  // length byte + name
  }
  return 1 + host_size + 2;  // ATYP + host + port
}

std::string Address::ToString() const {
  if (const auto* v4 = std::get_if<Ipv4>(&host)) return absl::StrCat(Ipv4ToString(*v4), ":", port);
  if (const auto* v6 = std::get_if<Ipv6>(&host)) {
    return absl::StrCat("[", Ipv6ToString(*v6), "]:", port);
  }
  // A name with ':' (an IPv6 literal sent as a domain, as Chromium does) is bracketed so the
  // port stays unambiguous.
  const std::string& name = std::get<std::string>(host);
  if (name.find(':') != std::string::npos) {
    return absl::StrCat("[", EscapeForLog(name), "]:", port);
  }
  return absl::StrCat(EscapeForLog(name), ":", port);
}

bool IsHostName(std::string_view name) {
  if (name.empty() || name.size() > 253) return false;
  for (absl::string_view label : absl::StrSplit(absl::string_view(name.data(), name.size()), '.')) {
    if (label.empty() || label.size() > 63) return false;
    for (char c : label) {
      if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') {
        return false;
      }
    }
  }
  return true;
}

}  // namespace socks5::protocol
