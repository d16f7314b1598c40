"""--proxy_protocol_from (issue 15): a connection from a trusted balancer begins with a PROXY
protocol v1 or v2 header whose client is then THE client: the access log, the rules' from=,
--max_sessions_per_client and the UDP source check all see it. A missing, malformed or late header
from a trusted address closes the connection with a log line; from anywhere else a PROXY header is
not SOCKS and is refused as any other garbage.

Everything stays on loopback: the "balancer" is this test's socket from 127.0.0.1, the clients the
headers name are other 127.0.0.0/8 addresses (so UDP datagrams can really come from them).
"""

import ipaddress
import os
import re
import shutil
import socket
import struct
import subprocess
import time

import pytest

import socks5lib
from socks5lib import (CMD_UDP_ASSOCIATE, METHOD_NO_AUTH, REP_NOT_ALLOWED, REP_SUCCEEDED,
                       EchoServer, Socks5Client, deadline, failure_reply, greeting, request)
from udplib import UdpPeer, access_fields, parse_udp_datagram, recv_datagram, udp_header

V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"


def v1(src, sport, dst, dport):
    proto = "TCP6" if ":" in src else "TCP4"
    return f"PROXY {proto} {src} {dst} {sport} {dport}\r\n".encode()


def v2(src, sport, dst, dport, tlvs=b""):
    s, d = ipaddress.ip_address(src), ipaddress.ip_address(dst)
    fam = 0x11 if s.version == 4 else 0x21
    body = s.packed + d.packed + struct.pack("!HH", sport, dport) + tlvs
    return V2_SIGNATURE + bytes([0x21, fam]) + struct.pack("!H", len(body)) + body


V2_LOCAL = V2_SIGNATURE + b"\x20\x00\x00\x00"


def balancer(server, source="127.0.0.1"):
    """A raw connection to the proxy from `source` (the balancer's address)."""
    client = Socks5Client.__new__(Socks5Client)
    client.sock = socket.create_connection(("127.0.0.1", server.port),
                                           timeout=socks5lib.REPLY_TIMEOUT,
                                           source_address=(source, 0))
    client.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return client


def proxied_connect(server, header, target, split=False):
    """Sends `header` and the greeting in one write (or the header byte by byte), then CONNECTs
    to `target`; returns the client with the relay up."""
    client = balancer(server)
    if split:
        client.send_bytewise(header)
        client.send(greeting(METHOD_NO_AUTH))
    else:
        client.send(header + greeting(METHOD_NO_AUTH))  # early SOCKS data behind the header
    client.expect(b"\x05\x00", what="method selection")
    client.send(request("127.0.0.1", target.address[1]))
    reply = client.read_reply(timeout=deadline(10))
    assert reply.rep == REP_SUCCEEDED, reply
    return client


def echo_once(client, payload=b"ping"):
    client.send(payload)
    assert client.recv_exact(len(payload)) == payload


def access_line(server, client_text):
    """The access-log line whose client= is `client_text`."""
    server.wait_access_log(client=client_text)
    return next(line for line in server.lines if f"access client={client_text} " in line)


@pytest.fixture
def echo():
    server = EchoServer("127.0.0.1")
    yield server
    server.close()


@pytest.mark.parametrize("encode,split", [(v1, False), (v1, True), (v2, False), (v2, True)],
                         ids=["v1", "v1_bytewise", "v2", "v2_bytewise"])
def test_header_client_is_the_client(socks5d, echo, encode, split):
    server = socks5d("--proxy_protocol_from=127.0.0.1/32")
    with proxied_connect(server, encode("127.0.0.9", 40001, "127.0.0.1", server.port), echo,
                         split=split) as client:
        echo_once(client)
    line = access_line(server, "127.0.0.9:40001")
    assert re.search(r" via=127\.0\.0\.1:\d+", line), line
    assert "cmd=CONNECT" in line and "reply=00" in line and "up=4 down=4" in line, line


def test_ipv6_client_through_an_ipv4_balancer(socks5d, echo):
    server = socks5d("--proxy_protocol_from=127.0.0.0/8")
    for header in (v1("2001:db8::7", 5555, "::1", 1080), v2("2001:db8::7", 5556, "::1", 1080)):
        with proxied_connect(server, header, echo) as client:
            echo_once(client)
    access_line(server, "[2001:db8::7]:5555")
    access_line(server, "[2001:db8::7]:5556")


