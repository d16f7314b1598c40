"""FTP active mode through the proxy: the control connection goes through CONNECT, the data
connection through BIND (docs/conformance.md E, "FTP active mode").

The FTP server is pyftpdlib (Debian python3-pyftpdlib) with its default RFC 2577 checks on:
PORT/EPRT must name the control connection's peer (here: the proxy host) and the data
connection's source must be that peer too. Both hold, because the BIND listener is on the
address the proxy uses toward the FTP server.
"""

import ftplib
import hashlib
import io
import logging
import os
import threading
import time

import pytest
# Debian python3-pyftpdlib (.ci/apt/bind.txt); missing, these tests fail rather than skip.
from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.servers import FTPServer

from socks5lib import CMD_BIND, REP_SUCCEEDED, deadline, greeting, request

FTP_USER = "ftpuser"
FTP_PASSWORD = "ftp-Pa55"
FILE_SIZE = 3 * 1024 * 1024


class FtpServerThread:
    """pyftpdlib on host:0 serving `home` for FTP_USER, in a thread."""

    def __init__(self, home, host):
        authorizer = DummyAuthorizer()
        authorizer.add_user(FTP_USER, FTP_PASSWORD, str(home), perm="elradfmwMT")
        handler = type("Handler", (FTPHandler,), {"authorizer": authorizer,
                                                  "permit_foreign_addresses": False})
        logging.getLogger("pyftpdlib").setLevel(logging.WARNING)
        self.server = FTPServer((host, 0), handler)
        self.host = host
        self.port = self.server.socket.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self):
        # Non-blocking rounds so that the loop notices close(); the server is closed on its
        # own thread, as pyftpdlib's IOLoop is not thread-safe.
        while not self._stop.is_set():
            self.server.serve_forever(timeout=0.05, blocking=False, handle_exit=False)
        self.server.close_all()

    def close(self):
        self._stop.set()
        self._thread.join(deadline(5))


@pytest.fixture(params=["127.0.0.1", "::1"], ids=["ipv4", "ipv6"])
def ftp(request, tmp_path):
    home = tmp_path / "ftp"
    home.mkdir()
    data = os.urandom(FILE_SIZE)
    (home / "random.bin").write_bytes(data)
    server = FtpServerThread(home, request.param)
    server.home = home
    server.data = data
    yield server
    server.close()


class FtpControl:
    """A raw FTP control dialogue (RFC 959) over an already connected socket."""

    def __init__(self, sock):
        self.sock = sock
        self.buffer = b""

    def _line(self):
        while b"\r\n" not in self.buffer:
            self.sock.settimeout(deadline(10))
            chunk = self.sock.recv(4096)
            assert chunk, f"FTP control connection closed; buffered {self.buffer!r}"
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\r\n", 1)
        return line.decode()

    def response(self):
        """One reply, multi-line ones included; returns (code, text)."""
        line = self._line()
        code = line[:3]
        text = [line]
        if line[3:4] == "-":
            while not (line[:3] == code and line[3:4] == " "):
                line = self._line()
                text.append(line)
        return int(code), "\n".join(text)

    def expect(self, codes, what):
        code, text = self.response()
        assert code in codes, f"{what}: expected {codes}, got {text!r}"
        return text

    def command(self, line, codes):
        self.sock.sendall(line.encode() + b"\r\n")
        return self.expect(codes, line.split(" ")[0])

    def login(self):
        self.expect((220,), "greeting")
        self.command(f"USER {FTP_USER}", (331,))
        self.command(f"PASS {FTP_PASSWORD}", (230,))
        self.command("TYPE I", (200,))


def socks_bind(proxy, host, port):
    """A SOCKS connection that has asked for BIND toward host:port; returns (client, first)."""
    client = proxy.client()
    client.send(greeting(0x00))
    client.expect(b"\x05\x00")
    client.send(request(host, port, cmd=CMD_BIND))
    first = client.read_reply()
    assert first.rep == REP_SUCCEEDED, first
    return client, first


def port_command(style, host, port):
    if style == "PORT":
        return "PORT %s,%d,%d" % (host.replace(".", ","), port >> 8, port & 0xFF)
    family = 2 if ":" in host else 1
    return f"EPRT |{family}|{host}|{port}|"


def wait_bind_logs(proxy, count):
    """Waits until `count` BIND sessions have written their access-log line; returns them."""
    end = time.monotonic() + deadline(10)
    while True:
        start = len(proxy.lines)
        logs = [log for log in proxy.access_logs() if log["cmd"] == "BIND"]
        if len(logs) >= count:
            return logs
        remaining = end - time.monotonic()
        assert remaining > 0, f"{len(logs)} BIND access-log lines, expected {count}"
        proxy.wait_for_line(r"cmd=BIND", timeout=remaining, start=start)


def read_all(sock, limit):
    digest = hashlib.sha256()
    total = 0
    sock.settimeout(deadline(20))
    while True:
        chunk = sock.recv(1 << 16)
        if not chunk:
            return total, digest.hexdigest()
        total += len(chunk)
        digest.update(chunk)
        assert total <= limit, "more data than the file holds"


