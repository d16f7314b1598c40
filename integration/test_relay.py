"""docs/conformance.md section D (relaying) and the access log."""

import hashlib
import os
import socket
import threading
import time

from socks5lib import (PASSWORD, USER, assert_closed, assert_open, deadline, greeting, recv_exact, request,
                       reserve_refusing_port, transfer_both_ways, userpass, SinkServer,
                       SourceServer)


def _relay(server, target, **auth):
    """(client, target-side socket) for a CONNECT through the proxy."""
    client = server.client()
    client.connect("127.0.0.1", target.port, **auth)
    conn, _ = target.accept()
    return client, conn


def test_d1_client_half_close(socks5d, target):
    server = socks5d()
    client, conn = _relay(server, target)
    with client, conn:
        client.send(b"request")
        client.shutdown_write()
        assert recv_exact(conn, 7, deadline(5)) == b"request"
        assert assert_closed(conn, deadline(5)) == "eof", "target should see a FIN, not a reset"
        # The other direction keeps flowing after the client's FIN.
        for i in range(3):
            conn.sendall(b"response %d" % i)
            client.expect(b"response %d" % i)
        conn.shutdown(socket.SHUT_WR)
        assert client.assert_closed() == "eof"


def test_d1_target_half_close(socks5d, target):
    server = socks5d()
    client, conn = _relay(server, target)
    with client, conn:
        conn.sendall(b"banner")
        conn.shutdown(socket.SHUT_WR)
        client.expect(b"banner")
        assert client.assert_closed() == "eof", "client should see a FIN, not a reset"
        for i in range(3):
            client.send(b"upload %d" % i)
            assert recv_exact(conn, 8, deadline(5)) == b"upload %d" % i
        client.shutdown_write()
        assert assert_closed(conn, deadline(5)) == "eof"


def test_d1_half_close_with_large_trailing_transfer(socks5d, target):
    """After the client's FIN, 2 MiB still come back complete."""
    server = socks5d()
    client, conn = _relay(server, target)
    payload = os.urandom(2 << 20)
    with client, conn:
        client.shutdown_write()
        assert assert_closed(conn, deadline(5)) == "eof"
        sender = threading.Thread(target=lambda: (conn.sendall(payload), conn.shutdown(socket.SHUT_WR)))
        sender.start()
        got = client.recv_exact(len(payload), timeout=deadline(20))
        sender.join(deadline(5))
        assert got == payload
        assert client.assert_closed() == "eof"


def test_d2_target_reset_propagates(socks5d, target):
    server = socks5d()
    client, conn = _relay(server, target)
    with client:
        client.send(b"hi")
        assert recv_exact(conn, 2, deadline(5)) == b"hi"
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        conn.close()
        start = time.monotonic()
        client.assert_closed(timeout=deadline(5))
        assert time.monotonic() - start < deadline(5)


def test_d2_client_reset_propagates(socks5d, target):
    server = socks5d()
    client, conn = _relay(server, target)
    with conn:
        conn.sendall(b"hello")
        client.expect(b"hello")
        client.reset()
        assert_closed(conn, deadline(5))


def test_d3_8mib_both_ways_at_once(socks5d, target):
    server = socks5d()
    size = 8 << 20
    up = os.urandom(size)
    down = os.urandom(size)
    client, conn = _relay(server, target)
    timeout = deadline(30)
    with client, conn:
        result = {}
        target_side = threading.Thread(
            target=lambda: result.update(target=transfer_both_ways(conn, down, size, timeout)))
        target_side.start()
        client_digest, client_got, client_errors = transfer_both_ways(client.sock, up, size, timeout)
        target_side.join(timeout)
        assert "target" in result, "target side did not finish"
        target_digest, target_got, target_errors = result["target"]
        assert not client_errors and not target_errors, (client_errors, target_errors)
        assert client_got == size and target_got == size
        assert client_digest == hashlib.sha256(down).hexdigest(), "downstream corrupted"
        assert target_digest == hashlib.sha256(up).hexdigest(), "upstream corrupted"
    server.wait_access_log(cmd="CONNECT", up=size, down=size, timeout=deadline(10))


