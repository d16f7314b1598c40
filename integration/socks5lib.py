"""Shared helpers for the socks5d integration tests.

Everything here listens on loopback port 0 and reports the port it got; every wait
has a deadline (scaled up for sanitizer builds) and none of it sleeps to synchronise.

  Socks5d          starts the binary with flags, reads the `listening on` lines,
                   collects stderr (access log), stops it (SIGTERM, then SIGKILL).
  Socks5Client     raw-bytes client: send, recv_exact, expect, read_reply,
                   assert_closed.
  greeting/userpass/request   encoders for the client messages.
  TcpListener      a target the test accepts on itself (full control of the peer).
  EchoServer, SinkServer, SourceServer, HttpServer   targets run in threads.
  DnsResponder     a UDP DNS server answering A/AAAA from a table (dnspython).
"""

import errno
import hashlib
import http.server
import ipaddress
import os
import pathlib
import queue
import re
import select
import signal
import socket
import struct
import subprocess
import threading
import time

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset

REPO_ROOT = pathlib.Path(__file__).resolve().parent.parent

# The credentials of the users_file fixture (conftest.py).
USER = "alice"
PASSWORD = "s3cret-Pa55word"

# Reply codes (RFC 1928 s.6).
REP_SUCCEEDED = 0x00
REP_GENERAL_FAILURE = 0x01
REP_NOT_ALLOWED = 0x02
REP_NETWORK_UNREACHABLE = 0x03
REP_HOST_UNREACHABLE = 0x04
REP_CONNECTION_REFUSED = 0x05
REP_TTL_EXPIRED = 0x06
REP_COMMAND_NOT_SUPPORTED = 0x07
REP_ADDRESS_TYPE_NOT_SUPPORTED = 0x08

CMD_CONNECT = 0x01
CMD_BIND = 0x02
CMD_UDP_ASSOCIATE = 0x03

ATYP_IPV4 = 0x01
ATYP_DOMAIN = 0x03
ATYP_IPV6 = 0x04

METHOD_NO_AUTH = 0x00
METHOD_USERPASS = 0x02
METHOD_NO_ACCEPTABLE = 0xFF

LISTENING_RE = re.compile(r"listening on (\[[0-9A-Fa-f:.]+\]|[0-9.]+):(\d+)")
ACCESS_RE = re.compile(
    r"access client=(?P<client>\S+) user=(?P<user>\(unknown, \d+ bytes\)\S*|\S+) cmd=(?P<cmd>\S+) "
    r"target=(?P<target>\S+) reply=(?P<reply>[0-9A-Fa-f]{2}) up=(?P<up>\d+) "
    r"down=(?P<down>\d+) duration=(?P<duration>\S+)")
SANITIZER_RE = re.compile(
    r"ERROR: (Address|Leak|Thread|Memory)Sanitizer|WARNING: ThreadSanitizer|runtime error:|"
    r"SUMMARY: UndefinedBehaviorSanitizer")


def binary_path():
    """The socks5d under test: $SOCKS5D_BIN, default <repo>/build/socks5d."""
    return pathlib.Path(os.environ.get("SOCKS5D_BIN", REPO_ROOT / "build" / "socks5d"))


def _looks_sanitized(path):
    try:
        data = path.read_bytes()
    except OSError:
        return False
    return b"__asan_init" in data or b"__ubsan_handle" in data or b"__tsan_init" in data


def _timeout_scale():
    explicit = os.environ.get("SOCKS5D_TIMEOUT_SCALE")
    if explicit:
        return float(explicit)
    sanitized = os.environ.get("SOCKS5D_SANITIZED") == "1" or _looks_sanitized(binary_path())
    return 4.0 if sanitized else 1.0


# Multiplies every deadline (never a delay: nothing here sleeps).
TIMEOUT_SCALE = _timeout_scale()


def deadline(seconds):
    """A deadline in seconds, scaled for slow (sanitizer) builds."""
    return seconds * TIMEOUT_SCALE


# Short default wait for a reply that should come at once.
REPLY_TIMEOUT = deadline(5.0)


def hexs(data):
    return data.hex(" ") if data else "(none)"


# ---------------------------------------------------------------------------
# Message encoders (client side of RFC 1928 / RFC 1929)


def greeting(*methods, version=5):
    """VER NMETHODS METHODS..."""
    return bytes([version, len(methods), *methods])


