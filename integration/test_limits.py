"""--max_sessions_per_user: sessions per authenticated user, counted across workers.

Over the cap the request (read after a successful RFC 1929 exchange) is answered 02 and the
access log says limit=user; other users are unaffected, and a session ending frees its place.

Rate caps (a rules file's rate=) need the rules wiring; until it is merged they are tested at
the relay level: tests/relay/tcp_relay_test.cc (a 10 s transfer at 1 MB/s within 10%, spliced)
and tests/relay/udp_relay_test.cc (datagrams over the rate dropped and counted).
"""

import time

import pytest

from socks5lib import (PASSWORD, REP_NOT_ALLOWED, REP_SUCCEEDED, USER, assert_closed, deadline,
                       request)


def open_session(server, echo_server, user, password):
    """A CONNECT to the echo server as `user`; returns (client, reply)."""
    client = server.client()
    client.handshake(user, password)
    client.send(request("127.0.0.1", echo_server.port))
    return client, client.read_reply(timeout=deadline(10))


def limit_lines(server):
    return [line for line in server.stderr.splitlines()
            if line.find("access ") >= 0 and " limit=user" in line]


@pytest.mark.parametrize("workers", [1, 3])
def test_sessions_over_the_per_user_cap_get_02(socks5d, users_file, echo_server, workers):
    server = socks5d(f"--users_file={users_file}", "--max_sessions_per_user=2",
                     f"--workers={workers}")
    held = []
    # Several connections, so with SO_REUSEPORT they land on more than one worker.
    for _ in range(2):
        client, reply = open_session(server, echo_server, USER, PASSWORD)
        assert reply.rep == REP_SUCCEEDED, reply
        client.send(b"ping")
        assert client.recv_exact(4) == b"ping"
        held.append(client)
    for attempt in range(3):
        client, reply = open_session(server, echo_server, USER, PASSWORD)
        assert reply.rep == REP_NOT_ALLOWED, f"attempt {attempt}: {reply}"
        assert_closed(client.sock, deadline(5))
        client.close()
    # Another user is not counted against alice.
    bob, reply = open_session(server, echo_server, "bob", "hunter2")
    assert reply.rep == REP_SUCCEEDED, reply
    end = time.monotonic() + deadline(5)
    while len(limit_lines(server)) < 3 and time.monotonic() < end:
        time.sleep(0.02)
    lines = limit_lines(server)
    assert len(lines) == 3 and all(f"user={USER} " in line for line in lines), lines
    # A session ending frees its place.
    held.pop().close()
    server.wait_access_log(user=USER, reply="00")
    client, reply = open_session(server, echo_server, USER, PASSWORD)
    assert reply.rep == REP_SUCCEEDED, reply
    held.append(client)
    for c in held + [bob]:
        c.close()
    assert "max_sessions_per_user=2 reached for user alice" in server.stderr


def test_no_cap_by_default(socks5d, users_file, echo_server):
    server = socks5d(f"--users_file={users_file}")
    held = []
    for _ in range(20):
        client, reply = open_session(server, echo_server, USER, PASSWORD)
        assert reply.rep == REP_SUCCEEDED, reply
        held.append(client)
    for c in held:
        c.close()
    assert not limit_lines(server)


def test_negative_cap_stops_start_up(socks5d, users_file):
    server = socks5d(f"--users_file={users_file}", "--max_sessions_per_user=-1", wait=False)
    server.expect_exit = True
    rc, output = server.wait_exit()
    assert rc > 0 and "--max_sessions_per_user" in output, output
