"""Defect 1: the handshake deadline and the drain timer captured `&socket`; when the timer and
the client's EOF complete in the same reactor pass the timer closes a freed socket.

Only the AddressSanitizer build (SOCKS5D_SANITIZED=1) can see the use-after-free itself; the
release build runs the same race and checks only that the server keeps serving and exits 0."""

import random
import re
import time

import socks5lib
from advlib import attacker_source, connect_from
from socks5lib import deadline

ROUNDS = 1500          # connections per race
JITTER = 0.015         # each close lands within +-15 ms of the timer
HANDSHAKE_TIMEOUT = 0.3
DRAIN_TIMER = 1.0      # AsyncCloseGracefully waits this long for the client's EOF
BATCH = 300            # connections opened together; the next batch after these closed


def _race(port, payload, close_after, wait_reply=None):
    """Opens BATCH connections at a time (each from its own 127.1.x.y), sends payload on each and closes each at its own
    instant close_after +- JITTER after its send (after the reply to it, if wait_reply bytes)."""
    done = 0
    while done < ROUNDS:
        socks, schedule = [], []
        for i in range(min(BATCH, ROUNDS - done)):
            sock = connect_from(port, attacker_source(done + i))
            sock.sendall(payload)
            socks.append(sock)
        for sock in socks:
            start = time.monotonic()
            if wait_reply:
                got = socks5lib.recv_exact(sock, wait_reply, deadline(5), what="failure reply")
                assert got, "no reply"
                start = time.monotonic()
            schedule.append((start + close_after + random.uniform(-JITTER, JITTER), sock))
        schedule.sort(key=lambda item: item[0])
        for when, sock in schedule:
            pause = when - time.monotonic()
            if pause > 0:
                time.sleep(pause)  # the attack's timing, not a wait for the server
            sock.close()
        done += len(socks)


def _run_race(server, *args, **kwargs):
    """_race, failing with the sanitizer's summary when the server died under it."""
    try:
        _race(server.port, *args, **kwargs)
    except (OSError, AssertionError) as e:
        summary = re.search(r"SUMMARY: \w+Sanitizer: .*", server.stderr)
        raise AssertionError(
            f"the race broke the server ({e!r}); rc={server.proc.poll()}; "
            f"{summary.group(0) if summary else 'no sanitizer summary'}") from None
    summary = re.search(r"SUMMARY: \w+Sanitizer: .*", server.stderr)
    assert summary is None, summary.group(0)
    assert server.running(), "socks5d died during the race:\n" + server.stderr[-6000:]


def _still_serves(server, echo_server):
    with server.client() as client:
        client.connect("127.0.0.1", echo_server.port)
        client.send(b"after the race")
        client.expect(b"after the race")


def _stops_cleanly(server):
    rc = server.stop()
    assert not server.sanitizer_report(), "sanitizer report:\n" + server.stderr[-6000:]
    assert rc == 0, f"socks5d exited with {rc} on SIGTERM after the race"


def test_handshake_deadline_races_client_eof(adv_server, echo_server):
    server = adv_server(f"--handshake_timeout={int(HANDSHAKE_TIMEOUT * 1000)}ms", nofile=20000)
    # One greeting byte: the session waits for the rest until the handshake deadline.
    _run_race(server, b"\x05", HANDSHAKE_TIMEOUT)
    _still_serves(server, echo_server)
    _stops_cleanly(server)


def test_drain_timer_races_client_eof(adv_server, echo_server):
    server = adv_server("--handshake_timeout=10s", nofile=20000)
    # Only username/password offered and no users file: 05 FF, then the server drains the
    # connection for DRAIN_TIMER waiting for the client's EOF; the client closes as it fires.
    _run_race(server, socks5lib.greeting(socks5lib.METHOD_USERPASS), DRAIN_TIMER, wait_reply=2)
    _still_serves(server, echo_server)
    _stops_cleanly(server)
