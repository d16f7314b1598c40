"""Defect 9: SIGHUP and SIGUSR1 killed the process at once, dropping every session.
Defect 10: the raw domain went into a debug line (a name with "\\n" forged a whole access
line), and a failed login logged the offered name even when it is no user (a password typed
into the user field ends up in the log)."""

import re
import signal

import pytest

import socks5lib
from advlib import wait_until
from assumed import LOG_AUTH_UNKNOWN, LOG_RELOADED, LOG_SIGNAL_IGNORED
from socks5lib import PASSWORD, USER, deadline, request

LINE_RE = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z [DIWE] |\[stdout\] )")


@pytest.mark.parametrize("signo,logged", [(signal.SIGHUP, LOG_RELOADED),
                                          (signal.SIGUSR1, LOG_SIGNAL_IGNORED)],
                         ids=["SIGHUP", "SIGUSR1"])
def test_signal_is_logged_and_not_fatal(adv_server, echo_server, signo, logged):
    server = adv_server()
    with server.client() as session:
        session.connect("127.0.0.1", echo_server.port)
        session.send(b"before")
        session.expect(b"before")
        server.proc.send_signal(signo)
        server.wait_for_line(logged, timeout=deadline(5))
        assert server.running(), f"socks5d died on signal {signo.name}"
        session.send(b"after")  # the session in flight is not dropped
        session.expect(b"after")
    with server.client() as fresh:  # and new clients are served
        fresh.connect("127.0.0.1", echo_server.port)


def test_client_closing_while_the_server_writes(adv_server):
    """SIGPIPE must never matter: a client that resets while the relay writes to it (a guard:
    this already holds on today's main)."""
    source = socks5lib.SourceServer(b"z" * (8 << 20))
    try:
        server = adv_server()
        for _ in range(20):
            client = server.client()
            client.connect("127.0.0.1", source.port)
            client.recv_exact(1 << 16)
            client.reset()
        with server.client() as again:
            again.connect("127.0.0.1", source.port)
            again.recv_exact(1 << 16)
        assert server.running()
    finally:
        source.close()


def _foreign_lines(server):
    return [line for line in server.lines if not LINE_RE.match(line)]


def test_domain_with_newline_cannot_forge_log_lines(adv_server):
    dns = socks5lib.DnsResponder({})  # NXDOMAIN for everything: the resolve-failed path
    forged = b"evil\n2026-01-01T00:00:00.000Z I access client=6.6.6.6:1 user=root cmd=CONNECT"
    also = b"bell\x07esc\x1b[31mred\rcr\x00nul\xff"
    try:
        server = adv_server(dns.server_flag, "--log_level=debug")
        for name in (forged, also):
            with server.client() as client:
                client.handshake()
                client.send(request(name, 80))
                client.read_reply(timeout=deadline(5))
        # Both sessions' access lines are out (each is written after its debug lines).
        wait_until(lambda: server.count_lines(r"Z I access client=127\.0\.0\.1:") >= 2,
                   deadline(5), "two access lines")
        text = server.stderr
        assert "2026-01-01T00:00:00.000Z" not in [line[:24] for line in server.lines], \
            f"a domain with a newline forged a log line:\n{text[-3000:]}"
        assert not _foreign_lines(server), f"lines not written by the logger: {_foreign_lines(server)}"
        for raw in ("\x07", "\x1b", "\r", "\x00"):
            assert raw not in text, f"control byte {raw!r} from the wire reached the log"
    finally:
        dns.close()


def _failed_login(server, user, password):
    with server.client() as client:
        client.send(socks5lib.greeting(socks5lib.METHOD_USERPASS))
        client.expect(b"\x05\x02")
        client.send(socks5lib.userpass(user, password))
        client.expect(b"\x01\x01")
        client.assert_closed()


def test_unknown_user_name_is_not_logged(adv_server, users_file):
    typed_password = "Tr0ub4dor&3-typed-in-the-user-field"
    server = adv_server(f"--users_file={users_file}")
    _failed_login(server, typed_password, "whatever")
    _failed_login(server, USER, PASSWORD + "-wrong")
    server.wait_for_line(rf"auth failed client=\S+ user={USER}\b", timeout=deadline(5))
    assert typed_password not in server.stderr, \
        f"an unknown user name (maybe a password) was logged:\n{server.stderr[-2000:]}"
    match = server.wait_for_line(LOG_AUTH_UNKNOWN, timeout=deadline(2))
    assert int(match.group(1)) == len(typed_password)
