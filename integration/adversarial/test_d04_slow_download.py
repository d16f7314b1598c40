"""Defect 4: the relay's idle clock moved only on reads, so a direction blocked writing to a
slow reader looked idle and the session ended with a clean FIN: silent truncation.

The proxy's send buffer toward the client autotunes to ~4 MiB on loopback (tcp_wmem), so the
stall only starts once ~3-4 MiB sit in it; after that each read of up to 1 MiB (one splice()
into the 1 MiB pipe) takes chunk/RATE to write out. Scaled from the issue's 4 MiB at 20 KB/s
with --idle_timeout=3s to 8 MiB read at 1 MiB/s with --idle_timeout=500ms: a 1 MiB write
blocks for ~1 s, twice the idle timeout, and the whole transfer takes ~8 s."""

import hashlib
import os
import socket
import time

import socks5lib
from socks5lib import deadline, request

SIZE = int(os.environ.get("ADV_SIZE", 8 << 20))
RATE = int(os.environ.get("ADV_RATE", 1 << 20))  # bytes per second the client reads
IDLE = os.environ.get("ADV_IDLE", "--idle_timeout=500ms")


def _slow_client(server, port, rcvbuf=4096):
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)  # before connect
    sock.settimeout(deadline(5))
    sock.connect(("127.0.0.1", server.port))
    sock.sendall(socks5lib.greeting(socks5lib.METHOD_NO_AUTH) + request("127.0.0.1", port))
    assert socks5lib.recv_exact(sock, 2, deadline(5)) == b"\x05\x00"
    reply = socks5lib.recv_exact(sock, 10, deadline(5))
    assert reply[1] == 0, f"CONNECT failed: {socks5lib.hexs(reply)}"
    return sock


def test_steady_slow_reader_gets_every_byte(adv_server):
    payload = bytes(range(256)) * (SIZE // 256)
    source = socks5lib.SourceServer(payload)
    try:
        server = adv_server(IDLE)
        sock = _slow_client(server, source.port)
        digest, got, ending = hashlib.sha256(), 0, None
        start = time.monotonic()
        end = start + SIZE / RATE * 1.5 + deadline(5)
        while got < SIZE and time.monotonic() < end:
            allowed = int(RATE * (time.monotonic() - start)) - got
            if allowed <= 0:
                time.sleep(0.005)  # the client's reading rate, not a wait for the server
                continue
            try:
                chunk = sock.recv(min(allowed, 65536))
            except ConnectionResetError:
                ending = "reset"
                break
            if not chunk:
                ending = "eof"
                break
            digest.update(chunk)
            got += len(chunk)
        sock.close()
        assert got == SIZE, (f"a client reading steadily at {RATE // 1024} KiB/s"
                             f" with {IDLE} "
                             f"got {got} of {SIZE} bytes, then {ending} after "
                             f"{time.monotonic() - start:.1f}s")
        assert digest.hexdigest() == hashlib.sha256(payload).hexdigest()
    finally:
        source.close()


def test_idle_timeout_with_data_in_flight_resets(adv_server):
    payload = b"x" * SIZE
    source = socks5lib.SourceServer(payload)
    try:
        server = adv_server(IDLE)
        sock = _slow_client(server, source.port)
        # The client reads nothing: the idle timeout ends the session with bytes in flight.
        server.wait_access_log(cmd="CONNECT", timeout=deadline(8))
        got, ending = 0, None
        sock.settimeout(deadline(5))
        while ending is None:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                ending = "reset"
                break
            except socket.timeout:
                ending = "timeout"
                break
            if not chunk:
                ending = "eof"
            got += len(chunk)
        sock.close()
        assert ending == "reset", (f"the idle timeout ended a session with data in flight: the "
                                   f"client read {got} of {SIZE} bytes and then got {ending}, "
                                   f"not a reset")
    finally:
        source.close()
