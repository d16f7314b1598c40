"""Start-up flags: open-proxy refusal, bad values, IPv6 and multiple listeners, shutdown."""

import socket

import pytest

from socks5lib import Socks5Client, deadline


def _expect_failure(socks5d, *flags):
    server = socks5d(*flags, wait=False)
    server.expect_exit = True
    rc, output = server.wait_exit()
    assert rc != 0, f"socks5d {flags} exited with 0; output:\n{output}"
    assert rc > 0, f"socks5d {flags} died of signal {-rc} instead of exiting; output:\n{output}"
    assert output.strip(), "no error message"
    assert "listening on" not in output, output
    return output


@pytest.mark.parametrize("listen", ["0.0.0.0:0", "[::]:0", "127.0.0.1:0,0.0.0.0:0"])
def test_open_proxy_refused_without_users_file(socks5d, listen):
    output = _expect_failure(socks5d, f"--listen={listen}")
    assert "--users_file" in output and "--allow_open_proxy" in output, output


def test_open_proxy_allowed_with_flag(socks5d):
    server = socks5d("--listen=0.0.0.0:0", "--allow_open_proxy")
    assert server.endpoints[0][0] == "0.0.0.0"
    with Socks5Client(server.port, "127.0.0.1") as client:
        client.send(b"\x05\x01\x00")
        client.expect(b"\x05\x00")


def test_non_loopback_with_users_file_starts(socks5d, users_file):
    server = socks5d("--listen=0.0.0.0:0", f"--users_file={users_file}")
    with Socks5Client(server.port, "127.0.0.1") as client:
        client.send(b"\x05\x01\x02")
        client.expect(b"\x05\x02")


@pytest.mark.parametrize("flag,name", [
    ("--listen=nonsense", "listen"),
    ("--listen=127.0.0.1", "listen"),
    ("--listen=127.0.0.1:99999", "listen"),
    ("--listen=300.1.1.1:0", "listen"),
    ("--listen=", "listen"),
    ("--handshake_timeout=abc", "handshake_timeout"),
    ("--connect_timeout=-1s", "connect_timeout"),
    ("--workers=many", "workers"),
    ("--max_sessions=-5", "max_sessions"),
    ("--log_level=loud", "log_level"),
    ("--deny_destinations=not-a-cidr", "deny_destinations"),
    ("--deny_destinations=10.0.0.0/33", "deny_destinations"),
    ("--dns_servers=nowhere", "dns_servers"),
    ("--bind_port_range=9000-8000", "bind_port_range"),
    ("--udp_reply_policy=sometimes", "udp_reply_policy"),
    ("--no_such_flag=1", "no_such_flag"),
    # issue 11, defects 6, 7, 12
    ("--dns_max_in_flight=-1", "dns_max_in_flight"),
    ("--dns_queries_per_channel=-1", "dns_queries_per_channel"),
    ("--udp_max_lookups_per_association=-1", "udp_max_lookups_per_association"),
    ("--udp_memory_budget=1000", "udp_memory_budget"),
])
def test_bad_flag_value_fails_clearly(socks5d, flag, name):
    output = _expect_failure(socks5d, flag)
    assert name in output, f"error for {flag} does not name the flag:\n{output}"


def test_missing_users_file_fails(socks5d, tmp_path):
    missing = tmp_path / "no-such-users-file"
    output = _expect_failure(socks5d, f"--users_file={missing}")
    assert str(missing) in output or "users_file" in output, output


def test_malformed_users_file_fails(socks5d, tmp_path):
    path = tmp_path / "users"
    path.write_text("alice:pw\nthis line has no colon\n")
    output = _expect_failure(socks5d, f"--users_file={path}")
    assert "users" in output, output


def test_ipv6_loopback_listener(socks5d, echo_server):
    server = socks5d("--listen=[::1]:0")
    assert server.endpoints == [("::1", server.port)]
    with Socks5Client(server.port, "::1") as client:
        client.connect("127.0.0.1", echo_server.port)
        client.send(b"via v6 listener")
        client.expect(b"via v6 listener")
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", server.port), timeout=2).close()


def test_two_listeners_in_one_flag(socks5d, echo_server):
    server = socks5d("--listen=127.0.0.1:0,[::1]:0")
    hosts = sorted(host for host, _ in server.endpoints)
    assert hosts == ["127.0.0.1", "::1"], server.endpoints
    for host, port in server.endpoints:
        with Socks5Client(port, host) as client:
            client.connect("127.0.0.1", echo_server.port)
            client.send(host.encode())
            client.expect(host.encode())


def test_listening_line_reports_real_port(socks5d):
    server = socks5d()
    assert server.port != 0
    probe = socket.create_connection(("127.0.0.1", server.port), timeout=deadline(5))
    probe.close()


def test_sigterm_exits_cleanly(socks5d, echo_server):
    server = socks5d("--shutdown_grace=1s")
    with server.client() as client:
        client.connect("127.0.0.1", echo_server.port)
    rc = server.stop(timeout=deadline(5))
    assert rc == 0, f"exit code {rc} after SIGTERM; output:\n{server.stderr}"


def test_sigterm_with_open_session_exits_within_grace(socks5d, echo_server):
    import time
    server = socks5d("--shutdown_grace=1s")
    client = server.client()
    client.connect("127.0.0.1", echo_server.port)
    start = time.monotonic()
    rc = server.stop(timeout=deadline(5))
    elapsed = time.monotonic() - start
    client.close()
    assert rc == 0, f"exit code {rc}; output:\n{server.stderr}"
    assert elapsed < deadline(4), f"took {elapsed:.2f}s with --shutdown_grace=1s"


@pytest.mark.parametrize("workers", [1, 4])
def test_workers_flag(socks5d, echo_server, workers):
    server = socks5d(f"--workers={workers}")
    clients = [server.client() for _ in range(8)]
    try:
        for i, client in enumerate(clients):
            client.connect("127.0.0.1", echo_server.port)
            client.send(b"w%d" % i)
        for i, client in enumerate(clients):
            client.expect(b"w%d" % i)
    finally:
        for client in clients:
            client.close()
