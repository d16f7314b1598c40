#include "protocol/gssapi.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_split.h"
#include "protocol/wire.h"

namespace socks5::protocol::gssapi {

ParseResult<Message> ParseMessage(std::span<const std::uint8_t> in, MessageType expected,
                                  std::size_t max_token) {
  ParseResult<Message> result;
  Reader reader(in);
  std::uint8_t version = 0;
  std::uint8_t type = 0;
  if (!reader.U8(version)) return result;
  if (version != kVersion) {
    result.status = ParseStatus::kInvalid;
    return result;
  }
  if (!reader.U8(type)) return result;
  if (type == static_cast<std::uint8_t>(MessageType::kAbort)) {
    result.status = ParseStatus::kComplete;
    result.value.type = MessageType::kAbort;
    result.consumed = reader.consumed();
    return result;
  }
  if (type != static_cast<std::uint8_t>(expected)) {
    result.status = ParseStatus::kInvalid;
    return result;
  }
  std::uint16_t length = 0;
  if (!reader.U16(length)) return result;
  if (length == 0 || length > max_token) {
    result.status = ParseStatus::kInvalid;
    return result;
  }
  std::span<const std::uint8_t> token;
  if (!reader.Bytes(length, token)) return result;
  result.status = ParseStatus::kComplete;
  result.value.type = expected;
  result.value.token = token;
  result.consumed = reader.consumed();
  return result;
}

bool AppendMessage(MessageType type, std::span<const std::uint8_t> token,
                   std::vector<std::uint8_t>& out) {
  if (token.empty() || token.size() > kMaxTokenSize) return false;
  out.push_back(kVersion);
  out.push_back(static_cast<std::uint8_t>(type));
  out.push_back(static_cast<std::uint8_t>(token.size() >> 8));
  out.push_back(static_cast<std::uint8_t>(token.size() & 0xff));
  out.insert(out.end(), token.begin(), token.end());
  return true;
}

bool ProtectionSet::Contains(Protection p) const {
  switch (p) {
    case Protection::kNone:
      return none;
    case Protection::kIntegrity:
      return integrity;
    case Protection::kConfidentiality:
      return confidentiality;
    case Protection::kSelective:
      return false;
  }
  return false;
}

std::optional<ProtectionSet> ParseProtectionSet(std::string_view text) {
  ProtectionSet set{.none = false, .integrity = false, .confidentiality = false};
  // Debian's Abseil has its own string_view (not std's).
  for (absl::string_view item : absl::StrSplit(absl::string_view(text.data(), text.size()), ',')) {
    item = absl::StripAsciiWhitespace(item);
    bool* slot = nullptr;
    if (item == "none") slot = &set.none;
    if (item == "integrity") slot = &set.integrity;
    if (item == "confidentiality") slot = &set.confidentiality;
    if (slot == nullptr || *slot) return std::nullopt;  // unknown (or empty), or repeated
    *slot = true;
  }
  return set;  // at least one item: "" splits into one empty item, refused above
}

std::optional<Protection> ChooseProtection(std::uint8_t requested, const ProtectionSet& accepted) {
  if (requested > static_cast<std::uint8_t>(Protection::kSelective)) return std::nullopt;
  const auto level = static_cast<Protection>(requested);
  if (accepted.Contains(level)) return level;  // never 3: Contains() refuses it
  for (Protection strongest :
       {Protection::kConfidentiality, Protection::kIntegrity, Protection::kNone}) {
    if (accepted.Contains(strongest)) return strongest;
  }
  return std::nullopt;
}

}  // namespace socks5::protocol::gssapi