@pytest.mark.parametrize("header", [V2_LOCAL, b"PROXY UNKNOWN\r\n",
                                    V2_SIGNATURE + b"\x21\x00\x00\x03\x04\x00\x00"],
                         ids=["v2_local", "v1_unknown", "v2_unspec_with_tlv"])
def test_local_and_unknown_are_the_balancers_own(socks5d, echo, header):
    server = socks5d("--proxy_protocol_from=127.0.0.1")
    client = balancer(server)
    client.send(header + greeting(METHOD_NO_AUTH))
    client.expect(b"\x05\x00", what="method selection")
    client.send(request("127.0.0.1", echo.address[1]))
    assert client.read_reply(timeout=deadline(10)).rep == REP_SUCCEEDED
    echo_once(client)
    own = client.sock.getsockname()
    client.close()
    line = access_line(server, f"{own[0]}:{own[1]}")
    assert " via=" not in line, line


@pytest.mark.parametrize("data,reason", [
    (greeting(METHOD_NO_AUTH), "no PROXY protocol header"),
    (b"PROXY TCP4 127.0.0.300 127.0.0.1 1 2\r\n" + greeting(METHOD_NO_AUTH), "bad IPv4 address"),
    (b"PROXY TCP4 127.0.0.9 127.0.0.1 1 2\n", "CRLF"),
    (V2_SIGNATURE + b"\x21\x11\xff\xff", "over the limit of 1024"),
    (V2_SIGNATURE + b"\x13\x11\x00\x0c", "version is not 2"),
], ids=["socks_without_header", "v1_bad_address", "v1_bare_lf", "v2_too_long", "v2_version"])
def test_missing_or_malformed_header_closes_with_a_log_line(socks5d, data, reason):
    server = socks5d("--proxy_protocol_from=127.0.0.1")
    client = balancer(server)
    client.send(data)
    assert client.read_until_closed() == b"", "answered without a valid PROXY header"
    server.wait_for_line(r"proxy protocol: .*" + re.escape(reason) +
                         r".* from 127\.0\.0\.1:\d+ \(--proxy_protocol_from\); closing")


def test_no_header_within_the_handshake_timeout(socks5d):
    server = socks5d("--proxy_protocol_from=127.0.0.1", "--handshake_timeout=1s")
    client = balancer(server)
    client.send(b"PROXY TCP4 127.0.0.9")  # and then nothing
    start = time.monotonic()
    assert client.read_until_closed(timeout=deadline(5)) == b""
    assert time.monotonic() - start < deadline(4)
    server.wait_for_line(r"proxy protocol: no complete PROXY header in time \(--handshake_timeout")


def test_balancer_gone_before_the_header_is_logged(socks5d):
    server = socks5d("--proxy_protocol_from=127.0.0.1")
    client = balancer(server)
    client.send(V2_SIGNATURE[:5])
    client.close()
    server.wait_for_line(r"proxy protocol: connection closed inside the PROXY header")


@pytest.mark.parametrize("header", [v1("10.9.9.9", 1, "127.0.0.1", 2),
                                    v2("10.9.9.9", 1, "127.0.0.1", 2)], ids=["v1", "v2"])
def test_header_from_an_untrusted_address_is_refused(socks5d, header):
    """Only --proxy_protocol_from may name a client: from 127.0.0.1 (not in 127.0.0.2/32) a
    PROXY header is what it looks like to SOCKS, a bad version byte: closed as today, logged
    proto=proxy_protocol."""
    server = socks5d("--proxy_protocol_from=127.0.0.2/32")
    client = balancer(server)
    own = client.sock.getsockname()
    client.send(header + greeting(METHOD_NO_AUTH))
    assert not client.read_until_closed().startswith(b"\x05"), "answered as SOCKS5"
    # The real address, not 10.9.9.9; no SOCKS command was read.
    line = server.wait_for_line(rf"access client={re.escape(own[0])}:{own[1]} .*cmd=- ").string
    assert " proto=proxy_protocol" in line and "10.9.9.9" not in line, line


def test_rules_decide_on_the_header_client(socks5d, echo, tmp_path):
    rules = tmp_path / "rules"
    rules.write_text("allow from=127.0.0.9\n")
    server = socks5d("--proxy_protocol_from=127.0.0.1", f"--rules_file={rules}")
    with proxied_connect(server, v2("127.0.0.9", 1001, "127.0.0.1", server.port), echo) as c:
        echo_once(c)
    # The same balancer, naming another client: the implicit deny.
    client = balancer(server)
    client.send(v1("127.0.0.8", 1002, "127.0.0.1", server.port) + greeting(METHOD_NO_AUTH))
    client.expect(b"\x05\x00", what="method selection")
    client.send(request("127.0.0.1", echo.address[1]))
    client.expect(failure_reply(REP_NOT_ALLOWED), timeout=deadline(10))
    assert "rule=default" in access_line(server, "127.0.0.8:1002")
    assert "reply=00" in access_line(server, "127.0.0.9:1001")