def userpass(user, password, version=1):
    """RFC 1929 request: VER ULEN UNAME PLEN PASSWD (str or bytes)."""
    user = user.encode() if isinstance(user, str) else user
    password = password.encode() if isinstance(password, str) else password
    return bytes([version, len(user)]) + user + bytes([len(password)]) + password


def encode_address(host):
    """ATYP + DST.ADDR for an IP literal or a domain name (str or bytes)."""
    if isinstance(host, str):
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            host = host.encode()
        else:
            atyp = ATYP_IPV4 if ip.version == 4 else ATYP_IPV6
            return bytes([atyp]) + ip.packed
    return bytes([ATYP_DOMAIN, len(host)]) + host


def request(host, port, cmd=CMD_CONNECT, version=5, rsv=0):
    """VER CMD RSV ATYP DST.ADDR DST.PORT."""
    return bytes([version, cmd, rsv]) + encode_address(host) + struct.pack("!H", port)


def failure_reply(rep):
    """The reply for a failure before any address exists: 05 REP 00 01 0.0.0.0:0."""
    return bytes([5, rep, 0, ATYP_IPV4, 0, 0, 0, 0, 0, 0])


class Reply:
    """A parsed SOCKS5 reply."""

    def __init__(self, raw):
        self.raw = raw
        self.ver, self.rep, self.rsv, self.atyp = raw[0], raw[1], raw[2], raw[3]
        body = raw[4:-2]
        if self.atyp == ATYP_IPV4 or self.atyp == ATYP_IPV6:
            self.host = str(ipaddress.ip_address(body))
        else:
            self.host = body[1:].decode(errors="replace")
        self.port = struct.unpack("!H", raw[-2:])[0]

    @property
    def address(self):
        return (self.host, self.port)

    def __repr__(self):
        return f"Reply({hexs(self.raw)})"


# ---------------------------------------------------------------------------
# Raw client


class PeerClosed(AssertionError):
    pass


