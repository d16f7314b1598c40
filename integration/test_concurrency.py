"""Sessions of every command at once on a multi-worker server (the tsan step runs this file
under ThreadSanitizer): 50 CONNECTs, 10 BINDs and 10 UDP associations side by side against
--workers=2, each checking its bytes exactly. Every session's payload is distinct, so bytes
crossing between sessions (a race on a shared buffer) would be seen, not only lost bytes."""

import hashlib
import os
import socket
import threading
import time

import pytest

from socks5lib import (CMD_BIND, REP_SUCCEEDED, EchoServer, deadline, greeting, recv_exact,
                       request, transfer_both_ways)
from udplib import Association, UdpEcho

CONNECTS = 50
BINDS = 10
ASSOCIATIONS = 10
CONNECT_BYTES = 256 * 1024
BIND_BYTES = 64 * 1024
DATAGRAMS = 20


@pytest.fixture
def wide_echo_server():
    """An EchoServer whose accept backlog holds every CONNECT at once: with the default 16, the
    kernel drops the overflow's handshakes and the proxy's connections to it get reset."""
    server = EchoServer("127.0.0.1")
    server.listener.sock.listen(4 * CONNECTS)
    yield server
    server.close()


def run_all(jobs, timeout):
    """Runs each callable in its own thread, all started together; returns the failures."""
    failures = []
    lock = threading.Lock()
    start = threading.Barrier(len(jobs))

    def wrap(name, job):
        try:
            start.wait(timeout)
            job()
        except BaseException as e:  # noqa: BLE001 - reported below with the job's name
            with lock:
                failures.append(f"{name}: {type(e).__name__}: {e}")

    threads = [threading.Thread(target=wrap, args=(name, job), daemon=True)
               for name, job in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
    failures += [f"{name}: still running after {timeout:.0f}s"
                 for (name, _), t in zip(jobs, threads) if t.is_alive()]
    return failures


def test_every_command_concurrently_on_two_workers(socks5d, wide_echo_server):
    server = socks5d("--workers=2")
    echo_host, echo_port = wide_echo_server.address
    timeout = deadline(60)

    def connect_job(i):
        def job():
            payload = os.urandom(CONNECT_BYTES - i)  # distinct lengths and contents
            with server.client() as client:
                client.connect(echo_host, echo_port)
                digest, got, errors = transfer_both_ways(client.sock, payload, len(payload),
                                                         deadline(30))
                assert not errors, f"transfer errors after {got} bytes: {errors}"
                assert got == len(payload) and digest == hashlib.sha256(payload).hexdigest(), \
                    f"echoed {got} bytes differ from the {len(payload)} sent"
        return job

    def bind_job(i):
        def job():
            with server.client() as client:
                client.send(greeting(0x00))
                client.expect(b"\x05\x00", what="method selection")
                client.send(request("127.0.0.1", 0, cmd=CMD_BIND))
                first = client.read_reply()
                assert first.rep == REP_SUCCEEDED, f"first BIND reply {first}"
                peer = socket.create_connection(first.address, timeout=deadline(10))
                with peer:
                    second = client.read_reply(timeout=deadline(10))
                    assert second.rep == REP_SUCCEEDED, f"second BIND reply {second}"
                    assert second.address[1] == peer.getsockname()[1]
                    down = os.urandom(BIND_BYTES + i)
                    up = os.urandom(BIND_BYTES - i)
                    sender = threading.Thread(target=peer.sendall, args=(down,), daemon=True)
                    sender.start()
                    client.send(up)
                    got_down = recv_exact(client.sock, len(down), deadline(30), "BIND down")
                    got_up = recv_exact(peer, len(up), deadline(30), "BIND up")
                    sender.join(deadline(10))
                    assert got_down == down, "BIND: the peer's bytes differ at the client"
                    assert got_up == up, "BIND: the client's bytes differ at the peer"
        return job

    udp_echo = UdpEcho("127.0.0.1")

    def udp_job(i):
        def job():
            with Association(server) as association:
                sent = [os.urandom(100 + i) + bytes([i, n]) for n in range(DATAGRAMS)]
                received = []
                # One datagram in flight at a time: loopback UDP does not drop, and this keeps
                # the exchange independent of socket buffer sizes.
                for payload in sent:
                    association.send(udp_echo.address[0], udp_echo.address[1], payload)
                    frag, host, port, data = association.recv(timeout=deadline(10))
                    assert (frag, host, port) == (0, udp_echo.address[0], udp_echo.address[1])
                    received.append(data)
                assert received == sent, "UDP: echoed datagrams differ from those sent"
        return job

    jobs = ([(f"connect{i}", connect_job(i)) for i in range(CONNECTS)] +
            [(f"bind{i}", bind_job(i)) for i in range(BINDS)] +
            [(f"udp{i}", udp_job(i)) for i in range(ASSOCIATIONS)])
    try:
        failures = run_all(jobs, timeout)
    finally:
        udp_echo.close()
    assert not failures, f"{len(failures)} of {len(jobs)} sessions failed:\n" + "\n".join(failures)
    # The server's own count agrees: one CONNECT access line per session with its exact sizes.
    expected = sorted((CONNECT_BYTES - i, CONNECT_BYTES - i) for i in range(CONNECTS))
    end = time.monotonic() + deadline(20)
    while True:
        got = sorted((int(f["up"]), int(f["down"])) for f in server.access_logs()
                     if f["cmd"] == "CONNECT" and f["reply"] == "00")
        if got == expected or time.monotonic() > end:
            break
        time.sleep(0.1)
    assert got == expected, f"CONNECT access lines (up, down): {got}"
