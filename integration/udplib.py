"""UDP ASSOCIATE helpers for the integration tests (RFC 1928 s.7).

  udp_header / parse_udp_datagram   the SOCKS UDP request header, built and read by hand
  Association                       a control connection plus the client's UDP socket
  UdpPeer                           a target (or third party) socket the test drives itself
  UdpEcho                           a target that echoes every datagram back, in a thread
  wait_port_free                    binds a UDP port once its owner has let it go

Every wait has a deadline (socks5lib.deadline); nothing sleeps to synchronise.
"""

import ipaddress
import re
import socket
import struct
import threading
import time

import socks5lib
from socks5lib import deadline

DROP_FIELDS_RE = re.compile(r"(\w+)=(\d+)")


def family_of(host):
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def udp_header(host, port, frag=0, rsv=0):
    """RSV(2) FRAG ATYP DST.ADDR DST.PORT."""
    return struct.pack("!HB", rsv, frag) + socks5lib.encode_address(host) + struct.pack("!H", port)


def parse_udp_datagram(data):
    """(frag, host, port, payload) of a datagram from the relay; asserts RSV is zero."""
    assert len(data) >= 4, f"short datagram {socks5lib.hexs(data)}"
    rsv, frag, atyp = struct.unpack("!HBB", data[:4])
    assert rsv == 0, f"RSV not zero: {socks5lib.hexs(data[:16])}"
    if atyp == socks5lib.ATYP_IPV4:
        host, rest = str(ipaddress.ip_address(data[4:8])), data[8:]
    elif atyp == socks5lib.ATYP_IPV6:
        host, rest = str(ipaddress.ip_address(data[4:20])), data[20:]
    elif atyp == socks5lib.ATYP_DOMAIN:
        n = data[4]
        host, rest = data[5:5 + n].decode(), data[5 + n:]
    else:
        raise AssertionError(f"unknown ATYP in {socks5lib.hexs(data[:16])}")
    port = struct.unpack("!H", rest[:2])[0]
    return frag, host, port, rest[2:]


def recv_datagram(sock, timeout=None, what="datagram"):
    """One datagram within the deadline: (data, source)."""
    sock.settimeout(timeout or socks5lib.REPLY_TIMEOUT)
    try:
        return sock.recvfrom(65536)
    except socket.timeout:
        name = sock.getsockname()
        raise AssertionError(f"no {what} reached {name[0]}:{name[1]} within "
                             f"{timeout or socks5lib.REPLY_TIMEOUT:.1f}s")


class UdpPeer:
    """A UDP socket on `host`, driven by the test (a target or a third party)."""

    def __init__(self, host="127.0.0.1", port=0):
        self.sock = socket.socket(family_of(host), socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        self.sock.bind((host, port))
        self.host = host
        self.port = self.sock.getsockname()[1]

    @property
    def address(self):
        return (self.host, self.port)

    def recv(self, timeout=None):
        data, source = recv_datagram(self.sock, timeout, f"datagram for {self.host}:{self.port}")
        return data, source[:2]

    def sendto(self, data, address):
        self.sock.sendto(data, address)

    def close(self):
        self.sock.close()


class UdpEcho(UdpPeer):
    """Echoes every datagram to its source; records the sources in .sources."""

    def __init__(self, host="127.0.0.1"):
        super().__init__(host)
        self.sources = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self):
        self.sock.settimeout(None)
        while True:
            try:
                data, source = self.sock.recvfrom(65536)
                self.sources.append(source[:2])
                self.sock.sendto(data, source)
            except OSError:
                return


class Association:
    """UDP ASSOCIATE on a fresh control connection, and the client's UDP socket.

    The UDP socket is bound to `udp_bind` (default: the control connection's own local
    address, port 0) before the request, so the request can name it (F2): dst None is
    0.0.0.0:0, "self" the socket's address and port, "self-port" 0.0.0.0 with its port."""

    def __init__(self, server, dst=None, udp_bind=None, index=0):
        self.server = server
        self.control = server.client(index)
        local = self.control.sock.getsockname()[0]
        self.udp = socket.socket(family_of(local), socket.SOCK_DGRAM)
        self.udp.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        self.udp.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
        self.udp.bind(udp_bind or (local, 0))
        self.local = self.udp.getsockname()[:2]
        self.control.handshake()
        if dst is None:
            dst = ("0.0.0.0", 0)
        elif dst == "self":
            dst = self.local
        elif dst == "self-port":  # 0.0.0.0 (or ::) with the UDP socket's port
            dst = ("0.0.0.0" if family_of(local) == socket.AF_INET else "::", self.local[1])
        self.control.send(socks5lib.request(dst[0], dst[1], cmd=socks5lib.CMD_UDP_ASSOCIATE))
        self.reply = self.control.read_reply()
        assert self.reply.rep == socks5lib.REP_SUCCEEDED, f"UDP ASSOCIATE failed: {self.reply}"
        self.relay = self.reply.address

    def send(self, host, port, payload, frag=0, sock=None):
        (sock or self.udp).sendto(udp_header(host, port, frag) + payload, self.relay)

    def send_raw(self, data, sock=None):
        (sock or self.udp).sendto(data, self.relay)

    def recv(self, timeout=None):
        """One datagram from the relay: (frag, host, port, payload); checks its source."""
        data, source = recv_datagram(self.udp, timeout, "datagram from the relay")
        assert source[:2] == self.relay, f"datagram from {source}, not the relay {self.relay}"
        return parse_udp_datagram(data)

    def close(self):
        self.control.close()
        self.udp.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def access_fields(server, count=1, timeout=None):
    """Waits for `count` UDP_ASSOCIATE access-log lines; returns the last one's counters
    (up, down, dgrams_up, drop_foreign, ...) as ints."""
    end = time.monotonic() + (timeout or deadline(10))
    with server._cond:  # notified on every new output line
        while True:
            lines = [line for line in server.lines
                     if "access client=" in line and "cmd=UDP_ASSOCIATE" in line]
            if len(lines) >= count:
                break
            remaining = end - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"{len(lines)}/{count} UDP_ASSOCIATE access lines; output:\n"
                                     + "\n".join(server.lines[-40:]))
            server._cond.wait(remaining)
    line = lines[-1]
    fields = {k: int(v) for k, v in DROP_FIELDS_RE.findall(line[line.index(" dgrams_up="):])}
    access = socks5lib.ACCESS_RE.search(line)
    fields["up"] = int(access.group("up"))
    fields["down"] = int(access.group("down"))
    fields["reply"] = access.group("reply")
    return fields


def wait_port_free(host, port, timeout):
    """Binds (host, port) over UDP, retrying until the deadline; returns True once it could."""
    end = time.monotonic() + timeout
    while True:
        sock = socket.socket(family_of(host), socket.SOCK_DGRAM)
        try:
            sock.bind((host, port))
            return True
        except OSError:
            if time.monotonic() > end:
                return False
        finally:
            sock.close()
        # Polling a kernel resource that has no event to wait on: a short pause between tries.
        time.sleep(0.02)