class Socks5Client:
    """A TCP connection to the proxy that speaks raw bytes."""

    def __init__(self, port, host="127.0.0.1", timeout=None):
        self.sock = socket.create_connection((host, port), timeout=timeout or REPLY_TIMEOUT)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self.sock.close()

    def send(self, data):
        self.sock.sendall(data)

    def send_bytewise(self, data):
        """Sends one byte per segment (TCP_NODELAY is on)."""
        for i in range(len(data)):
            self.sock.sendall(data[i:i + 1])

    def shutdown_write(self):
        self.sock.shutdown(socket.SHUT_WR)

    def reset(self):
        """Closes with RST (SO_LINGER 0)."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()

    def recv_exact(self, n, timeout=None):
        return recv_exact(self.sock, n, timeout or REPLY_TIMEOUT)

    def expect(self, expected, timeout=None, what="reply"):
        """Reads len(expected) bytes and asserts they equal expected."""
        got = recv_exact(self.sock, len(expected), timeout or REPLY_TIMEOUT, what=what,
                         expected=expected)
        assert got == expected, f"{what}: expected {hexs(expected)}, got {hexs(got)}"
        return got

    def read_reply(self, timeout=None):
        """Reads one VER REP RSV ATYP BND.ADDR BND.PORT reply."""
        timeout = timeout or REPLY_TIMEOUT
        head = recv_exact(self.sock, 5, timeout, what="reply header")
        atyp = head[3]
        if atyp == ATYP_IPV4:
            rest = 4 - 1 + 2
        elif atyp == ATYP_IPV6:
            rest = 16 - 1 + 2
        elif atyp == ATYP_DOMAIN:
            rest = head[4] + 2
        else:
            raise AssertionError(f"reply with unknown ATYP: {hexs(head)}")
        raw = head + recv_exact(self.sock, rest, timeout, what=f"rest of reply {hexs(head)}")
        assert raw[0] == 5 and raw[2] == 0, f"malformed reply {hexs(raw)}"
        return Reply(raw)

    def assert_closed(self, timeout=None):
        return assert_closed(self.sock, timeout or REPLY_TIMEOUT)

    def read_until_closed(self, timeout=None):
        return read_until_closed(self.sock, timeout or REPLY_TIMEOUT)

    def handshake(self, user=None, password=None):
        """Greeting (+ RFC 1929) and checks the success answers."""
        if user is None:
            self.send(greeting(METHOD_NO_AUTH))
            self.expect(b"\x05\x00", what="method selection")
        else:
            self.send(greeting(METHOD_USERPASS))
            self.expect(b"\x05\x02", what="method selection")
            self.send(userpass(user, password))
            self.expect(b"\x01\x00", what="auth status")

    def connect(self, host, port, user=None, password=None):
        """Full handshake and CONNECT; returns the reply (asserted successful)."""
        self.handshake(user, password)
        self.send(request(host, port))
        reply = self.read_reply(timeout=deadline(10))
        assert reply.rep == REP_SUCCEEDED, f"CONNECT {host}:{port} failed: {reply}"
        return reply


def recv_exact(sock, n, timeout, what="data", expected=None):
    """Receives exactly n bytes within timeout or raises AssertionError with what arrived."""
    end = time.monotonic() + timeout
    chunks = []
    got = 0
    while got < n:
        remaining = end - time.monotonic()
        sofar = b"".join(chunks)
        suffix = f" (expected {hexs(expected)})" if expected is not None else ""
        if remaining <= 0:
            raise AssertionError(
                f"{what}: timed out after {timeout:.1f}s with {got}/{n} bytes: {hexs(sofar[:64])}{suffix}")
        sock.settimeout(remaining)
        try:
            chunk = sock.recv(min(n - got, 1 << 20))
        except socket.timeout:
            continue
        except ConnectionResetError:
            raise PeerClosed(f"{what}: connection reset after {got}/{n} bytes: {hexs(sofar[:64])}{suffix}")
        if not chunk:
            raise PeerClosed(f"{what}: peer closed after {got}/{n} bytes: {hexs(sofar[:64])}{suffix}")
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def assert_closed(sock, timeout):
    """Asserts the peer closes (FIN or RST) within timeout and sends no byte first.

    Returns "eof" or "reset"."""
    end = time.monotonic() + timeout
    while True:
        remaining = end - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"peer did not close within {timeout:.1f}s")
        sock.settimeout(remaining)
        try:
            chunk = sock.recv(4096)
        except socket.timeout:
            continue
        except ConnectionResetError:
            return "reset"
        if not chunk:
            return "eof"
        raise AssertionError(f"expected the peer to close, got bytes {hexs(chunk[:64])}")


def read_until_closed(sock, timeout, limit=4096):
    """Reads until the peer closes (FIN or RST) and returns what arrived first.

    Fails if the peer neither closes within timeout nor stops after `limit` bytes."""
    end = time.monotonic() + timeout
    data = b""
    while len(data) <= limit:
        remaining = end - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"peer did not close within {timeout:.1f}s; got {hexs(data[:64])}")
        sock.settimeout(remaining)
        try:
            chunk = sock.recv(4096)
        except socket.timeout:
            continue
        except ConnectionResetError:
            return data
        if not chunk:
            return data
        data += chunk
    raise AssertionError(f"peer sent more than {limit} bytes instead of closing")


def assert_open(sock, duration):
    """Asserts nothing arrives and the peer does not close for `duration` seconds."""
    readable, _, _ = select.select([sock], [], [], duration)
    if readable:
        try:
            data = sock.recv(4096, socket.MSG_PEEK)
        except ConnectionResetError:
            raise AssertionError("connection was reset while it should stay open")
        assert data, "peer closed while the connection should stay open"
        raise AssertionError(f"unexpected bytes {hexs(data[:64])}")


# ---------------------------------------------------------------------------
# The server under test


class Socks5d:
    """One socks5d process: start with flags, wait for its listeners, stop."""

    def __init__(self, flags, binary=None):
        self.binary = pathlib.Path(binary or binary_path())
        self.flags = list(flags)
        self.lines = []
        self._cond = threading.Condition()
        self._stderr_done = False
        self.proc = None
        self.endpoints = []
        self.stop_requested = False  # stop() called (by a test or the fixture)
        self.expect_exit = False     # the test expects the process to exit by itself

    def start(self):
        if not self.binary.exists():
            raise AssertionError(
                f"socks5d binary not found at {self.binary}: build it or set SOCKS5D_BIN")
        env = dict(os.environ)
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
        env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
        self.proc = subprocess.Popen(
            [str(self.binary), *self.flags], stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        threading.Thread(target=self._drain, args=(self.proc.stderr, True), daemon=True).start()
        threading.Thread(target=self._drain, args=(self.proc.stdout, False), daemon=True).start()
        return self

    def _drain(self, stream, is_stderr):
        for raw in iter(stream.readline, b""):
            line = raw.decode(errors="replace").rstrip("\n")
            with self._cond:
                self.lines.append(line if is_stderr else "[stdout] " + line)
                self._cond.notify_all()
        with self._cond:
            if is_stderr:
                self._stderr_done = True
            self._cond.notify_all()

    @property
    def stderr(self):
        with self._cond:
            return "\n".join(self.lines)

    def wait_for_line(self, pattern, timeout=None, start=0):
        """Waits until a line from index `start` on matches; returns the match."""
        regex = re.compile(pattern) if isinstance(pattern, str) else pattern
        end = time.monotonic() + (timeout or deadline(10))
        index = start
        with self._cond:
            while True:
                while index < len(self.lines):
                    match = regex.search(self.lines[index])
                    index += 1
                    if match:
                        return match
                if self._stderr_done:
                    raise AssertionError(
                        f"socks5d exited (rc={self.proc.poll()}) before printing /{regex.pattern}/;"
                        f" output:\n{self._tail()}")
                remaining = end - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(
                        f"no line matching /{regex.pattern}/ within deadline; output:\n{self._tail()}")
                self._cond.wait(remaining)

    def _tail(self, n=40):
        return "\n".join(self.lines[-n:])

    def wait_listening(self, count=1, timeout=None):
        """Waits for `count` distinct `listening on` endpoints; returns [(host, port)]."""
        end = time.monotonic() + (timeout or deadline(10))
        found = []
        index = 0
        while len(found) < count:
            match = self.wait_for_line(LISTENING_RE, max(0.01, end - time.monotonic()), index)
            with self._cond:
                index = next(i for i in range(index, len(self.lines))
                             if LISTENING_RE.search(self.lines[i])) + 1
            host = match.group(1).strip("[]")
            endpoint = (host, int(match.group(2)))
            if endpoint not in found:
                found.append(endpoint)
        self.endpoints = found
        return found

    @property
    def port(self):
        return self.endpoints[0][1]

    def client(self, index=0):
        host, port = self.endpoints[index]
        if host in ("0.0.0.0",):
            host = "127.0.0.1"
        elif host == "::":
            host = "::1"
        return Socks5Client(port, host)

    def access_logs(self):
        """All access-log lines so far, as dicts."""
        with self._cond:
            return [m.groupdict() for m in map(ACCESS_RE.search, self.lines) if m]

    def wait_access_log(self, timeout=None, **fields):
        """Waits for an access-log line whose fields equal the given values."""
        def matches(line):
            match = ACCESS_RE.search(line)
            return match and all(match.group(k) == str(v) for k, v in fields.items())

        end = time.monotonic() + (timeout or deadline(10))
        with self._cond:
            while True:
                for line in self.lines:
                    if matches(line):
                        return ACCESS_RE.search(line).groupdict()
                remaining = end - time.monotonic()
                if remaining <= 0 or self._stderr_done:
                    raise AssertionError(
                        f"no access-log line with {fields}; access lines: "
                        f"{[m.group(0) for m in map(ACCESS_RE.search, self.lines) if m]}\n"
                        f"output:\n{self._tail()}")
                self._cond.wait(remaining)

    def wait_exit(self, timeout=None):
        """Waits for the process to exit by itself; returns (returncode, stderr)."""
        try:
            rc = self.proc.wait(timeout or deadline(10))
        except subprocess.TimeoutExpired:
            raise AssertionError(f"socks5d still running; output:\n{self._tail()}")
        self._wait_stderr_done()
        return rc, self.stderr

    def _wait_stderr_done(self):
        end = time.monotonic() + deadline(5)
        with self._cond:
            while not self._stderr_done and time.monotonic() < end:
                self._cond.wait(end - time.monotonic())

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout=None):
        """SIGTERM, wait, then SIGKILL. Returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.stop_requested = True
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout or deadline(10))
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._wait_stderr_done()
        return self.proc.returncode

    def sanitizer_report(self):
        match = SANITIZER_RE.search(self.stderr)
        return match is not None


