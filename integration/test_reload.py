"""SIGHUP reload of the users and rules files (issue 12, "Live reload"): valid files take effect
for new sessions and new UDP decisions, an invalid one changes nothing and says FILE:LINE, running
sessions are never touched (also one whose user the reload removes, and 1,000 relaying at once),
bursts apply in order with the last contents winning, and a SIGHUP during shutdown is not a
reload."""

import asyncio
import hashlib
import os
import re
import signal
import socket
import struct

import pytest

from socks5lib import (METHOD_USERPASS, PASSWORD, REP_NOT_ALLOWED, USER, EchoServer, deadline,
                       failure_reply, greeting, request, userpass)
from udplib import Association, UdpEcho, access_fields

RELOADED_RE = r"reloaded users=(\d+) rules=(\d+)"


def write_users(path, *pairs):
    """Replaces the file whole (a new file renamed over it), as the README's procedure says: a
    reload never reads it half-written."""
    tmp = path.with_name(path.name + ".new")
    tmp.write_text("".join(f"{user}:{password}\n" for user, password in pairs))
    tmp.chmod(0o600)
    os.replace(tmp, path)


def reload(server, pattern=RELOADED_RE):
    """SIGHUP, then waits for the reload's line after every line already printed."""
    start = len(server.lines)
    server.proc.send_signal(signal.SIGHUP)
    return server.wait_for_line(pattern, timeout=deadline(10), start=start)


def auth_status(server, user, password):
    """Greeting + RFC 1929 as a new session; returns the auth STATUS byte (0 = accepted)."""
    with server.client() as client:
        client.send(greeting(METHOD_USERPASS))
        client.expect(b"\x05\x02", what="method selection")
        client.send(userpass(user, password))
        return client.recv_exact(2)[1]


def relays(client, data):
    client.send(data)
    client.expect(data, what="echo")


def test_reload_adds_a_user(socks5d, users_file, echo_server):
    server = socks5d(f"--users_file={users_file}")
    assert auth_status(server, "carol", "n3w") != 0
    write_users(users_file, (USER, PASSWORD), ("bob", "hunter2"), ("carol", "n3w"))
    match = reload(server)
    assert match.group(0) == "reloaded users=3 rules=0", match.group(0)
    with server.client() as client:
        client.connect("127.0.0.1", echo_server.port, user="carol", password="n3w")
        relays(client, b"carol is in")
    server.wait_access_log(user="carol", reply="00")
    assert auth_status(server, USER, PASSWORD) == 0  # the others still are


def test_reload_changes_a_password(socks5d, users_file):
    server = socks5d(f"--users_file={users_file}")
    write_users(users_file, (USER, "rotated"), ("bob", "hunter2"))
    reload(server)
    assert auth_status(server, USER, PASSWORD) != 0
    assert auth_status(server, USER, "rotated") == 0


def test_broken_file_changes_nothing(socks5d, users_file, echo_server):
    server = socks5d(f"--users_file={users_file}")
    # Line 2 is broken; line 3 would add carol. Nothing of it may apply.
    users_file.write_text(f"{USER}:changed\nno colon on this line\ncarol:n3w\n")
    match = reload(server, r"reload failed: (.*)")
    assert match.group(1).startswith(f"{users_file}:2: expected user:password"), match.group(0)
    assert "changed" not in match.group(0) and "n3w" not in match.group(0)  # no password logged
    assert not re.search(RELOADED_RE, server.stderr)
    assert auth_status(server, "carol", "n3w") != 0
    assert auth_status(server, USER, "changed") != 0
    with server.client() as client:  # the old users still work
        client.connect("127.0.0.1", echo_server.port, user=USER, password=PASSWORD)
        relays(client, b"still served")
    # Fixed, the next SIGHUP applies it.
    write_users(users_file, ("carol", "n3w"))
    assert reload(server).group(0) == "reloaded users=1 rules=0"
    assert auth_status(server, "carol", "n3w") == 0
    assert auth_status(server, USER, PASSWORD) != 0


@pytest.mark.parametrize("damage", ["deleted", "emptied"])
def test_deleted_or_emptied_file_keeps_authentication_on(socks5d, users_file, damage):
    """Without --users_file a reload never turns authentication on; with it, none turns it off:
    a deleted or emptied file is a failed reload and the previous users stay."""
    server = socks5d(f"--users_file={users_file}")
    if damage == "deleted":
        users_file.unlink()
        expected = rf"reload failed: --users_file: cannot read '{re.escape(str(users_file))}'"
    else:
        users_file.write_text("# nobody\n")
        expected = rf"reload failed: {re.escape(str(users_file))}: no users in the file"
    reload(server, expected)
    with server.client() as client:  # no-auth is still refused
        client.send(greeting(0x00))
        client.expect(b"\x05\xff")
    assert auth_status(server, USER, PASSWORD) == 0


