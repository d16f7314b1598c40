"""--rules_file (issue 12): every command under rules, DNS rebinding, the access log's rule=,
malformed files at start-up, and --check_config.

Rules decide first match wins with an implicit deny; names and addresses decide in one order (a
name is evaluated once per address it resolves to). All traffic stays on 127.0.0.0/8 and ::1;
names resolve through the in-process DnsResponder (--dns_servers).
"""

import re
import socket
import subprocess

import pytest

import socks5lib
from socks5lib import (CMD_BIND, CMD_UDP_ASSOCIATE, PASSWORD, REP_NOT_ALLOWED, REP_SUCCEEDED,
                       USER, DnsResponder, EchoServer, Socks5Client, TcpListener, deadline,
                       failure_reply, request)
from test_bind import assert_peer_refused, connect_from, reply_bytes, start_bind
from udplib import Association, UdpEcho, UdpPeer, access_fields


def rules_file(tmp_path, text, name="rules"):
    path = tmp_path / name
    path.write_text(text)
    return path


def rule_of(server, path, client_ip=None, **fields):
    """Waits for an access-log line with `fields` (and from `client_ip`, when given); returns its
    rule= value ("" when none), with the rules file's path replaced by "FILE"."""
    server.wait_access_log(**fields)

    def matches(line):
        match = socks5lib.ACCESS_RE.search(line)
        return (match and all(match.group(k) == str(v) for k, v in fields.items())
                and (client_ip is None or match.group("client").startswith(client_ip + ":")))

    for line in server.lines:
        if matches(line):
            rule = re.search(r" rule=(\S+)", line)
            return rule.group(1).replace(str(path), "FILE") if rule else ""
    raise AssertionError(f"no access line with {fields} from {client_ip}:\n{server.stderr}")


def client_from(server, source_ip):
    """A Socks5Client whose control connection comes from source_ip (on loopback)."""
    client = Socks5Client.__new__(Socks5Client)
    client.sock = socket.create_connection(("127.0.0.1", server.port),
                                           timeout=socks5lib.REPLY_TIMEOUT,
                                           source_address=(source_ip, 0))
    client.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return client


def refused(client, host, port, cmd=socks5lib.CMD_CONNECT, user=None, password=None):
    """Sends the request after the handshake and asserts the answer is 02 and the close."""
    client.handshake(user, password)
    client.send(request(host, port, cmd=cmd))
    client.expect(failure_reply(REP_NOT_ALLOWED), timeout=deadline(10))
    client.assert_closed()


def echoes(client, host, port, user=None, password=None):
    """CONNECT succeeds and the echo server answers through it."""
    client.connect(host, port, user, password)
    client.send(b"ping")
    client.expect(b"ping")


@pytest.fixture
def echo():
    server = EchoServer("127.0.0.1")
    yield server
    server.close()


@pytest.fixture
def echo6():
    server = EchoServer("::1")
    yield server
    server.close()


# ---------------------------------------------------------------------------
# CONNECT


def test_connect_by_user(socks5d, users_file, echo, tmp_path):
    path = rules_file(tmp_path, "# team proxy\nallow user=alice to=127.0.0.0/8\ndeny user=*\n")
    server = socks5d(f"--users_file={users_file}", f"--rules_file={path}")
    with server.client() as client:
        echoes(client, "127.0.0.1", echo.port, USER, PASSWORD)
    with server.client() as client:
        refused(client, "127.0.0.1", echo.port, user="bob", password="hunter2")
    assert rule_of(server, path, user="alice", reply="00") == "FILE:2"
    assert rule_of(server, path, user="bob", reply="02") == "FILE:3"


def test_connect_unauthenticated_is_user_dash(socks5d, echo, tmp_path):
    path = rules_file(tmp_path, "allow user=alice\nallow user=- port=%d\n" % echo.port)
    server = socks5d(f"--rules_file={path}")
    with server.client() as client:
        echoes(client, "127.0.0.1", echo.port)
    with server.client() as client:
        refused(client, "127.0.0.1", echo.port + 1 if echo.port < 65535 else 1)
    assert rule_of(server, path, reply="00") == "FILE:2"
    assert rule_of(server, path, reply="02") == "default"


def test_connect_by_client_address(socks5d, echo, tmp_path):
    path = rules_file(tmp_path, "deny from=127.0.0.2/32\nallow from=127.0.0.0/8\n")
    server = socks5d(f"--rules_file={path}")
    with client_from(server, "127.0.0.2") as client:
        refused(client, "127.0.0.1", echo.port)
    with client_from(server, "127.0.0.3") as client:
        echoes(client, "127.0.0.1", echo.port)
    assert rule_of(server, path, client_ip="127.0.0.2", reply="02") == "FILE:1"
    assert rule_of(server, path, client_ip="127.0.0.3", reply="00") == "FILE:2"