@pytest.fixture
def session(socks5d, ftp):
    """(proxy, FTP control dialogue through CONNECT, logged in)."""
    listen = "[::1]:0" if ":" in ftp.host else "127.0.0.1:0"
    proxy = socks5d(f"--listen={listen}")
    control_client = proxy.client()
    control_client.connect(ftp.host, ftp.port)
    control = FtpControl(control_client.sock)
    control.login()
    yield proxy, control
    control_client.close()


def _styles(ftp):
    # PORT carries only IPv4 addresses; EPRT both families (RFC 2428).
    return ["PORT", "EPRT"] if ":" not in ftp.host else ["EPRT"]


def test_ftp_active_retr_over_bind(ftp, session):
    proxy, control = session
    for style in _styles(ftp):
        data_client, first = socks_bind(proxy, ftp.host, ftp.port)
        with data_client:
            assert first.host == ftp.host, f"BIND listens toward the FTP server: {first}"
            control.command(port_command(style, first.host, first.port), (200,))
            second = data_client.read_reply(timeout=deadline(10))
            assert second.rep == REP_SUCCEEDED and second.host == ftp.host, second
            control.command("RETR random.bin", (125, 150))
            got, digest = read_all(data_client.sock, FILE_SIZE)
            control.expect((226,), "RETR completion")
        assert (got, digest) == (FILE_SIZE, hashlib.sha256(ftp.data).hexdigest()), style
    logs = wait_bind_logs(proxy, len(_styles(ftp)))
    assert [(log["reply"], log["down"]) for log in logs] == [("00", str(FILE_SIZE))] * len(logs)


def test_ftp_active_stor_over_bind(ftp, session):
    proxy, control = session
    sizes = []
    for style in _styles(ftp):
        upload = os.urandom(2 * 1024 * 1024 + 17 * len(sizes))
        sizes.append(len(upload))
        name = f"upload-{style}.bin"
        data_client, first = socks_bind(proxy, ftp.host, ftp.port)
        with data_client:
            control.command(port_command(style, first.host, first.port), (200,))
            second = data_client.read_reply(timeout=deadline(10))
            assert second.rep == REP_SUCCEEDED and second.host == ftp.host, second
            control.command(f"STOR {name}", (125, 150))
            data_client.send(upload)
            # Half-close: the FTP server sees EOF, stores, closes the data connection.
            data_client.shutdown_write()
            assert data_client.read_until_closed(timeout=deadline(20)) == b""
            control.expect((226,), "STOR completion")
        stored = (ftp.home / name).read_bytes()
        assert hashlib.sha256(stored).hexdigest() == hashlib.sha256(upload).hexdigest(), style
    logs = wait_bind_logs(proxy, len(sizes))
    assert [(log["reply"], int(log["up"])) for log in logs] == [("00", n) for n in sizes]


class SocksFtp(ftplib.FTP):
    """Python's ftplib in active mode, its control connection through CONNECT and its data
    connections through BIND: makeport() asks the proxy instead of listening locally."""

    def __init__(self, proxy, server_host, server_port):
        super().__init__(timeout=deadline(10))
        self.proxy = proxy
        self.server_address = (server_host, server_port)
        control = proxy.client()
        control.connect(server_host, server_port)
        self.sock = control.sock
        self.af = self.sock.family
        self.host, self.port = server_host, server_port
        self.file = self.sock.makefile("r", encoding=self.encoding)
        self.welcome = self.getresp()
        self.set_pasv(False)

    def makeport(self):
        client, first = socks_bind(self.proxy, *self.server_address)
        if ":" in first.host:
            self.sendeprt(first.host, first.port)
        else:
            self.sendport(first.host, first.port)
        return _BoundPort(client)


class _BoundPort:
    """What ftplib expects from makeport(): accept() yields the data connection."""

    def __init__(self, client):
        self.client = client

    def accept(self):
        second = self.client.read_reply(timeout=deadline(10))
        assert second.rep == REP_SUCCEEDED, second
        self.client.sock.settimeout(deadline(20))
        return self.client.sock, second.address

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        pass  # the data socket is closed by ftplib after the transfer


def test_ftplib_active_mode_through_socks(socks5d, ftp):
    listen = "[::1]:0" if ":" in ftp.host else "127.0.0.1:0"
    proxy = socks5d(f"--listen={listen}")
    client = SocksFtp(proxy, ftp.host, ftp.port)
    try:
        client.login(FTP_USER, FTP_PASSWORD)
        chunks = []
        client.retrbinary("RETR random.bin", chunks.append)
        assert hashlib.sha256(b"".join(chunks)).digest() == hashlib.sha256(ftp.data).digest()
        upload = os.urandom(1024 * 1024)
        client.storbinary("STOR via-ftplib.bin", io.BytesIO(upload))
        assert (ftp.home / "via-ftplib.bin").read_bytes() == upload
        names = []
        client.retrlines("NLST", names.append)
        assert sorted(names) == ["random.bin", "via-ftplib.bin"]
        client.quit()
    finally:
        client.close()
    logs = wait_bind_logs(proxy, 3)
    assert [log["reply"] for log in logs] == ["00"] * 3, logs