def test_reload_without_users_file_keeps_authentication_off(socks5d, echo_server, tmp_path):
    server = socks5d()
    assert reload(server).group(0) == "reloaded users=0 rules=0"
    with server.client() as client:
        client.connect("127.0.0.1", echo_server.port)
        relays(client, b"no auth, as before")


def test_session_mid_relay_keeps_working_when_its_user_is_removed(socks5d, users_file,
                                                                  echo_server):
    server = socks5d(f"--users_file={users_file}")
    with server.client() as relaying:
        relaying.connect("127.0.0.1", echo_server.port, user=USER, password=PASSWORD)
        relays(relaying, b"before the reload")
        write_users(users_file, ("bob", "hunter2"))  # alice removed
        assert reload(server).group(0) == "reloaded users=1 rules=0"
        assert auth_status(server, USER, PASSWORD) != 0  # new sessions: alice is gone
        for i in range(20):
            relays(relaying, b"after the reload %d" % i)  # the running one: untouched
        assert auth_status(server, "bob", "hunter2") == 0


def test_session_mid_handshake_keeps_the_users_it_started_with(socks5d, users_file, echo_server):
    server = socks5d(f"--users_file={users_file}")
    with server.client() as client:
        client.send(greeting(METHOD_USERPASS))
        client.expect(b"\x05\x02")
        write_users(users_file, ("bob", "hunter2"))
        reload(server)
        client.send(userpass(USER, PASSWORD))  # checked against the users it started with
        client.expect(b"\x01\x00", what="auth status")
        client.send(request("127.0.0.1", echo_server.port))
        assert client.read_reply().rep == 0
        relays(client, b"started before the reload")


def test_burst_of_sighups_last_contents_win(socks5d, users_file):
    """20 rewrites, each followed at once by a SIGHUP: the reloads run one after the other, each
    reading the file as it is then, so the last one applied is the last file."""
    server = socks5d(f"--users_file={users_file}")
    start = len(server.lines)
    for k in range(1, 21):
        write_users(users_file, *[(f"user{i}", f"pw{i}") for i in range(1, k + 1)])
        server.proc.send_signal(signal.SIGHUP)
    server.wait_for_line(r"reloaded users=20 rules=0", timeout=deadline(10), start=start)
    # One more after the burst, so that every queued SIGHUP has been handled by the checks.
    reload(server)
    lines = server.lines[start:]
    results = [line for line in lines if "reload" in line]
    assert all(re.search(RELOADED_RE, line) for line in results), results
    assert 2 <= len(results) <= 21, results
    counts = [int(re.search(RELOADED_RE, line).group(1)) for line in results]
    assert counts == sorted(counts), f"a reload applied an older file after a newer one: {counts}"
    assert counts[-1] == 20, counts
    assert auth_status(server, "user20", "pw20") == 0
    assert auth_status(server, USER, PASSWORD) != 0


def test_sighup_during_shutdown_is_not_a_reload(socks5d, users_file, echo_server):
    server = socks5d(f"--users_file={users_file}", "--shutdown_grace=10s")
    with server.client() as client:
        client.connect("127.0.0.1", echo_server.port, user=USER, password=PASSWORD)
        relays(client, b"draining")
        server.proc.send_signal(signal.SIGTERM)
        server.wait_for_line(r"no longer accepting; 1 sessions draining")
        write_users(users_file, ("bob", "hunter2"))
        start = len(server.lines)
        server.proc.send_signal(signal.SIGHUP)
        server.wait_for_line(r"signal 1 \(SIGHUP\): ignored \(shutting down", start=start)
        relays(client, b"still relaying while draining")
    server.expect_exit = True
    rc, output = server.wait_exit(deadline(10))
    assert rc == 0, output
    assert not re.search(r"reloaded users=|reload failed:", output), output


# --- Under load -------------------------------------------------------------------------------

SESSIONS = 1000
CHUNK = 2048
ROUNDS_AFTER = 3  # round trips each session makes after the reload's line is out


async def _echo_server():
    async def handle(reader, writer):
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", 0, backlog=2 * SESSIONS)