def test_connect_by_target_cidr_port_and_cmd(socks5d, echo, tmp_path):
    other = TcpListener("127.0.0.1")
    try:
        path = rules_file(tmp_path,
                          f"allow to=127.0.0.1/32 port={echo.port} cmd=connect\n"
                          f"allow to=127.0.0.0/8 port={other.port}-{other.port} cmd=udp\n")
        server = socks5d(f"--rules_file={path}")
        with server.client() as client:
            echoes(client, "127.0.0.1", echo.port)
        with server.client() as client:  # the address of rule 1, another port
            refused(client, "127.0.0.1", other.port)
        other.assert_no_connection(0.2)
        with server.client() as client:  # the port of rule 1, another address
            refused(client, "127.0.0.2", echo.port)
        with server.client() as client:  # the target of rule 1, another command
            refused(client, "127.0.0.1", echo.port, cmd=CMD_BIND)
        assert rule_of(server, path, cmd="CONNECT", reply="00") == "FILE:1"
        assert rule_of(server, path, cmd="CONNECT", target=f"127.0.0.1:{other.port}") == "default"
        assert rule_of(server, path, cmd="BIND") == "default"
    finally:
        other.close()


def test_connect_by_domain_suffix_refuses_other_names_without_resolving(socks5d, echo, tmp_path):
    responder = DnsResponder({
        "example.test": {"A": ["127.0.0.1"]},
        "www.example.test": {"A": ["127.0.0.1"]},
        "other.test": {"A": ["127.0.0.1"]},
        "notexample.test": {"A": ["127.0.0.1"]},
    })
    try:
        path = rules_file(tmp_path, "allow to=.Example.TEST port=%d\n" % echo.port)
        server = socks5d(responder.server_flag, f"--rules_file={path}")
        for name in ("example.test", "www.example.test", "WWW.EXAMPLE.test."):
            with server.client() as client:
                echoes(client, name, echo.port)
        for name in ("other.test", "notexample.test"):
            with server.client() as client:
                refused(client, name, echo.port)
        assert rule_of(server, path, target=f"other.test:{echo.port}") == "default"
        assert rule_of(server, path, target=f"www.example.test:{echo.port}") == "FILE:1"
        # No rule could allow them: they were never looked up.
        asked = {name for name, _ in responder.queries}
        assert "www.example.test" in asked
        assert "other.test" not in asked and "notexample.test" not in asked, responder.queries
    finally:
        responder.close()


def test_dns_rebinding_is_refused_and_denied_addresses_are_skipped(socks5d, echo6, tmp_path):
    """deny to=127.0.0.0/8 first: no name reaches loopback IPv4 whatever it resolves to."""
    responder = DnsResponder({
        "rebind.example.test": {"A": ["127.0.0.1"]},
        "mixed.example.test": {"A": ["127.0.0.1"], "AAAA": ["::1"]},
    })
    try:
        path = rules_file(tmp_path, "deny to=127.0.0.0/8\nallow to=.example.test\n")
        server = socks5d(responder.server_flag, f"--rules_file={path}")
        with server.client() as client:
            refused(client, "rebind.example.test", echo6.port)
        assert rule_of(server, path, target=f"rebind.example.test:{echo6.port}") == "FILE:1"
        with server.client() as client:  # 127.0.0.1 is skipped; ::1 is allowed by rule 2
            reply = client.connect("mixed.example.test", echo6.port)
            assert reply.host == "::1", reply
            client.send(b"v6")
            client.expect(b"v6")
        assert echo6.next_peer()[0] == "::1"
        assert rule_of(server, path, target=f"mixed.example.test:{echo6.port}") == "FILE:2"
        # The literal, plain and IPv4-mapped, by rule 1 too.
        for literal, shown in (("127.0.0.1", "127.0.0.1"),
                               ("::ffff:127.0.0.1", "[::ffff:127.0.0.1]")):
            with server.client() as client:
                refused(client, literal, echo6.port)
            assert rule_of(server, path, target=f"{shown}:{echo6.port}") == "FILE:1"
    finally:
        responder.close()


def test_no_rule_field_without_rules_file(socks5d, echo):
    server = socks5d()
    with server.client() as client:
        echoes(client, "127.0.0.1", echo.port)
    server.wait_access_log(reply="00")
    assert not any(" rule=" in line for line in server.lines), server.stderr


# ---------------------------------------------------------------------------
# BIND


