// libFuzzer target: the PROXY protocol v1/v2 parser (protocol/proxy_header.h) on arbitrary bytes.
// Besides "no crash, no out-of-bounds read" (ASan/UBSan), it checks the parser contract: a
// complete header consumes at most the input and the limit, parses the same without the bytes
// after it, every prefix of it needs more (never more than is missing), and the addresses it
// names encode back to a header that parses to them; and the sniffer (protocol/sniff.h) calls
// every complete header proto=proxy_protocol, as the access log of an untrusted one says.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string>

#include "protocol/proxy_header.h"
#include "protocol/sniff.h"

namespace {

using socks5::protocol::ProxyParseStatus;
using Bytes = std::span<const std::uint8_t>;

void Check(bool condition) {
  if (!condition) std::abort();
}

void CheckReparses(const std::string& encoded, const socks5::protocol::ProxyHeader& header) {
  Check(!encoded.empty());
  const Bytes bytes(reinterpret_cast<const std::uint8_t*>(encoded.data()), encoded.size());
  auto again = socks5::protocol::ParseProxyHeader(bytes);
  Check(again.status == ProxyParseStatus::kComplete && again.consumed == bytes.size());
  Check(again.header.source == header.source && again.header.destination == header.destination);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace p = socks5::protocol;
  const Bytes in(data, size);
  // The default limit and the smallest one a flag may set.
  for (const std::size_t limit : {p::kDefaultProxyMaxSize, p::kMinProxyMaxSize}) {
    const p::ProxyParse r = p::ParseProxyHeader(in, limit);
    switch (r.status) {
      case ProxyParseStatus::kNeedMore:
        Check(r.need >= 1 && r.error.empty());
        break;
      case ProxyParseStatus::kInvalid:
        Check(!r.error.empty());
        break;
      case ProxyParseStatus::kComplete: {
        Check(r.consumed >= 15 && r.consumed <= size && r.consumed <= limit);
        Check(r.header.version == 1 || r.header.version == 2);
        Check(r.header.source.has_value() == r.header.destination.has_value());
        Check(!(r.header.local && r.header.source.has_value()));
        if (r.header.version == 1) Check(r.consumed <= p::kMaxProxyV1Size);
        const Bytes header = in.first(r.consumed);
        const p::ProxyParse alone = p::ParseProxyHeader(header, limit);
        Check(alone.status == ProxyParseStatus::kComplete && alone.consumed == r.consumed &&
              alone.header == r.header);
        for (std::size_t n = 0; n < r.consumed; ++n) {
          const p::ProxyParse part = p::ParseProxyHeader(header.first(n), limit);
          Check(part.status == ProxyParseStatus::kNeedMore && n + part.need <= r.consumed);
        }
        const auto sniffed = p::Sniff(in);
        Check(sniffed.status == p::ParseStatus::kComplete &&
              sniffed.value == p::Sniffed::kProxyProtocol);
        if (r.header.source) {
          CheckReparses(p::EncodeProxyV1(*r.header.source, *r.header.destination), r.header);
          CheckReparses(p::EncodeProxyV2(*r.header.source, *r.header.destination), r.header);
        }
        break;
      }
    }
  }
  return 0;
}
