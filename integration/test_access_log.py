"""--access_log_format=json: each session ends with one JSON object on a line of its own, with
the text line's fields (numbers as numbers), and nothing a client sends can break out of it."""

import json
import re
import socket
import struct
import time

import socks5lib
from socks5lib import USER, PASSWORD, deadline, greeting, userpass
from udplib import Association, UdpEcho

TS_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def json_access_lines(server, count, timeout=None):
    """Waits until `count` stderr lines are JSON access objects; returns them parsed."""
    end = time.monotonic() + (timeout or deadline(10))
    with server._cond:  # notified on every new output line
        while True:
            found = [json.loads(line) for line in server.lines if line.startswith("{")]
            if len(found) >= count:
                return found
            remaining = end - time.monotonic()
            assert remaining > 0, f"{len(found)}/{count} JSON access lines:\n{server.stderr}"
            server._cond.wait(remaining)


def test_connect_line_is_a_json_object_with_the_text_lines_fields(socks5d, echo_server):
    server = socks5d("--access_log_format=json")
    with server.client() as c:
        c.connect("127.0.0.1", echo_server.port)
        c.send(b"x" * 1000)
        c.expect(b"x" * 1000)
    [line] = json_access_lines(server, 1)
    assert line["event"] == "access"
    assert TS_RE.match(line["ts"]), line
    assert line["cmd"] == "CONNECT" and line["reply"] == "00" and line["user"] == "-"
    assert line["target"] == f"127.0.0.1:{echo_server.port}"
    assert line["up"] == 1000 and line["down"] == 1000  # numbers, not strings
    assert isinstance(line["duration"], float) and line["duration"] >= 0
    assert re.match(r"^127\.0\.0\.1:\d+$", line["client"])
    # No text access line beside it.
    assert not server.access_logs()


def test_hostile_bytes_stay_inside_their_strings(socks5d, echo_server):
    # SOCKS4's USERID is any bytes but NUL, logged (escaped) as socks4_userid.
    server = socks5d("--access_log_format=json")
    hostile = b'a"}\n{"event":"forged\\ x'
    port = echo_server.port
    with server.client() as c:
        c.send(bytes([4, 1]) + struct.pack("!H", port) + socket.inet_aton("127.0.0.1") + hostile
               + b"\x00")
        assert c.recv_exact(8)[1] == 0x5A
    [line] = json_access_lines(server, 1)
    assert line["event"] == "access" and line["proto"] == "socks4"
    # The text log's escaping first (\n and \ as \xNN), then JSON's: the same characters.
    assert line["socks4_userid"] == 'a"}\\x0a{"event":"forged\\x5c x', line


def test_rejected_user_is_a_field_of_its_own(socks5d, tmp_path):
    users = tmp_path / "users"
    users.write_text(f"{USER}:{PASSWORD}\n")
    users.chmod(0o600)
    server = socks5d("--access_log_format=json", f"--users_file={users}")
    with server.client() as c:
        c.send(greeting(socks5lib.METHOD_USERPASS))
        c.expect(b"\x05\x02")
        c.send(userpass(USER, "wrong"))
        c.expect(b"\x01\x01")
        c.assert_closed()
    [line] = json_access_lines(server, 1)
    assert line["user"] == USER and line["user_rejected"] is True, line


def test_udp_association_counters_are_numbers(socks5d):
    echo = UdpEcho("127.0.0.1")
    try:
        server = socks5d("--access_log_format=json")
        with Association(server) as a:
            a.send("127.0.0.1", echo.port, b"ping")
            assert a.recv()[3] == b"ping"
        [line] = json_access_lines(server, 1)
    finally:
        echo.close()
    assert line["cmd"] == "UDP_ASSOCIATE"
    assert line["dgrams_up"] == 1 and line["dgrams_down"] == 1
    assert line["drop_foreign"] == 0 and line["reassembled"] == 0
    assert re.match(r"^127\.0\.0\.1:\d+$", line["relay"])


def test_text_remains_the_default_and_unknown_formats_are_refused(socks5d, echo_server):
    server = socks5d()
    with server.client() as c:
        c.connect("127.0.0.1", echo_server.port)
    server.wait_access_log(cmd="CONNECT", reply="00")
    bad = socks5d("--access_log_format=yaml", wait=False)
    bad.expect_exit = True
    rc, stderr = bad.wait_exit()
    assert rc != 0
    assert "--access_log_format: unknown format 'yaml' (use text or json)" in stderr