async def _session(index, proxy_port, echo_port, started, reloaded, results):
    """One CONNECT: handshake, then round trips of distinct bytes (before, while and after the
    reload), then a half-close; records (local port, bytes relayed) or raises."""
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy_port)
    try:
        writer.write(greeting(METHOD_USERPASS) + userpass(USER, PASSWORD) +
                     request("127.0.0.1", echo_port))
        head = await reader.readexactly(2 + 2 + 10)
        assert head[:4] == b"\x05\x02\x01\x00" and head[4:6] == b"\x05\x00", head.hex()
        total = 0
        rounds = 0
        after = 0
        while after < ROUNDS_AFTER:
            if reloaded.is_set():
                after += 1
            block = hashlib.sha256(struct.pack("!II", index, rounds)).digest() * (CHUNK // 32)
            writer.write(block)
            got = await reader.readexactly(len(block))
            assert got == block, f"session {index} round {rounds}: bytes differ"
            total += len(block)
            rounds += 1
            if rounds == 1:
                started.append(index)
            await asyncio.sleep(0.2)  # paced: 1,000 sessions stay open and relaying across it
        writer.write_eof()
        assert await reader.read() == b"", f"session {index}: bytes after the echo"
        results[writer.get_extra_info("sockname")[1]] = total
    finally:
        writer.close()


async def _load(server, users_file, timeout):
    echo = await _echo_server()
    echo_port = echo.sockets[0].getsockname()[1]
    started, results = [], {}
    reloaded = asyncio.Event()
    loop = asyncio.get_running_loop()
    tasks = [asyncio.create_task(_session(i, server.port, echo_port, started, reloaded, results))
             for i in range(SESSIONS)]
    try:
        end = loop.time() + timeout
        while len(started) < SESSIONS:  # every session relayed a round: all are up at once
            failed = [t for t in tasks if t.done()]
            if failed:
                await failed[0]  # raises its error
            assert loop.time() < end, f"{len(started)}/{SESSIONS} sessions relaying"
            await asyncio.sleep(0.02)
        write_users(users_file, ("bob", "hunter2"))  # the reload removes the sessions' user
        line = await loop.run_in_executor(None, reload, server)
        reloaded.set()
        done, pending = await asyncio.wait(tasks, timeout=max(1, end - loop.time()))
        assert not pending, f"{len(pending)} sessions still running"
        errors = [t.exception() for t in done if t.exception()]
        assert not errors, f"{len(errors)} sessions failed, first: {errors[0]!r}"
        return line.group(0), results
    finally:
        for t in tasks:
            t.cancel()
        echo.close()
        await echo.wait_closed()


def test_reload_under_load_drops_no_session_and_loses_no_byte(socks5d, users_file):
    server = socks5d(f"--users_file={users_file}", "--workers=2", "--max_sessions_per_client=0")
    line, results = asyncio.run(_load(server, users_file, deadline(25)))
    assert line == "reloaded users=1 rules=0"
    assert len(results) == SESSIONS
    # The proxy's own count: every session ended normally with every byte both ways.
    logged = {record["client"]: record for record in server.access_logs()}
    for port, total in results.items():
        record = logged.get(f"127.0.0.1:{port}") or server.wait_access_log(
            client=f"127.0.0.1:{port}")
        assert (record["user"], record["reply"], record["up"], record["down"]) == \
            (USER, "00", str(total), str(total)), record
    assert auth_status(server, USER, PASSWORD) != 0 and auth_status(server, "bob", "hunter2") == 0


# --- The rules file (--rules_file) --------------------------------------------------------------


def write_file(path, text):
    tmp = path.with_name(path.name + ".new")
    tmp.write_text(text)
    os.replace(tmp, path)


def test_rules_file_reloads_and_counts(socks5d, users_file, tmp_path):
    rules = tmp_path / "rules"
    write_file(rules, "deny to=169.254.0.0/16\nallow user=*\n")
    server = socks5d(f"--users_file={users_file}", f"--rules_file={rules}")
    write_file(rules, "deny to=169.254.0.0/16\ndeny cmd=bind\nallow user=*\n")
    assert reload(server).group(0) == "reloaded users=2 rules=3"


def test_bad_rules_file_changes_nothing_not_even_the_users(socks5d, users_file, tmp_path):
    """Users and rules are validated together: good users beside a broken rules file apply
    neither."""
    rules = tmp_path / "rules"
    write_file(rules, "allow user=*\n")
    server = socks5d(f"--users_file={users_file}", f"--rules_file={rules}")
    write_users(users_file, (USER, PASSWORD), ("carol", "n3w"))
    write_file(rules, "allow user=*\nallow cmd=teleport\n")
    match = reload(server, r"reload failed: (.*)")
    assert match.group(1).startswith(f"{rules}:2: unknown command in cmd="), match.group(0)
    assert auth_status(server, "carol", "n3w") != 0
    assert auth_status(server, "bob", "hunter2") == 0
    # An emptied rules file would refuse everyone: a failed reload, not a lock-out.
    write_file(rules, "")
    reload(server, rf"reload failed: {re.escape(str(rules))}: no rules in the file")
    write_file(rules, "allow user=*\n")
    assert reload(server).group(0) == "reloaded users=2 rules=1"
    assert auth_status(server, "carol", "n3w") == 0


def test_malformed_rules_file_stops_start_up(socks5d, tmp_path):
    rules = tmp_path / "rules"
    write_file(rules, "allow user=*\n\ndeny to=10.0.0.0/33\n")
    server = socks5d(f"--rules_file={rules}", wait=False)
    server.expect_exit = True
    rc, output = server.wait_exit()
    assert rc != 0 and f"{rules}:3: " in output, output
    assert "listening on" not in output, output


def test_reload_changes_a_rule_for_new_sessions_only(socks5d, tmp_path):
    first, second = EchoServer("127.0.0.1"), EchoServer("127.0.0.1")
    try:
        rules = tmp_path / "rules"
        write_file(rules, f"allow to=127.0.0.1 port={first.port}\n")
        server = socks5d(f"--rules_file={rules}")
        with server.client() as relaying:
            relaying.connect("127.0.0.1", first.port)
            relays(relaying, b"allowed by the first file")
            with server.client() as client:
                client.handshake()
                client.send(request("127.0.0.1", second.port))
                client.expect(failure_reply(REP_NOT_ALLOWED))
            write_file(rules, f"# moved\nallow to=127.0.0.1 port={second.port}\n")
            assert reload(server).group(0) == "reloaded users=0 rules=1"
            with server.client() as client:  # new sessions: the new rule
                client.handshake()
                client.send(request("127.0.0.1", first.port))
                client.expect(failure_reply(REP_NOT_ALLOWED))
            with server.client() as client:
                client.connect("127.0.0.1", second.port)
                relays(client, b"allowed by the second file")
            server.wait_access_log(target=f"127.0.0.1:{second.port}", reply="00")
            line = next(line for line in server.lines
                        if f"target=127.0.0.1:{second.port} reply=00" in line)
            assert f" rule={rules}:2" in line, line
            relays(relaying, b"the running session keeps its rules")  # untouched
    finally:
        first.close()
        second.close()


def test_reload_redecides_an_associations_cached_destinations(socks5d, tmp_path):
    one, two = UdpEcho("127.0.0.1"), UdpEcho("127.0.0.1")
    try:
        rules = tmp_path / "rules"
        write_file(rules, f"deny to=127.0.0.1 port={two.port}\nallow cmd=udp\n")
        server = socks5d(f"--rules_file={rules}")
        with Association(server) as a:
            a.send("127.0.0.1", two.port, b"denied before")
            a.send("127.0.0.1", one.port, b"allowed before")  # now cached as allowed
            assert a.recv() == (0, "127.0.0.1", one.port, b"allowed before")
            write_file(rules, f"deny to=127.0.0.1 port={one.port}\nallow cmd=udp\n")
            assert reload(server).group(0) == "reloaded users=0 rules=2"
            # The same association: both cached decisions are made again, by the new file.
            a.send("127.0.0.1", one.port, b"denied after")
            a.send("127.0.0.1", two.port, b"allowed after")
            assert a.recv() == (0, "127.0.0.1", two.port, b"allowed after")
        fields = access_fields(server)
        assert fields["drop_denied"] == 2, fields
        assert fields["dgrams_up"] == 2, fields
        assert len(one.sources) == 1 and len(two.sources) == 1, (one.sources, two.sources)
    finally:
        one.close()
        two.close()


def test_reload_warns_like_start_up(socks5d, users_file, tmp_path):
    """The loading path is the start-up one: its warnings about the files come with a reload."""
    rules = tmp_path / "rules"
    write_file(rules, "allow user=alice\n")
    server = socks5d(f"--users_file={users_file}", f"--rules_file={rules}")
    write_file(rules, "allow user=alice,carol\n")
    start = len(server.lines)
    assert reload(server).group(0) == "reloaded users=2 rules=1"
    server.wait_for_line(rf"{re.escape(str(rules))}:1: user 'carol' is not in --users_file",
                         start=start)