def test_max_sessions_per_client_counts_header_clients(socks5d, echo):
    """--max_sessions_per_client=1: the balancer's own address is not the one counted (two
    clients through it are served at once); a second session of the same header client is
    closed with a log line."""
    server = socks5d("--proxy_protocol_from=127.0.0.1", "--max_sessions_per_client=1")
    first = proxied_connect(server, v1("127.0.0.9", 1, "127.0.0.1", 2), echo)
    second = proxied_connect(server, v2("127.0.0.8", 1, "127.0.0.1", 2), echo)
    echo_once(first)
    echo_once(second)
    third = balancer(server)
    third.send(v2("127.0.0.9", 2, "127.0.0.1", 2) + greeting(METHOD_NO_AUTH))
    assert third.read_until_closed() == b""
    server.wait_for_line(r"--max_sessions_per_client=1 reached for 127\.0\.0\.9 \(via "
                         r"127\.0\.0\.1:\d+\); closing the connection")
    first.close()
    server.wait_access_log(client="127.0.0.9:1")
    # The slot is released just after the access line is written (~Session): a moment later
    # 127.0.0.9 gets in again.
    time.sleep(0.2)
    with proxied_connect(server, v2("127.0.0.9", 3, "127.0.0.1", 2), echo) as again:
        echo_once(again)
    second.close()


def test_udp_source_check_uses_the_header_client(socks5d):
    """The header says 127.0.0.9: datagrams from 127.0.0.9 are relayed, those from the
    balancer's own 127.0.0.1 are foreign and dropped."""
    server = socks5d("--proxy_protocol_from=127.0.0.1")
    target = UdpPeer("127.0.0.1")
    client_udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    client_udp.bind(("127.0.0.9", 0))
    balancer_udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    balancer_udp.bind(("127.0.0.1", 0))
    try:
        control = balancer(server)
        control.send(v2("127.0.0.9", 7000, "127.0.0.1", server.port) + greeting(METHOD_NO_AUTH))
        control.expect(b"\x05\x00", what="method selection")
        control.send(request("0.0.0.0", 0, cmd=CMD_UDP_ASSOCIATE))
        reply = control.read_reply()
        assert reply.rep == REP_SUCCEEDED, reply
        relay = reply.address
        wrapped = udp_header("127.0.0.1", target.address[1])
        balancer_udp.sendto(wrapped + b"from the balancer", relay)
        client_udp.sendto(wrapped + b"from the client", relay)
        data, relay_out = target.recv()
        assert data == b"from the client"
        target.sendto(b"answer", relay_out)
        answer, source = recv_datagram(client_udp, None, "answer through the relay")
        assert source[:2] == relay
        assert parse_udp_datagram(answer) == (0, "127.0.0.1", target.address[1], b"answer")
        control.close()
        fields = access_fields(server)
        assert fields["drop_foreign"] == 1 and fields["dgrams_up"] == 1, fields
        assert fields["dgrams_down"] == 1, fields
        access_line(server, "127.0.0.9:7000")
    finally:
        client_udp.close()
        balancer_udp.close()
        target.close()


@pytest.mark.parametrize("flag,message", [
    ("--proxy_protocol_from=10.0.0.0/33", "--proxy_protocol_from: "),
    ("--proxy_protocol_from=balancer.example", "--proxy_protocol_from: "),
    ("--proxy_protocol_max_size=100", "--proxy_protocol_max_size must be from 232 to 65551"),
])
def test_bad_flags_stop_start_up(socks5d, flag, message):
    server = socks5d(flag, wait=False)
    server.expect_exit = True
    rc, stderr = server.wait_exit()
    assert rc != 0 and message in stderr, stderr


