"""Defect 8: unauthenticated sockets took every session slot so clients with valid credentials
were locked out; RFC 1929 guessing had no throttle; every refused connection logged a line."""

import socket
import time

import socks5lib
from advlib import attacker_source, close_all, connect_from, readable_within, wait_until
from assumed import LOG_REFUSED_ONE, LOG_REFUSED_SUMMARY
from socks5lib import PASSWORD, USER, deadline

IDLE_SOCKETS = 500
GUESS_WINDOW = 5.0      # seconds of guessing measured
GUESS_WARMUP = 10       # the first failures may be fast
MAX_GUESS_RATE = 20.0   # failures per second after the warm-up
REFUSED = 3000
MAX_REFUSAL_LINES = 100


def _served(server, echo_port, user=USER, password=PASSWORD, source="127.0.0.1", timeout=3.0):
    try:
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=deadline(timeout),
                                        source_address=(source, 0))
        client = socks5lib.Socks5Client.__new__(socks5lib.Socks5Client)
        client.sock = sock
        with client:
            client.connect("127.0.0.1", echo_port, user, password)
            client.send(b"hi")
            client.expect(b"hi", timeout=deadline(timeout))
        return True
    except (AssertionError, OSError):
        return False


def test_idle_unauthenticated_sockets_do_not_lock_out_users(adv_server, users_file, echo_server):
    server = adv_server(f"--users_file={users_file}", f"--max_sessions={IDLE_SOCKETS}",
                        "--handshake_timeout=30s", nofile=20000)
    baseline = server.fd_count()
    idle = []
    try:
        for i in range(IDLE_SOCKETS):  # from 127.1.0.1 on: one address each
            idle.append(connect_from(server.port, attacker_source(i), timeout=deadline(2)))
        # Every idle socket is a session on the server, or was refused or shed (closed).
        def dealt_with():
            closed = sum(readable_within(sock, 0) for sock in idle)
            return server.fd_count() - baseline + closed >= IDLE_SOCKETS * 0.95
        wait_until(dealt_with, deadline(10), "the server accepting the idle sockets")
        served = [_served(server, echo_server.port) for _ in range(5)]
        assert sum(served) >= 4, (f"{IDLE_SOCKETS} idle unauthenticated sockets with "
                                  f"--max_sessions={IDLE_SOCKETS}: {sum(served)} of 5 clients with "
                                  f"valid credentials were served")
    finally:
        close_all(idle)


def _guess(server, password):
    """One wrong guess on a fresh connection: True when the failure status arrived."""
    try:
        with server.client() as client:
            client.send(socks5lib.greeting(socks5lib.METHOD_USERPASS))
            client.expect(b"\x05\x02", timeout=deadline(2))
            client.send(socks5lib.userpass(USER, password))
            return client.recv_exact(2, timeout=deadline(2)) == b"\x01\x01"
    except (AssertionError, OSError):
        return False


def test_password_guessing_is_throttled(adv_server, users_file, echo_server):
    server = adv_server(f"--users_file={users_file}")
    for i in range(GUESS_WARMUP):
        _guess(server, f"warmup{i}")
    failures, start = 0, time.monotonic()
    while time.monotonic() - start < GUESS_WINDOW and failures < 200:
        failures += _guess(server, f"guess{failures}")
    elapsed = time.monotonic() - start
    rate = failures / elapsed
    assert rate <= MAX_GUESS_RATE, (f"{failures} wrong RFC 1929 guesses from one address answered "
                                    f"in {elapsed:.2f}s ({rate:.0f}/s; bound {MAX_GUESS_RATE}/s)")
    # The throttle is per address: another address with the right password is served.
    assert _served(server, echo_server.port, source="127.0.0.2"), \
        "a client from another address with valid credentials was not served"


def test_refused_connection_warnings_are_rate_limited(adv_server):
    server = adv_server("--max_sessions=1")
    holder = server.client()
    holder.send(b"\x05\x01\x00")
    holder.expect(b"\x05\x00")
    try:
        for start in range(0, REFUSED, 250):
            batch = [socket.create_connection(("127.0.0.1", server.port), timeout=deadline(2))
                     for _ in range(250)]
            for sock in batch:  # each is closed by the server at once
                socks5lib.assert_closed(sock, deadline(2))
            close_all(batch)
        lines = server.count_lines(LOG_REFUSED_ONE)
        assert lines < MAX_REFUSAL_LINES, (
            f"{REFUSED} refused connections produced {lines} warning lines "
            f"(bound {MAX_REFUSAL_LINES}; a periodic summary instead)")
        summary = server.wait_for_line(LOG_REFUSED_SUMMARY, timeout=deadline(15))
        assert int(summary.group(1)) > 0
    finally:
        holder.close()