# ---------------------------------------------------------------------------
# Targets


def _family(host):
    return socket.AF_INET6 if ":" in host else socket.AF_INET


class TcpListener:
    """A listening socket the test accepts on itself."""

    def __init__(self, host="127.0.0.1", port=0, backlog=16):
        self.sock = socket.socket(_family(host), socket.SOCK_STREAM)
        self.sock.bind((host, port))
        self.sock.listen(backlog)
        self.host = host
        self.port = self.sock.getsockname()[1]

    def accept(self, timeout=None):
        self.sock.settimeout(timeout or deadline(10))
        try:
            conn, peer = self.sock.accept()
        except socket.timeout:
            raise AssertionError(f"no connection to target {self.host}:{self.port}")
        conn.settimeout(None)
        return conn, peer[:2]

    def assert_no_connection(self, timeout):
        readable, _, _ = select.select([self.sock], [], [], timeout)
        assert not readable, f"target {self.host}:{self.port} got a connection it must not get"

    def close(self):
        self.sock.close()


def reserve_refusing_port(host, port=0):
    """A bound, non-listening socket: connecting to (host, port) is refused (RST).

    Holding the bound socket keeps anyone else from listening there."""
    sock = socket.socket(_family(host), socket.SOCK_STREAM)
    sock.bind((host, port))
    return sock