def test_d4_idle_timeout_closes_both(socks5d, target):
    server = socks5d("--idle_timeout=1s")
    client, conn = _relay(server, target)
    with client, conn:
        client.send(b"x")
        assert recv_exact(conn, 1, deadline(5)) == b"x"
        start = time.monotonic()
        client.assert_closed(timeout=deadline(6))
        elapsed = time.monotonic() - start
        assert_closed(conn, deadline(3))
        assert elapsed >= 0.8, f"closed after {elapsed:.2f}s, before --idle_timeout=1s"


def test_d4_activity_keeps_session_alive(socks5d, echo_server):
    server = socks5d("--idle_timeout=1s")
    with server.client() as client:
        client.connect("127.0.0.1", echo_server.port)
        start = time.monotonic()
        # Traffic every 0.4s for 2.4s: more than twice the idle timeout.
        while time.monotonic() - start < 2.4:
            client.send(b"tick")
            client.expect(b"tick")
            assert_open(client.sock, 0.4)
        # Then silence: closed by the idle timeout.
        client.assert_closed(timeout=deadline(6))


def test_d4_one_way_traffic_counts_as_activity(socks5d, target):
    """A download with a silent client is not idle."""
    server = socks5d("--idle_timeout=1s")
    client, conn = _relay(server, target)
    with client, conn:
        start = time.monotonic()
        while time.monotonic() - start < 2.4:
            conn.sendall(b"chunk")
            client.expect(b"chunk")
            assert_open(client.sock, 0.4)


# --- Access log


def test_access_log_connect_fields_and_counts(socks5d, target):
    server = socks5d()
    early = b"E" * 17
    client = server.client()
    client.send(greeting(0x00) + request("127.0.0.1", target.port) + early)
    client.expect(b"\x05\x00")
    conn, _ = target.accept()
    client_addr = client.sock.getsockname()
    with client, conn:
        assert client.read_reply().rep == 0
        client.send(b"u" * 983)
        assert recv_exact(conn, 1000, deadline(5)) == early + b"u" * 983
        conn.sendall(b"d" * 3333)
        client.expect(b"d" * 3333)
        client.shutdown_write()
        assert_closed(conn, deadline(5))
        conn.close()
        client.assert_closed()
    line = server.wait_access_log(cmd="CONNECT", target=f"127.0.0.1:{target.port}")
    assert line["client"] == f"{client_addr[0]}:{client_addr[1]}", line
    assert line["user"] == "-", line
    assert line["reply"] == "00", line
    assert (line["up"], line["down"]) == ("1000", "3333"), line
    assert float(line["duration"].rstrip("s")) >= 0, line


def test_access_log_failed_connect(socks5d):
    server = socks5d()
    refusing = reserve_refusing_port("127.0.0.1")
    port = refusing.getsockname()[1]
    try:
        with server.client() as client:
            client.send(greeting(0x00) + request("127.0.0.1", port))
            client.expect(b"\x05\x00")
            assert client.read_reply().rep == 0x05
            client.assert_closed()
    finally:
        refusing.close()
    line = server.wait_access_log(target=f"127.0.0.1:{port}")
    assert (line["cmd"], line["reply"], line["up"], line["down"]) == ("CONNECT", "05", "0", "0"), line


def test_access_log_user_and_no_credentials_in_logs(socks5d, users_file, target):
    server = socks5d(f"--users_file={users_file}", "--log_level=debug")
    client, conn = _relay(server, target, user=USER, password=PASSWORD)
    with client, conn:
        client.send(b"ping")
        assert recv_exact(conn, 4, deadline(5)) == b"ping"
    wrong = "Wr0ng-Guess-42"
    with server.client() as bad:
        bad.send(greeting(0x02) + userpass(USER, wrong))
        bad.expect(b"\x05\x02")
        bad.expect(b"\x01\x01")
        bad.assert_closed()
    line = server.wait_access_log(target=f"127.0.0.1:{target.port}", user=USER)
    assert line["reply"] == "00" and line["up"] == "4", line
    # Everything the server wrote so far, after both sessions are logged:
    server.stop()
    output = server.stderr
    assert PASSWORD not in output, "the password appears in the server output"
    assert wrong not in output, "a wrong password attempt appears in the server output"
    assert "hunter2" not in output, "the users file content appears in the server output"