def test_bind_expected_peer_is_decided(socks5d, tmp_path):
    path = rules_file(tmp_path, "allow cmd=bind to=127.0.0.1\ndeny cmd=bind\n")
    server = socks5d(f"--rules_file={path}")
    client, first = start_bind(server, "127.0.0.1", 21)
    with client:
        assert first.rep == REP_SUCCEEDED, first
        peer = connect_from("127.0.0.1", first.address)
        with peer:
            second = client.read_reply()
            assert second.raw == reply_bytes(0, "127.0.0.1", peer.getsockname()[1]), second
    with server.client() as client:
        refused(client, "127.0.0.2", 21, cmd=CMD_BIND)
    assert rule_of(server, path, cmd="BIND", target="127.0.0.2:21") == "FILE:2"
    assert rule_of(server, path, cmd="BIND", target="127.0.0.1:21") == "FILE:1"


def test_bind_incoming_peer_must_be_allowed(socks5d, tmp_path):
    """DST 0.0.0.0 accepts anyone by RFC 1928; the rules still decide each incoming peer."""
    path = rules_file(tmp_path, "allow cmd=bind to=127.0.0.2\n")
    server = socks5d(f"--rules_file={path}")
    client, first = start_bind(server, "0.0.0.0", 0)
    with client:
        assert first.rep == REP_SUCCEEDED, first
        assert_peer_refused("127.0.0.1", first.address)
        server.wait_for_line(r"refused a connection from 127\.0\.0\.1:\d+ \(rule=default\)")
        peer = connect_from("127.0.0.2", first.address)
        with peer:
            second = client.read_reply()
            assert second.raw == reply_bytes(0, "127.0.0.2", peer.getsockname()[1]), second
            peer.sendall(b"to client")
            client.expect(b"to client")
    assert rule_of(server, path, cmd="BIND") == "FILE:1"


def test_bind_domain_skips_denied_addresses(socks5d, tmp_path):
    responder = DnsResponder({"ftp.example.test": {"A": ["127.0.0.2", "127.0.0.1"]}})
    try:
        path = rules_file(tmp_path, "deny to=127.0.0.2\nallow cmd=bind\n")
        server = socks5d(responder.server_flag, f"--rules_file={path}")
        client, first = start_bind(server, "ftp.example.test", 21)
        with client:
            assert first.rep == REP_SUCCEEDED, first
            assert_peer_refused("127.0.0.2", first.address)  # resolved, but denied
            peer = connect_from("127.0.0.1", first.address)
            with peer:
                second = client.read_reply()
                assert second.raw == reply_bytes(0, "127.0.0.1", peer.getsockname()[1])
        assert rule_of(server, path, cmd="BIND") == "FILE:2"
    finally:
        responder.close()


# ---------------------------------------------------------------------------
# UDP ASSOCIATE


def test_udp_datagrams_are_decided_one_by_one(socks5d, tmp_path):
    echo = UdpEcho("127.0.0.1")
    denied = UdpPeer("127.0.0.1")
    responder = DnsResponder({"blocked.example.test": {"A": ["127.0.0.1"]},
                              "echo.example.test": {"A": ["127.0.0.1"]}})
    try:
        path = rules_file(tmp_path,
                          f"deny to=127.0.0.1 port={denied.port}\n"
                          "deny to=blocked.example.test\n"
                          "allow cmd=udp\n")
        server = socks5d(responder.server_flag, f"--rules_file={path}")
        with Association(server) as a:
            # Bad ones first, then a good one: the good one arriving first proves the drops.
            a.send("127.0.0.1", denied.port, b"no1")
            a.send("127.0.0.1", denied.port, b"no2")  # the cached decision
            a.send("blocked.example.test", echo.port, b"no3")
            a.send("127.0.0.1", echo.port, b"yes")
            assert a.recv() == (0, "127.0.0.1", echo.port, b"yes")
            a.send("echo.example.test", echo.port, b"named")
            assert a.recv() == (0, "127.0.0.1", echo.port, b"named")
            a.send("blocked.example.test", echo.port, b"no4")  # cached name, still denied
            a.send("127.0.0.1", echo.port, b"again")
            assert a.recv() == (0, "127.0.0.1", echo.port, b"again")
        fields = access_fields(server)
        assert fields["drop_denied"] == 4, fields
        assert fields["dgrams_up"] == 3, fields
        assert rule_of(server, path, cmd="UDP_ASSOCIATE") == "FILE:3"
        with pytest.raises(AssertionError):
            denied.recv(timeout=0.2)
    finally:
        responder.close()
        echo.close()
        denied.close()