class _ThreadedServer:
    """Accept loop in a thread; handle(conn, peer) runs in a thread per connection."""

    def __init__(self, host="127.0.0.1"):
        self.listener = TcpListener(host)
        self.host = host
        self.port = self.listener.port
        self.peers = queue.Queue()
        self._closing = False
        self._conns = []
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)
        self._thread.start()

    @property
    def address(self):
        return (self.host, self.port)

    def _accept_loop(self):
        while not self._closing:
            try:
                conn, peer = self.listener.sock.accept()
            except OSError:
                return
            self._conns.append(conn)
            self.peers.put(peer[:2])
            threading.Thread(target=self._guarded, args=(conn, peer[:2]), daemon=True).start()

    def _guarded(self, conn, peer):
        try:
            self.handle(conn, peer)
        except OSError:
            pass

    def assert_no_peer(self, timeout):
        try:
            peer = self.peers.get(timeout=timeout)
        except queue.Empty:
            return
        raise AssertionError(f"{self.host}:{self.port} got a connection from {peer} it must not get")

    def next_peer(self, timeout=None):
        try:
            return self.peers.get(timeout=timeout or deadline(10))
        except queue.Empty:
            raise AssertionError(f"no connection reached {self.host}:{self.port}")

    def close(self):
        self._closing = True
        try:
            self.listener.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.listener.close()
        for conn in self._conns:
            try:
                conn.close()
            except OSError:
                pass


class EchoServer(_ThreadedServer):
    """Echoes each connection; on EOF it shuts down its write side."""

    def handle(self, conn, peer):
        while True:
            data = conn.recv(65536)
            if not data:
                conn.shutdown(socket.SHUT_WR)
                return
            conn.sendall(data)


class SinkServer(_ThreadedServer):
    """Reads each connection to EOF; puts (byte count, sha256 hex) on .results."""

    def __init__(self, host="127.0.0.1"):
        self.results = queue.Queue()
        super().__init__(host)

    def handle(self, conn, peer):
        digest = hashlib.sha256()
        count = 0
        while True:
            data = conn.recv(65536)
            if not data:
                break
            digest.update(data)
            count += len(data)
        self.results.put((count, digest.hexdigest()))
        conn.close()

    def next_result(self, timeout=None):
        try:
            return self.results.get(timeout=timeout or deadline(20))
        except queue.Empty:
            raise AssertionError("sink got no complete stream")


class SourceServer(_ThreadedServer):
    """Sends `payload` on each connection, then closes."""

    def __init__(self, payload, host="127.0.0.1"):
        self.payload = payload
        super().__init__(host)

    def handle(self, conn, peer):
        conn.sendall(self.payload)
        conn.shutdown(socket.SHUT_WR)
        conn.close()