def test_download_from_source_then_eof(socks5d):
    payload = os.urandom(3 << 20)
    source = SourceServer(payload)
    try:
        server = socks5d()
        with server.client() as client:
            client.connect("127.0.0.1", source.port)
            assert client.recv_exact(len(payload), timeout=deadline(20)) == payload
            assert client.assert_closed() == "eof"
    finally:
        source.close()


def test_upload_to_sink_then_eof(socks5d):
    payload = os.urandom(3 << 20)
    sink = SinkServer()
    try:
        server = socks5d()
        with server.client() as client:
            client.connect("127.0.0.1", sink.port)
            client.send(payload)
            client.shutdown_write()
            assert sink.next_result() == (len(payload), hashlib.sha256(payload).hexdigest())
            assert client.assert_closed() == "eof"
    finally:
        sink.close()


def test_many_concurrent_sessions(socks5d, echo_server):
    server = socks5d()
    clients = []
    try:
        for i in range(100):
            client = server.client()
            clients.append(client)
            client.send(greeting(0x00) + request("127.0.0.1", echo_server.port))
        for i, client in enumerate(clients):
            client.expect(b"\x05\x00")
            assert client.read_reply(timeout=deadline(10)).rep == 0
            client.send(b"session %03d" % i)
        for i, client in enumerate(clients):
            client.expect(b"session %03d" % i, timeout=deadline(10))
    finally:
        for client in clients:
            client.close()


def test_handshake_timeout_does_not_cut_established_relay(socks5d, echo_server):
    server = socks5d("--handshake_timeout=1s")
    with server.client() as client:
        client.connect("127.0.0.1", echo_server.port)
        assert_open(client.sock, 1.6)
        client.send(b"still here")
        client.expect(b"still here")


def test_d2_reset_mid_transfer_both_sides(socks5d, target, echo_server):
    """Resets while the proxy holds unsent data toward a peer that is not reading."""
    server = socks5d()
    blob = os.urandom(4 << 20)
    for resetter in ("target", "client"):
        client, conn = _relay(server, target)
        writer = threading.Thread(target=lambda: _send_ignoring_errors(conn, blob), daemon=True)
        writer.start()
        client.send(blob[:1 << 20])  # and nobody reads this on the target side
        if resetter == "target":
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            conn.close()
            _drain_until_closed(client.sock, deadline(10))
            client.close()
        else:
            client.reset()
            _drain_until_closed(conn, deadline(10))
            conn.close()
        writer.join(deadline(10))
    with server.client() as client:
        client.connect("127.0.0.1", echo_server.port)
        client.send(b"after resets")
        client.expect(b"after resets")


def _send_ignoring_errors(sock, data):
    try:
        sock.sendall(data)
    except OSError:
        pass


def _drain_until_closed(sock, timeout):
    """Reads and discards until EOF or reset; fails if neither comes in time."""
    end = time.monotonic() + timeout
    while True:
        remaining = end - time.monotonic()
        assert remaining > 0, "peer never closed"
        sock.settimeout(remaining)
        try:
            if not sock.recv(1 << 20):
                return
        except ConnectionResetError:
            return
        except socket.timeout:
            continue
        except OSError:
            return


def test_sigterm_during_transfers(socks5d, echo_server):
    server = socks5d("--shutdown_grace=1s")
    clients = []
    for _ in range(10):
        client = server.client()
        client.connect("127.0.0.1", echo_server.port)
        client.send(os.urandom(256 * 1024))
        clients.append(client)
    start = time.monotonic()
    rc = server.stop(timeout=deadline(5))
    elapsed = time.monotonic() - start
    for client in clients:
        _drain_until_closed(client.sock, deadline(5))
        client.close()
    assert rc == 0, f"exit code {rc}; output:\n{server.stderr}"
    assert elapsed < deadline(4), f"shutdown took {elapsed:.2f}s with --shutdown_grace=1s"