def test_udp_association_refused_by_command(socks5d, tmp_path):
    path = rules_file(tmp_path, "allow cmd=connect\n")
    server = socks5d(f"--rules_file={path}")
    with server.client() as client:
        refused(client, "0.0.0.0", 0, cmd=CMD_UDP_ASSOCIATE)
    assert rule_of(server, path, cmd="UDP_ASSOCIATE") == "default"


# ---------------------------------------------------------------------------
# Start-up and --check_config


MALFORMED = [
    ("allow port=80 port=443\n", 1, "repeated key 'port'"),
    ("# ok\nallow to=10.0.0.0/33\n", 2, "bad CIDR or IP in to=: '10.0.0.0/33'"),
    ("allow\n\ndeny rate=1M\n", 3, "rate= is only allowed on allow rules"),
    ("allow egress=127.0.0.1,127.0.0.2\n", 1, "egress= has two IPv4 addresses"),
    ("permit user=alice\n", 1, "expected allow or deny, got 'permit'"),
    ("allow colour=blue\n", 1, "unknown key 'colour'"),
]


@pytest.mark.parametrize("text,line,message", MALFORMED)
def test_malformed_rules_file_stops_start_up(socks5d, tmp_path, text, line, message):
    path = rules_file(tmp_path, text)
    server = socks5d(f"--rules_file={path}", wait=False)
    server.expect_exit = True
    rc, output = server.wait_exit()
    assert rc == 1, f"rc={rc}; output:\n{output}"
    assert f"{path}:{line}: {message}" in output, output
    assert "listening on" not in output, output


def test_missing_rules_file_stops_start_up(socks5d, tmp_path):
    server = socks5d(f"--rules_file={tmp_path}/absent", wait=False)
    server.expect_exit = True
    rc, output = server.wait_exit()
    assert rc == 1 and f"cannot read '{tmp_path}/absent'" in output, output


def _check_config(socks5d, *flags):
    """Runs `socks5d --check_config FLAGS` to its end; (exit status, stdout + stderr)."""
    if not any(f.startswith("--listen=") for f in flags):
        flags = (*flags, "--listen=127.0.0.1:0")
    result = subprocess.run([str(socks5lib.binary_path()), "--check_config", *flags],
                            stdin=subprocess.DEVNULL, capture_output=True,
                            timeout=deadline(30))
    output = result.stdout.decode(errors="replace") + result.stderr.decode(errors="replace")
    assert not socks5lib.SANITIZER_RE.search(output), output
    return result.returncode, output


def test_check_config_accepts_a_valid_configuration_without_listening(socks5d, users_file,
                                                                      tmp_path):
    path = rules_file(tmp_path, "deny to=127.0.0.0/8\nallow user=alice port=80,443\n")
    # A port someone already listens on: a server that tried to listen would fail.
    holder = TcpListener("127.0.0.1")
    try:
        rc, output = _check_config(socks5d, f"--listen=127.0.0.1:{holder.port}",
                                   f"--users_file={users_file}", f"--rules_file={path}")
        assert rc == 0, output
        assert f"configuration OK (--rules_file={path}: 2 rules)" in output, output
        assert "listening on" not in output, output
        holder.assert_no_connection(0.1)
    finally:
        holder.close()


@pytest.mark.parametrize("text,line,message", MALFORMED[:3])
def test_check_config_reports_a_malformed_rules_file(socks5d, tmp_path, text, line, message):
    path = rules_file(tmp_path, text)
    rc, output = _check_config(socks5d, f"--rules_file={path}")
    assert rc == 1, output
    assert f"{path}:{line}: {message}" in output, output
    assert "configuration OK" not in output


def test_check_config_reports_bad_flags_and_users(socks5d, tmp_path):
    rc, output = _check_config(socks5d, "--workers=-1")
    assert rc == 1 and "--workers must not be negative" in output, output
    users = tmp_path / "users"
    users.write_text("alice:pw\nnocolon\n")
    rc, output = _check_config(socks5d, f"--users_file={users}")
    assert rc == 1 and f"{users}:2: expected user:password" in output, output


def test_rules_naming_users_without_users_file_warn(socks5d, tmp_path):
    path = rules_file(tmp_path, "allow user=alice\n")
    rc, output = _check_config(socks5d, f"--rules_file={path}")
    assert rc == 0, output
    assert f"{path}:1: user= names authenticated users, but --users_file is not set" in output


def test_rules_naming_unknown_users_warn(socks5d, users_file, tmp_path):
    path = rules_file(tmp_path, "allow user=alice,carol\nallow user=bob\n")
    rc, output = _check_config(socks5d, f"--users_file={users_file}", f"--rules_file={path}")
    assert rc == 0, output
    assert f"{path}:1: user 'carol' is not in --users_file (1 such names in the rules)" in output
    assert "'bob'" not in output and "'alice'" not in output, output