def test_bind_rules_see_the_header_client(socks5d, tmp_path):
    """BIND's rules are decided for the header's client, request and peer alike: 127.0.0.9 may
    BIND (and its peer from 127.0.0.5 completes it), 127.0.0.8 through the same balancer may
    not."""
    rules = tmp_path / "rules"
    rules.write_text("allow from=127.0.0.9 cmd=bind\n")
    server = socks5d("--proxy_protocol_from=127.0.0.1", f"--rules_file={rules}")
    client = balancer(server)
    client.send(v1("127.0.0.9", 2001, "127.0.0.1", server.port) + greeting(METHOD_NO_AUTH))
    client.expect(b"\x05\x00", what="method selection")
    client.send(request("127.0.0.5", 0, cmd=socks5lib.CMD_BIND))
    first = client.read_reply()
    assert first.rep == REP_SUCCEEDED, first
    peer = socket.create_connection(first.address, timeout=deadline(5),
                                    source_address=("127.0.0.5", 0))
    second = client.read_reply()
    assert second.rep == REP_SUCCEEDED and second.address == peer.getsockname()[:2], second
    peer.sendall(b"from the peer")
    assert client.recv_exact(13) == b"from the peer"
    peer.close()
    client.close()
    assert "cmd=BIND" in access_line(server, "127.0.0.9:2001")
    other = balancer(server)
    other.send(v2("127.0.0.8", 2002, "127.0.0.1", server.port) + greeting(METHOD_NO_AUTH))
    other.expect(b"\x05\x00", what="method selection")
    other.send(request("127.0.0.5", 0, cmd=socks5lib.CMD_BIND))
    other.expect(failure_reply(REP_NOT_ALLOWED), timeout=deadline(10))
    assert "rule=default" in access_line(server, "127.0.0.8:2002")


# --- Debian's HAProxy in front (send-proxy / send-proxy-v2), curl through it -----------------

HAPROXY = shutil.which("haproxy") or ("/usr/sbin/haproxy" if os.path.exists("/usr/sbin/haproxy")
                                      else None)


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def haproxy(tmp_path):
    """Factory: haproxy(backend_port, option) runs HAProxy in TCP mode on a free loopback port,
    forwarding to 127.0.0.1:backend_port with `option` (send-proxy or send-proxy-v2); returns
    the port."""
    if HAPROXY is None:
        pytest.skip("haproxy is not installed (.ci/apt/proxy.txt installs it)")
    running = []

    def start(backend_port, option):
        port = free_port()
        config = tmp_path / f"haproxy-{len(running)}.cfg"
        config.write_text(f"""global
    maxconn 64
defaults
    mode tcp
    timeout connect 5s
    timeout client 30s
    timeout server 30s
frontend socks
    bind 127.0.0.1:{port}
    default_backend socks5d
backend socks5d
    server s1 127.0.0.1:{backend_port} {option}
""")
        proc = subprocess.Popen([HAPROXY, "-db", "-f", str(config)], stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT)
        running.append(proc)
        end = time.monotonic() + deadline(10)
        while time.monotonic() < end:
            assert proc.poll() is None, f"haproxy exited: {proc.stdout.read().decode()}"
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return port
            except OSError:
                time.sleep(0.05)
        raise AssertionError("haproxy did not listen")

    yield start
    for proc in running:
        proc.terminate()
        try:
            proc.wait(deadline(5))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize("option", ["send-proxy", "send-proxy-v2"])
def test_curl_through_haproxy(socks5d, haproxy, option):
    """curl, from 127.0.0.7, through HAProxy (which connects to socks5d from 127.0.0.1): the
    access log names curl's address and port, via HAProxy's."""
    body = os.urandom(64 * 1024)
    web = socks5lib.HttpServer(body, "127.0.0.1")
    try:
        server = socks5d("--proxy_protocol_from=127.0.0.1")
        front = haproxy(server.port, option)
        env = {k: v for k, v in os.environ.items()
               if k.lower() not in ("http_proxy", "https_proxy", "all_proxy", "no_proxy")}
        result = subprocess.run(
            ["curl", "--silent", "--show-error", "--max-time", str(deadline(10)),
             "--interface", "127.0.0.7", "-x", f"socks5h://127.0.0.1:{front}",
             f"http://127.0.0.1:{web.port}/"], capture_output=True, env=env,
            timeout=deadline(20))
        assert result.returncode == 0, result.stderr.decode()
        assert result.stdout == body
        line = server.wait_for_line(r"access client=127\.0\.0\.7:\d+ .*cmd=CONNECT").string
        assert f"target=127.0.0.1:{web.port}" in line and "reply=00" in line, line
        assert re.search(r" via=127\.0\.0\.1:\d+", line), line
    finally:
        web.close()
