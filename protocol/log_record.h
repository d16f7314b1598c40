// An access-log record: named fields in the order they were added, rendered as the text line's
// ` key=value` pairs or as one JSON object (--access_log_format). Values that came from a client
// are escaped for the text log first (EscapeForLog: printable ASCII only); the JSON rendering
// escapes again what JSON needs (`"` and `\`), so both forms carry the same characters.
#ifndef SOCKS5_PROTOCOL_LOG_RECORD_H_
#define SOCKS5_PROTOCOL_LOG_RECORD_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace socks5::protocol {

class LogRecord {
 public:
  void Add(std::string_view key, std::string_view text);  // a string
  void Add(std::string_view key, std::uint64_t number);
  // Named apart from Add: a string literal would convert to bool before string_view.
  void AddBool(std::string_view key, bool flag);  // true/false in both forms
  // A duration: text `0.003s`, JSON the number of seconds (0.003), three decimals.
  void AddSeconds(std::string_view key, double seconds);
  // Every field of `other`, after the fields so far.
  void Append(const LogRecord& other);

  bool empty() const { return fields_.empty(); }
  // " k=v k=v": each field with a leading space (empty for no field).
  std::string Text() const;
  // {"k":"v","n":1}: `prefix` is written first inside the braces when not empty (raw JSON
  // members, e.g. `"ts":"...","event":"access"`).
  std::string Json(std::string_view prefix = {}) const;

 private:
  struct Field {
    std::string key;
    std::string text;  // the value as the text line shows it
    std::string json;  // the value as JSON (quoted and escaped, or a bare number)
  };
  std::vector<Field> fields_;
};

// `text` as a quoted JSON string: `"` and `\` escaped, control bytes as \u00XX.
std::string JsonString(std::string_view text);

}  // namespace socks5::protocol

#endif  // SOCKS5_PROTOCOL_LOG_RECORD_H_
