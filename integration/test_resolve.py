"""docs/conformance.md section T: Tor's SOCKS extensions RESOLVE (F0) and RESOLVE_PTR (F1), and
method 02 without a users file (any credentials, as Tor accepts them for stream isolation).

Every name is looked up through a socks5lib.DnsResponder on loopback (--dns_servers); the
addresses in its answers (192.0.2.0/24, 2001:db8::/32) are only ever sent back to the client,
never connected to."""

import ipaddress
import socket
import time

import pytest

from socks5lib import (PASSWORD, USER, DnsResponder, deadline, failure_reply, greeting,
                       request, userpass)

CMD_RESOLVE = 0xF0
CMD_RESOLVE_PTR = 0xF1

V4 = "192.0.2.7"
V6 = "2001:db8::7"
RECORDS = {
    "v4.test": {"A": [V4]},
    "v6.test": {"AAAA": [V6]},
    "both.test": {"A": [V4], "AAAA": [V6]},
    "zero.test": {"A": ["0.0.0.0"]},
    ipaddress.ip_address(V4).reverse_pointer: {"PTR": ["ptr4.test."]},
    ipaddress.ip_address(V6).reverse_pointer: {"PTR": ["ptr6.test."]},
}


@pytest.fixture
def dns():
    responder = DnsResponder(RECORDS)
    yield responder
    responder.close()


