// libFuzzer target: the --users_file parser (server/users.h: Users::Parse) and the RFC 1929 check
// (Users::Check, ConstantTimeEquals). The input is the file's contents. A small model reads the
// same format line by line (a leading UTF-8 BOM skipped, blanks around a name refused); Parse must
// accept exactly when the model does, every user:password the model read must pass Check and
// Contains, and a password or user differing in any way must fail them.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <string>
#include <string_view>

#include "absl/strings/string_view.h"
#include "server/users.h"

namespace {

void Check(bool condition) {
  if (!condition) std::abort();
}

bool Blank(std::string_view s) {
  for (char c : s) {
    if (c != ' ' && c != '\t' && c != '\n' && c != '\v' && c != '\f' && c != '\r') return false;
  }
  return true;
}

// The format of server/users.h; false when the file is invalid.
bool Model(std::string_view contents, std::map<std::string, std::string>& users) {
  std::size_t start = 0;
  if (contents.substr(0, 3) == "\xEF\xBB\xBF") start = 3;  // a UTF-8 BOM is skipped
  while (start <= contents.size()) {
    std::size_t end = contents.find('\n', start);
    if (end == std::string_view::npos) end = contents.size();
    std::string_view line = contents.substr(start, end - start);
    start = end + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (Blank(line) || line.front() == '#') continue;
    std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) return false;
    std::string user(line.substr(0, colon));
    std::string password(line.substr(colon + 1));
    if (user.empty() || user.size() > 255 || password.empty() || password.size() > 255)
      return false;
    auto blank = [](char c) { return c == ' ' || c == '\t'; };
    if (blank(user.front()) || blank(user.back())) return false;  // blanks around a name
    if (!users.emplace(user, password).second) return false;
  }
  return !users.empty();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace s = socks5::server;
  std::string_view contents(reinterpret_cast<const char*>(data), size);
  auto parsed = s::Users::Parse(absl::string_view(contents.data(), contents.size()));
  std::map<std::string, std::string> model;
  bool valid = Model(contents, model);
  Check(parsed.ok() == valid);
  if (!parsed.ok()) {
    Check(!parsed.status().message().empty());
    return 0;
  }
  Check(parsed->size() == model.size());
  for (const auto& [user, password] : model) {
    Check(parsed->Contains(user));
    Check(parsed->Check(user, password));
    Check(s::ConstantTimeEquals(password, password));
    std::string longer = password + "x";
    if (longer.size() <= 255) Check(!parsed->Check(user, longer));
    std::string flipped = password;
    flipped.back() ^= 1;
    Check(!s::ConstantTimeEquals(password, flipped));
    Check(!parsed->Check(user, flipped));
    Check(!parsed->Check(user, password.substr(0, password.size() - 1)));
    std::string other_user = user + "\x01";
    if (model.count(other_user) == 0) {
      Check(!parsed->Check(other_user, password));
      Check(!parsed->Contains(other_user));
    }
  }
  return 0;
}
