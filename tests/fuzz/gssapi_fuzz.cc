// libFuzzer target: the RFC 1961 framing (protocol/gssapi.h) on arbitrary bytes. Besides "no
// crash, no out-of-bounds read" (ASan/UBSan), it checks the parser contract for each expected
// type and two limits: a complete message consumes at most the input, its token fits the limit
// and re-encodes to exactly the bytes consumed, every prefix of it needs more; and the protection
// choice only ever answers a level the server accepts.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <vector>

#include "protocol/gssapi.h"

namespace {

namespace g = socks5::protocol::gssapi;
using socks5::protocol::ParseStatus;
using Bytes = std::span<const std::uint8_t>;

void Check(bool condition) {
  if (!condition) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const Bytes in(data, size);
  for (const g::MessageType expected :
       {g::MessageType::kAuthentication, g::MessageType::kProtection,
        g::MessageType::kEncapsulated}) {
    for (const std::size_t limit : {g::kMaxTokenSize, std::size_t{64}}) {
      const auto r = g::ParseMessage(in, expected, limit);
      Check(!r.reply.has_value());
      if (r.status != ParseStatus::kComplete) continue;
      Check(r.consumed <= size);
      const Bytes message = in.first(r.consumed);
      if (r.value.type == g::MessageType::kAbort) {
        Check(r.consumed == g::kAbortSize && r.value.token.empty());
      } else {
        Check(r.value.type == expected);
        Check(!r.value.token.empty() && r.value.token.size() <= limit);
        std::vector<std::uint8_t> again;
        Check(g::AppendMessage(expected, r.value.token, again));
        Check(again.size() == message.size() &&
              std::equal(again.begin(), again.end(), message.begin()));
      }
      for (std::size_t n = 0; n < r.consumed; ++n) {
        Check(g::ParseMessage(message.first(n), expected, limit).status == ParseStatus::kNeedMore);
      }
    }
  }
  if (size >= 2) {
    const g::ProtectionSet accepted{.none = (data[1] & 1) != 0,
                                    .integrity = (data[1] & 2) != 0,
                                    .confidentiality = (data[1] & 4) != 0};
    const auto chosen = g::ChooseProtection(data[0], accepted);
    if (chosen) Check(accepted.Contains(*chosen));
    if (data[0] <= 3 && (data[1] & 7) != 0) Check(chosen.has_value());
  }
  return 0;
}
