// libFuzzer target: every protocol parser (protocol/messages.h, address.h, udp_header.h, socks4.h)
// on arbitrary bytes. Besides "no crash, no out-of-bounds read" (ASan/UBSan), it checks the parser
// contract: a complete message consumes at most the input, re-encodes to the same bytes, and
// every prefix of it needs more.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <vector>

#include "protocol/address.h"
#include "protocol/messages.h"
#include "protocol/socks4.h"
#include "protocol/udp_header.h"

namespace {

using socks5::protocol::ParseStatus;
using Bytes = std::span<const std::uint8_t>;

void Check(bool condition) {
  if (!condition) std::abort();
}

// `encode(out)` must write exactly `expected`, except at `ignored_byte` (RSV, which the parsers
// accept whatever its value).
template <typename EncodeFn>
void CheckReencodes(EncodeFn encode, Bytes expected, std::ptrdiff_t ignored_byte = -1) {
  std::vector<std::uint8_t> out(expected.size() + 1);
  std::size_t written = encode(std::span<std::uint8_t>(out));
  Check(written == expected.size());
  for (std::size_t i = 0; i < written; ++i) {
    if (static_cast<std::ptrdiff_t>(i) == ignored_byte) continue;
    Check(out[i] == expected[i]);
  }
}

template <typename ParseFn>
void CheckPrefixesNeedMore(ParseFn parse, Bytes message) {
  for (std::size_t n = 0; n < message.size(); ++n) {
    Check(parse(message.first(n)).status == ParseStatus::kNeedMore);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace p = socks5::protocol;
  Bytes in(data, size);

  if (auto r = p::ParseGreeting(in); r.status == ParseStatus::kComplete) {
    Check(r.consumed <= size);
    Bytes message = in.first(r.consumed);
    CheckReencodes([&](std::span<std::uint8_t> out) { return p::EncodeGreeting(r.value, out); },
                   message);
    CheckPrefixesNeedMore(p::ParseGreeting, message);
    p::ChooseMethod(r.value, p::AuthPolicy::kUsersFile);
    p::ChooseMethod(r.value, p::AuthPolicy::kNoUsers);
    p::ChooseMethod(r.value, p::AuthPolicy::kAnyCredentials);
  }

  if (auto r = p::ParseUserPass(in); r.status == ParseStatus::kComplete) {
    Check(r.consumed <= size);
    Bytes message = in.first(r.consumed);
    CheckReencodes([&](std::span<std::uint8_t> out) { return p::EncodeUserPass(r.value, out); },
                   message);
    CheckPrefixesNeedMore(p::ParseUserPass, message);
  } else if (r.status == ParseStatus::kInvalid) {
    Check(r.reply == p::Reply::kGeneralFailure);
  }

  if (auto r = p::ParseRequest(in); r.status == ParseStatus::kComplete) {
    Check(r.consumed <= size && r.consumed <= p::kMaxRequestSize);
    Bytes message = in.first(r.consumed);
    CheckReencodes([&](std::span<std::uint8_t> out) { return p::EncodeRequest(r.value, out); },
                   message, /*ignored_byte=RSV*/ 2);
    CheckPrefixesNeedMore(p::ParseRequest, message);
    Check(!r.value.destination.ToString().empty());
    r.value.destination.is_unspecified_ip();
    p::PtrQueryAddress(r.value.destination);
  }

  if (auto r = p::ParseReply(in); r.status == ParseStatus::kComplete) {
    Check(r.consumed <= size && r.consumed <= p::kMaxReplySize);
    Bytes message = in.first(r.consumed);
    CheckReencodes(
        [&](std::span<std::uint8_t> out) {
          return p::EncodeReply(r.value.reply, r.value.bound, out);
        },
        message, /*ignored_byte=RSV*/ 2);
    CheckPrefixesNeedMore(p::ParseReply, message);
  }

  if (auto r = p::ParseAddress(in); r.status == ParseStatus::kComplete) {
    Check(r.consumed == r.value.encoded_size() && r.consumed <= size);
    Bytes message = in.first(r.consumed);
    CheckReencodes([&](std::span<std::uint8_t> out) { return p::EncodeAddress(r.value, out); },
                   message);
    CheckPrefixesNeedMore(p::ParseAddress, message);
  }

  if (auto r = p::ParseSocks4Request(in); r.status == ParseStatus::kComplete) {
    Check(r.consumed <= size && r.consumed <= p::kMaxSocks4RequestSize);
    Bytes message = in.first(r.consumed);
    // SOCKS4A's DSTIP 0.0.0.x is re-encoded as 0.0.0.1: compare what it parses to instead.
    std::vector<std::uint8_t> out(p::kMaxSocks4RequestSize);
    std::size_t written = p::EncodeSocks4Request(r.value, out);
    Check(written > 0);
    auto again = p::ParseSocks4Request(std::span<const std::uint8_t>(out.data(), written));
    Check(again.status == ParseStatus::kComplete && again.consumed == written);
    Check(again.value == r.value);
    CheckPrefixesNeedMore(p::ParseSocks4Request, message);
    std::uint8_t reply[p::kSocks4ReplySize];
    Check(p::EncodeSocks4Reply(p::Reply::kSucceeded, r.value.request.destination, reply) ==
          p::kSocks4ReplySize);
  } else if (r.status == ParseStatus::kInvalid) {
    Check(size >= 1);
  }

  if (auto d = p::ParseUdpDatagram(in)) {
    std::size_t header_size = size - d->payload.size();
    Check(d->payload.data() == data + header_size);
    Check(header_size <= p::kMaxUdpHeaderSize);
    CheckReencodes([&](std::span<std::uint8_t> out) { return p::EncodeUdpHeader(d->header, out); },
                   in.first(header_size));
    for (std::size_t n = 0; n < header_size; ++n) Check(!p::ParseUdpDatagram(in.first(n)));
  }
  return 0;
}