def transfer_both_ways(sock, payload, expected_len, timeout):
    """Sends payload and receives expected_len bytes at the same time on one socket.

    Returns (sha256 hex of received bytes, error or None). The send runs in a thread
    so that both directions can be full at once."""
    errors = []

    def sender():
        try:
            sock.sendall(payload)
        except OSError as e:
            errors.append(e)

    sock.settimeout(timeout)
    thread = threading.Thread(target=sender, daemon=True)
    thread.start()
    digest = hashlib.sha256()
    got = 0
    end = time.monotonic() + timeout
    while got < expected_len:
        if time.monotonic() > end:
            errors.append(TimeoutError(f"received {got}/{expected_len} bytes"))
            break
        try:
            data = sock.recv(min(1 << 20, expected_len - got))
        except (socket.timeout, OSError) as e:
            errors.append(e)
            break
        if not data:
            errors.append(EOFError(f"EOF after {got}/{expected_len} bytes"))
            break
        digest.update(data)
        got += len(data)
    thread.join(max(0.0, end - time.monotonic()))
    if thread.is_alive():
        errors.append(TimeoutError("send did not finish"))
    return digest.hexdigest(), got, errors


class HttpServer:
    """http.server in a thread answering GET with a fixed body."""

    def __init__(self, body, host="127.0.0.1"):
        payload = body

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        class Server(http.server.ThreadingHTTPServer):
            address_family = _family(host)
            daemon_threads = True

        self.server = Server((host, 0), Handler)
        self.host = host
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


# ---------------------------------------------------------------------------
# DNS


class DnsResponder:
    """UDP DNS server on loopback port 0.

    records: {"echo.test": {"A": ["127.0.0.1"], "AAAA": ["::1"]},
              "alias.test": {"CNAME": "echo.test"}}. A name in the table gets its
    addresses of the asked type (possibly none: NOERROR, empty); an alias gets the
    CNAME followed by its target's addresses, as recursive servers answer; any other
    name gets NXDOMAIN. Queries are recorded in .queries as (name, type)."""

    def __init__(self, records, host="127.0.0.1"):
        self.records = {name.lower().rstrip("."): value for name, value in records.items()}
        self.queries = []
        self.sock = socket.socket(_family(host), socket.SOCK_DGRAM)
        self.sock.bind((host, 0))
        self.host = host
        self.port = self.sock.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def server_flag(self):
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"--dns_servers={host}:{self.port}"

    def _serve(self):
        while True:
            try:
                data, peer = self.sock.recvfrom(4096)
            except OSError:
                return
            try:
                query = dns.message.from_wire(data)
            except Exception:  # A malformed query: ignore it, as a real server would.
                continue
            response = self._answer(query)
            try:
                self.sock.sendto(response.to_wire(), peer)
            except OSError:
                return

    def _answer(self, query):
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        for question in query.question:
            name = question.name.to_text().lower().rstrip(".")
            rdtype = dns.rdatatype.to_text(question.rdtype)
            self.queries.append((name, rdtype))
            if name not in self.records:
                response.set_rcode(dns.rcode.NXDOMAIN)
                continue
            owner = question.name
            alias = self.records[name].get("CNAME")
            if alias:
                response.answer.append(dns.rrset.from_text(owner, 60, "IN", "CNAME", alias + "."))
                owner = dns.name.from_text(alias)
                name = alias.lower()
            addresses = self.records.get(name, {}).get(rdtype, [])
            if addresses:
                response.answer.append(dns.rrset.from_text(owner, 60, "IN", rdtype, *addresses))
        return response

    def close(self):
        self.sock.close()


def blackhole_target():
    """A loopback target whose connect attempts time out.

    A listener with backlog 0 whose accept queue is full: Linux drops further SYNs
    (tcp_abort_on_overflow=0), so a connect waits for its own timeout. Returns
    (port, [sockets to keep open])."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    keep = [listener]
    for _ in range(16):
        probe = socket.socket()
        probe.settimeout(0.3)
        keep.append(probe)
        try:
            probe.connect(("127.0.0.1", port))
        except socket.timeout:
            return port, keep
    for sock in keep:
        sock.close()
    raise AssertionError("could not fill the accept queue of the blackhole listener")


def connect_errno(address, timeout=2.0):
    """What a plain connect to address returns here (0 on success), for diagnostics."""
    sock = socket.socket(_family(address[0]), socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(address)
        return 0
    except socket.timeout:
        return errno.ETIMEDOUT
    except OSError as e:
        return e.errno
    finally:
        sock.close()