@pytest.fixture
def silent_sock():
    """A UDP socket posing as a DNS server that never answers (the test may read its queries)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    yield sock
    sock.close()


@pytest.fixture
def silent_dns(silent_sock):
    return f"--dns_servers=127.0.0.1:{silent_sock.getsockname()[1]}"


def answer(atyp, body):
    """05 00 00 ATYP BND.ADDR 00 00: a RESOLVE / RESOLVE_PTR answer (BND.PORT is 0)."""
    return bytes([5, 0, 0, atyp]) + body + b"\x00\x00"


def ask(server, host, cmd, port=0, methods=(0x00,), creds=None):
    """Handshake (no-auth, or 02 with creds), then the request; returns the open client."""
    client = server.client()
    client.send(greeting(*methods))
    if creds:
        client.expect(b"\x05\x02")
        client.send(userpass(*creds))
        client.expect(b"\x01\x00")
    else:
        client.expect(b"\x05\x00")
    client.send(request(host, port, cmd=cmd))
    return client


def resolve(server, host, expected, cmd=CMD_RESOLVE, timeout=None, **kwargs):
    """Sends the request and checks the exact reply bytes, then the close."""
    with ask(server, host, cmd, **kwargs) as client:
        client.expect(expected, timeout=timeout)
        client.assert_closed()


# ---- RESOLVE (F0) ----

def test_t1_resolve_a(socks5d, dns):
    server = socks5d(dns.server_flag)
    resolve(server, "v4.test", answer(1, ipaddress.ip_address(V4).packed))
    log = server.wait_access_log(cmd="RESOLVE", target="v4.test:0")
    assert log["reply"] == "00"
    assert f"bound={V4}:0" in next(l for l in server.lines if "cmd=RESOLVE" in l)


def test_t1_resolve_aaaa(socks5d, dns):
    server = socks5d(dns.server_flag)
    resolve(server, "v6.test", answer(4, ipaddress.ip_address(V6).packed))
    server.wait_access_log(cmd="RESOLVE", target="v6.test:0", reply="00")


def test_t1_resolve_name_with_both_families_answers_ipv4(socks5d, dns):
    """One address for a name with A and AAAA: the IPv4 one, as Tor answers (torsocks, asking
    for an AF_INET getaddrinfo(), cannot take an IPv6 answer)."""
    server = socks5d(dns.server_flag)
    with ask(server, "both.test", CMD_RESOLVE, port=443) as client:
        client.expect(answer(1, ipaddress.ip_address(V4).packed))
        client.assert_closed()
    server.wait_access_log(cmd="RESOLVE", target="both.test:443", reply="00")


def test_t1_resolve_ip_literal_answers_itself(socks5d, dns):
    server = socks5d(dns.server_flag)
    resolve(server, V6, answer(4, ipaddress.ip_address(V6).packed))
    assert dns.queries == []


def test_t1_resolve_nxdomain_is_04(socks5d, dns):
    server = socks5d(dns.server_flag)
    resolve(server, "nowhere.test", failure_reply(0x04))
    server.wait_access_log(cmd="RESOLVE", target="nowhere.test:0", reply="04")


def test_t1_resolve_to_unspecified_is_04(socks5d, dns):
    server = socks5d(dns.server_flag)
    resolve(server, "zero.test", failure_reply(0x04))


def test_t1_resolve_timeout_is_04_at_the_dns_timeout(socks5d, silent_dns):
    server = socks5d(silent_dns, "--dns_timeout=1s", "--handshake_timeout=10s")
    start = time.monotonic()
    resolve(server, "slow.test", failure_reply(0x04), timeout=deadline(5))
    elapsed = time.monotonic() - start
    assert 0.8 <= elapsed < deadline(3), elapsed
    server.wait_access_log(cmd="RESOLVE", target="slow.test:0", reply="04")


def test_t1_silent_dns_cannot_outlive_the_timeouts(socks5d, silent_dns):
    """Handshake 1 s, DNS 2 s: a client that never finishes its F0 request is cut at the
    handshake deadline; one whose lookup hangs gets 04 at the DNS deadline, then the close."""
    server = socks5d(silent_dns, "--dns_timeout=2s", "--handshake_timeout=1s")
    start = time.monotonic()
    partial = server.client()
    partial.send(greeting(0) + b"\x05\xf0\x00\x03\x09slow")
    hanging = ask(server, "slow2.test", CMD_RESOLVE)
    partial.expect(b"\x05\x00")
    partial.assert_closed(timeout=deadline(4))
    assert time.monotonic() - start < deadline(2), "the partial request outlived the handshake"
    partial.close()
    hanging.expect(failure_reply(0x04), timeout=deadline(5))
    hanging.assert_closed()
    elapsed = time.monotonic() - start
    assert 1.8 <= elapsed < deadline(3.5), elapsed
    hanging.close()


def test_t1_clients_gone_during_the_lookup(socks5d, silent_dns):
    """Clients that go away while their lookup hangs: each session still ends (logged, 04 at
    the DNS timeout, the write failing or not), and the server keeps serving."""
    server = socks5d(silent_dns, "--dns_timeout=1s")
    for i in range(10):
        client = ask(server, f"gone{i}.test", CMD_RESOLVE)
        client.reset() if i % 2 else client.close()
    resolve(server, V4, answer(1, ipaddress.ip_address(V4).packed))
    deadline_at = time.monotonic() + deadline(10)
    while sum(1 for log in server.access_logs() if log["target"].startswith("gone")) < 10:
        assert time.monotonic() < deadline_at, server.access_logs()
        time.sleep(0.1)


def test_t1_dns_cap_answers_04_at_once(socks5d, silent_dns, silent_sock):
    """--dns_max_in_flight counts RESOLVE and RESOLVE_PTR queries: over it, 04 at once."""
    server = socks5d(silent_dns, "--dns_max_in_flight=1", "--dns_timeout=3s", "--workers=1")
    pending = ask(server, "pending.test", CMD_RESOLVE)
    silent_sock.settimeout(deadline(5))
    silent_sock.recvfrom(512)  # the first lookup's query is out: it is in flight
    start = time.monotonic()
    resolve(server, "second.test", failure_reply(0x04))
    resolve(server, V4, failure_reply(0x04), cmd=CMD_RESOLVE_PTR)
    assert time.monotonic() - start < deadline(1.5)
    pending.expect(failure_reply(0x04), timeout=deadline(6))
    pending.close()


# ---- RESOLVE_PTR (F1) ----

def test_t2_resolve_ptr_v4(socks5d, dns):
    server = socks5d(dns.server_flag)
    resolve(server, V4, answer(3, b"\x09ptr4.test"), cmd=CMD_RESOLVE_PTR)
    assert (ipaddress.ip_address(V4).reverse_pointer, "PTR") in dns.queries
    log = server.wait_access_log(cmd="RESOLVE_PTR", target=f"{V4}:0")
    assert log["reply"] == "00"
    assert "bound=ptr4.test:0" in next(l for l in server.lines if "cmd=RESOLVE_PTR" in l)


def test_t2_resolve_ptr_v6(socks5d, dns):
    server = socks5d(dns.server_flag)
    resolve(server, V6, answer(3, b"\x09ptr6.test"), cmd=CMD_RESOLVE_PTR)
    server.wait_access_log(cmd="RESOLVE_PTR", target=f"[{V6}]:0", reply="00")


def test_t2_resolve_ptr_of_a_literal_spelled_as_a_name(socks5d, dns):
    server = socks5d(dns.server_flag)
    resolve(server, V4.encode(), answer(3, b"\x09ptr4.test"), cmd=CMD_RESOLVE_PTR)


def test_t2_resolve_ptr_of_a_mapped_address_asks_the_ipv4_ptr(socks5d, dns):
    server = socks5d(dns.server_flag)
    resolve(server, f"::ffff:{V4}", answer(3, b"\x09ptr4.test"), cmd=CMD_RESOLVE_PTR)


def test_t2_resolve_ptr_of_a_name_is_08(socks5d, dns):
    server = socks5d(dns.server_flag)
    resolve(server, "v4.test", failure_reply(0x08), cmd=CMD_RESOLVE_PTR)
    assert dns.queries == []


def test_t2_resolve_ptr_nxdomain_is_04(socks5d, dns):
    server = socks5d(dns.server_flag)
    resolve(server, "192.0.2.99", failure_reply(0x04), cmd=CMD_RESOLVE_PTR)
    server.wait_access_log(cmd="RESOLVE_PTR", target="192.0.2.99:0", reply="04")


def test_t2_resolve_ptr_timeout_is_04(socks5d, silent_dns):
    server = socks5d(silent_dns, "--dns_timeout=1s")
    start = time.monotonic()
    resolve(server, V6, failure_reply(0x04), cmd=CMD_RESOLVE_PTR, timeout=deadline(5))
    assert 0.8 <= time.monotonic() - start < deadline(3)


# ---- Rules, destination policy ----

@pytest.mark.parametrize("rules,cmd,host,rep", [
    ("deny cmd=resolve\nallow\n", CMD_RESOLVE, "v4.test", 0x02),
    ("deny cmd=resolve\nallow\n", CMD_RESOLVE_PTR, V4, 0x00),
    ("deny cmd=resolve_ptr\nallow\n", CMD_RESOLVE_PTR, V4, 0x02),
    ("deny cmd=resolve_ptr\nallow\n", CMD_RESOLVE, "v4.test", 0x00),
    ("allow cmd=connect\n", CMD_RESOLVE, "v4.test", 0x02),  # the implicit deny
    ("allow cmd=resolve,resolve_ptr\n", CMD_RESOLVE, "v4.test", 0x00),
    ("allow cmd=resolve to=.example\n", CMD_RESOLVE, "v4.test", 0x02),  # before any lookup
    ("deny to=192.0.2.0/24\nallow\n", CMD_RESOLVE, "v4.test", 0x02),  # the answer's address
    ("deny to=192.0.2.0/24\nallow\n", CMD_RESOLVE, "both.test", 0x00),  # the other one
    ("deny to=192.0.2.0/24\nallow\n", CMD_RESOLVE_PTR, V4, 0x02),
])
def test_t3_rules_decide(socks5d, dns, tmp_path, rules, cmd, host, rep):
    path = tmp_path / "rules"
    path.write_text(rules)
    server = socks5d(dns.server_flag, f"--rules_file={path}")
    with ask(server, host, cmd) as client:
        reply = client.read_reply()
        assert reply.rep == rep, reply
        if rep == 0 and host == "both.test":
            assert reply.host == V6, reply
        client.assert_closed()
    log = server.wait_access_log(cmd="RESOLVE" if cmd == CMD_RESOLVE else "RESOLVE_PTR")
    assert log["reply"] == f"{rep:02x}"
    line = next(l for l in server.lines if " cmd=RESOLVE" in l)
    assert " rule=" in line, line


def test_t3_denied_name_is_not_looked_up(socks5d, dns, tmp_path):
    path = tmp_path / "rules"
    path.write_text("deny cmd=resolve to=.test\nallow\n")
    server = socks5d(dns.server_flag, f"--rules_file={path}")
    resolve(server, "v4.test", failure_reply(0x02))
    assert dns.queries == []


def test_t3_deny_destinations_hides_the_answer(socks5d, dns):
    server = socks5d(dns.server_flag, "--deny_destinations=192.0.2.0/24")
    resolve(server, "v4.test", failure_reply(0x02))
    resolve(server, V4, failure_reply(0x02), cmd=CMD_RESOLVE_PTR)
    resolve(server, "v6.test", answer(4, ipaddress.ip_address(V6).packed))


# ---- Method 02 without a users file ----

def test_t4_userpass_only_without_users_file_accepts_any_credentials(socks5d, dns):
    server = socks5d(dns.server_flag)
    resolve(server, "v4.test", answer(1, ipaddress.ip_address(V4).packed), methods=(0x02,),
            creds=("torsocks-4242:1733100000", "0"))
    server.wait_access_log(cmd="RESOLVE", user="torsocks-4242:1733100000", reply="00")


def test_t4_no_auth_still_preferred_when_offered(socks5d):
    server = socks5d()
    with server.client() as client:
        client.send(greeting(0x00, 0x02))
        client.expect(b"\x05\x00")


def test_t4_accept_any_credentials_prefers_02(socks5d, echo_server):
    server = socks5d("--accept_any_credentials")
    with server.client() as client:
        client.send(greeting(0x00, 0x02))
        client.expect(b"\x05\x02")
        client.send(userpass("anyone", "anything"))
        client.expect(b"\x01\x00")
        client.send(request("127.0.0.1", echo_server.port))
        assert client.read_reply().rep == 0
        client.send(b"isolated")
        client.expect(b"isolated")
    with server.client() as client:  # no-auth alone still works
        client.connect("127.0.0.1", echo_server.port)
    server.wait_access_log(cmd="CONNECT", user="anyone", reply="00")


def test_t4_user_name_is_logged_escaped_and_used_by_rules(socks5d, dns, tmp_path):
    path = tmp_path / "rules"
    path.write_text("allow user=alice cmd=resolve\n")
    server = socks5d(dns.server_flag, f"--rules_file={path}")
    resolve(server, "v4.test", answer(1, ipaddress.ip_address(V4).packed), methods=(0x02,),
            creds=("alice", "x"))
    resolve(server, "v4.test", failure_reply(0x02), methods=(0x02,), creds=(b"bo\x01b", "x"))
    server.wait_access_log(cmd="RESOLVE", user="alice", reply="00")
    server.wait_access_log(cmd="RESOLVE", user="bo\\x01b", reply="02")


def test_t4_malformed_credentials_still_fail(socks5d):
    server = socks5d()
    with server.client() as client:
        client.send(greeting(0x02))
        client.expect(b"\x05\x02")
        client.send(b"\x01\x00\x01x")  # ULEN 0
        client.expect(b"\x01\x01")
        client.assert_closed()


@pytest.mark.parametrize("extra", [(), ("--accept_any_credentials",)])
def test_t4_users_file_unchanged(socks5d, users_file, extra):
    server = socks5d(f"--users_file={users_file}", *extra)
    with server.client() as client:
        client.send(greeting(0x02))
        client.expect(b"\x05\x02")
        client.send(userpass(USER, "wrong"))
        client.expect(b"\x01\x01")
        client.assert_closed()
    with server.client() as client:
        client.send(greeting(0x00))
        client.expect(b"\x05\xff")
    with server.client() as client:
        client.handshake(USER, PASSWORD)
