#include "protocol/log_record.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace socks5::protocol {

std::string JsonString(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    auto byte = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (byte < 0x20) {
      absl::StrAppendFormat(&out, "\\u%04x", byte);
    } else {
      out.push_back(c);
    }
  }
  out.push_back('"');
  return out;
}

void LogRecord::Add(std::string_view key, std::string_view text) {
  fields_.push_back({std::string(key), std::string(text), JsonString(text)});
}

void LogRecord::Add(std::string_view key, std::uint64_t number) {
  std::string digits = absl::StrCat(number);
  fields_.push_back({std::string(key), digits, digits});
}

void LogRecord::AddBool(std::string_view key, bool flag) {
  std::string word = flag ? "true" : "false";
  fields_.push_back({std::string(key), word, word});
}

void LogRecord::AddSeconds(std::string_view key, double seconds) {
  std::string number = absl::StrFormat("%.3f", seconds);
  fields_.push_back({std::string(key), absl::StrCat(number, "s"), number});
}

void LogRecord::Append(const LogRecord& other) {
  fields_.insert(fields_.end(), other.fields_.begin(), other.fields_.end());
}

std::string LogRecord::Text() const {
  std::string out;
  for (const Field& field : fields_) absl::StrAppend(&out, " ", field.key, "=", field.text);
  return out;
}

std::string LogRecord::Json(std::string_view prefix) const {
  std::string out = "{";
  out.append(prefix);
  bool first = prefix.empty();
  for (const Field& field : fields_) {
    if (!first) out.push_back(',');
    first = false;
    absl::StrAppend(&out, JsonString(field.key), ":", field.json);
  }
  out.push_back('}');
  return out;
}

}  // namespace socks5::protocol
