// A small big-endian reader and writer over byte spans. Every read is bounds-checked:
// reads past the end fail instead of touching memory.
#ifndef SOCKS5_PROTOCOL_WIRE_H_
#define SOCKS5_PROTOCOL_WIRE_H_

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

namespace socks5::protocol {

class Reader {
 public:
  explicit Reader(std::span<const std::uint8_t> data) : data_(data) {}

  std::size_t remaining() const { return data_.size() - pos_; }
  std::size_t consumed() const { return pos_; }

  bool U8(std::uint8_t& out) {
    if (remaining() < 1) return false;
    out = data_[pos_++];
    return true;
  }
  bool U16(std::uint16_t& out) {
    if (remaining() < 2) return false;
    out = static_cast<std::uint16_t>((data_[pos_] << 8) | data_[pos_ + 1]);
    pos_ += 2;
    return true;
  }
  // A view of the next n bytes; fails (consuming nothing) when fewer remain.
  bool Bytes(std::size_t n, std::span<const std::uint8_t>& out) {
    if (remaining() < n) return false;
    out = data_.subspan(pos_, n);
    pos_ += n;
    return true;
  }

 private:
  std::span<const std::uint8_t> data_;
  std::size_t pos_ = 0;
};

// Writes into caller storage; the caller sizes it (every encoder documents its maximum).
// A write that does not fit sets !ok() and writes nothing more.
class Writer {
 public:
  explicit Writer(std::span<std::uint8_t> out) : out_(out) {}

  bool ok() const { return ok_; }
  std::size_t written() const { return pos_; }

  void U8(std::uint8_t v) {
    if (!Fits(1)) return;
    out_[pos_++] = v;
  }
  void U16(std::uint16_t v) {
    if (!Fits(2)) return;
    out_[pos_++] = static_cast<std::uint8_t>(v >> 8);
    out_[pos_++] = static_cast<std::uint8_t>(v & 0xff);
  }
  void Bytes(std::span<const std::uint8_t> v) {
    if (!Fits(v.size())) return;
    if (!v.empty()) std::memcpy(out_.data() + pos_, v.data(), v.size());
    pos_ += v.size();
  }

 private:
  bool Fits(std::size_t n) {
    if (ok_ && out_.size() - pos_ >= n) return true;
    ok_ = false;
    return false;
  }
  std::span<std::uint8_t> out_;
  std::size_t pos_ = 0;
  bool ok_ = true;
};

}  // namespace socks5::protocol

#endif  // SOCKS5_PROTOCOL_WIRE_H_
