"""Hashed passwords in the users file (issue 12): yescrypt, bcrypt and sha512crypt beside plaintext,
with curl and PySocks as clients; failures that cost the same for unknown users; --hash_password;
the verifier's threads keep hashing off the event loops; its cache and its queue bound."""

import os
import statistics
import subprocess
import threading
import time

import pytest
import socks

import socks5lib
from socks5lib import HttpServer, deadline, greeting, userpass

BODY = os.urandom(64 * 1024) + b"end of body"

# Made with libcrypt's default costs (crypt_gensalt_rn with count 0); the yescrypt user's hash is
# made by `socks5d --hash_password` in each test.
BCRYPT = ("bf", "bcrypt pass:1", "$2b$05$6GWDaAI0oQqF693Ktbzn7OK1h.9sFLFZlajczlJv0gzcwopbRjAu.")
SHA512 = ("sha", "sha512 pa$$ 2",
          "$6$T5vJzUu9IIMnh3hg$P9oIcYgGmoNrwkZltYSQK9.lCPtHNJCm8mQtW4ELRd7W11KE5Ayu13q5PYa2vH.b"
          "AgDsvrUyNR8lNW.3JWVEj/")
YESCRYPT_PASSWORD = "yescrypt pass 3"
PLAIN = ("plain", "plain-secret")


def hash_password(password):
    result = subprocess.run([str(socks5lib.binary_path()), "--hash_password"],
                            input=(password + "\n").encode(), capture_output=True,
                            timeout=deadline(20))
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout.decode()


def write_users(tmp_path, lines):
    path = tmp_path / "users"
    path.write_text("".join(f"{user}:{secret}\n" for user, secret in lines))
    os.chmod(path, 0o600)
    return path


@pytest.fixture(scope="module")
def yescrypt_hash():
    return hash_password(YESCRYPT_PASSWORD).strip()


@pytest.fixture
def mixed_users(tmp_path, yescrypt_hash):
    """Every kind of secret, and the (user, password) pairs that log in."""
    path = write_users(tmp_path, [("yes", yescrypt_hash), BCRYPT[::2], SHA512[::2], PLAIN])
    logins = [("yes", YESCRYPT_PASSWORD), BCRYPT[:2], SHA512[:2], PLAIN]
    return path, logins


@pytest.fixture(scope="module")
def web():
    server = HttpServer(BODY, "127.0.0.1")
    yield server
    server.close()


def curl(*args):
    env = {k: v for k, v in os.environ.items()
           if k.lower() not in ("http_proxy", "https_proxy", "all_proxy", "no_proxy")}
    return subprocess.run(
        ["curl", "--silent", "--show-error", "--max-time", str(deadline(20)), *args],
        capture_output=True, env=env, timeout=deadline(30))


def auth_status(server, user, password):
    """One RFC 1929 attempt with our own bytes: the status byte (0 = success)."""
    with server.client() as client:
        client.send(greeting(socks5lib.METHOD_USERPASS))
        client.expect(b"\x05\x02")
        client.send(userpass(user, password))
        status = client.recv_exact(2, timeout=deadline(30))
        assert status[0] == 0x01, socks5lib.hexs(status)
        if status[1] != 0:
            client.assert_closed()
        return status[1]


def timed_failure(server, user, password):
    start = time.monotonic()
    assert auth_status(server, user, password) != 0
    return time.monotonic() - start


def test_curl_logs_in_with_every_kind_of_secret(socks5d, mixed_users, web):
    path, logins = mixed_users
    server = socks5d(f"--users_file={path}")
    for user, password in logins:
        result = curl("--socks5", f"127.0.0.1:{server.port}", "--proxy-user",
                      f"{user}:{password}", f"http://127.0.0.1:{web.port}/")
        assert result.returncode == 0, f"{user}: curl exit {result.returncode}: {result.stderr}"
        assert result.stdout == BODY, f"{user}: body differs"
        server.wait_access_log(cmd="CONNECT", user=user, reply="00")
    for user, password in logins:
        result = curl("--socks5", f"127.0.0.1:{server.port}", "--proxy-user",
                      f"{user}:{password}x", f"http://127.0.0.1:{web.port}/")
        assert result.returncode != 0 and result.stdout == b"", f"{user}: wrong password accepted"


def test_pysocks_logs_in_with_every_kind_of_secret(socks5d, mixed_users, echo_server):
    path, logins = mixed_users
    server = socks5d(f"--users_file={path}")
    for user, password in logins:
        sock = socks.socksocket()
        sock.settimeout(deadline(20))
        sock.set_proxy(socks.SOCKS5, "127.0.0.1", server.port, username=user, password=password)
        try:
            sock.connect(("127.0.0.1", echo_server.port))
            sock.sendall(f"hello from {user}".encode())
            assert socks5lib.recv_exact(sock, len(f"hello from {user}"), deadline(10)) == \
                f"hello from {user}".encode()
        finally:
            sock.close()
    for user, password in logins:
        sock = socks.socksocket()
        sock.settimeout(deadline(20))
        sock.set_proxy(socks.SOCKS5, "127.0.0.1", server.port, username=user,
                       password=password[:-1])
        # PySocks wraps its SOCKS5AuthError (an OSError) in a GeneralProxyError.
        with pytest.raises(socks.ProxyError, match="SOCKS5 authentication failed"):
            sock.connect(("127.0.0.1", echo_server.port))
        sock.close()


def test_wrong_password_gets_a_failure_status(socks5d, mixed_users):
    path, logins = mixed_users
    server = socks5d(f"--users_file={path}", "--auth_failures_before_delay=0")
    for user, password in logins:
        assert auth_status(server, user, password) == 0
        assert auth_status(server, user, password.upper()) != 0, user
        assert auth_status(server, user, password + "\0") != 0, user  # crypt(3) stops at a NUL
    assert auth_status(server, "nobody", YESCRYPT_PASSWORD) != 0
    server.wait_for_line(r"auth failed client=127\.0\.0\.1 user=\(unknown, 6 bytes\)")


def test_unknown_user_costs_a_hash_like_a_known_one(socks5d, tmp_path, yescrypt_hash):
    """An unknown name costs one verification against a hash of the file's kind: medians over
    several attempts within a factor of two, and nowhere near the instant answer a missing
    dummy verification would give (a yescrypt hash takes tens of milliseconds or more)."""
    path = write_users(tmp_path, [("yes", yescrypt_hash), ("yes2", yescrypt_hash), PLAIN])
    server = socks5d(f"--users_file={path}", "--auth_failures_before_delay=0")
    timed_failure(server, "yes", "warm-up")
    known, unknown, plain = [], [], []
    for _ in range(6):
        known.append(timed_failure(server, "yes", "wrong password"))
        unknown.append(timed_failure(server, "nobody-here", "wrong password"))
        plain.append(timed_failure(server, "plain", "wrong password"))
    k, u, p = (statistics.median(x) for x in (known, unknown, plain))
    assert k > 0.01, f"a yescrypt verification took only {k:.4f}s: is it hashing at all?"
    assert k / 2 < u < k * 2 + 0.05, f"known user {k:.3f}s, unknown user {u:.3f}s"
    assert k / 2 < p < k * 2 + 0.05, f"known user {k:.3f}s, plaintext user {p:.3f}s"


def test_hash_password_prints_a_yescrypt_hash_without_listening(socks5d, tmp_path, echo_server):
    result = subprocess.run([str(socks5lib.binary_path()), "--hash_password"],
                            input=b"my new password\n", capture_output=True, timeout=deadline(20))
    assert result.returncode == 0, result.stderr
    out = result.stdout.decode()
    assert out.startswith("$y$") and out.endswith("\n") and out.count("\n") == 1, out
    assert b"listening" not in result.stderr, result.stderr
    again = hash_password("my new password")
    assert again != out, "two hashes of one password share a salt"
    path = write_users(tmp_path, [("carol", out.strip())])
    server = socks5d(f"--users_file={path}")
    with server.client() as client:
        client.connect("127.0.0.1", echo_server.port, user="carol", password="my new password")
        client.send(b"ping")
        client.expect(b"ping")


@pytest.mark.parametrize("stdin", [b"", b"\n", b"\r\n"], ids=["eof", "empty_line", "crlf"])
def test_hash_password_refuses_an_empty_password(stdin):
    result = subprocess.run([str(socks5lib.binary_path()), "--hash_password"], input=stdin,
                            capture_output=True, timeout=deadline(20))
    assert result.returncode == 1, result
    assert result.stdout == b""
    assert b"--hash_password: no password" in result.stderr, result.stderr


@pytest.mark.parametrize("secret,message", [
    ("$ecret", "starts with '$'"),
    ("$y$j9T$abc", "malformed yescrypt"),
    ("$1$VJUnEaG5$er9ZHwDvKZxbj4rWK/mXe1", "legacy"),
], ids=["dollar_plaintext", "truncated_yescrypt", "md5crypt"])
def test_bad_secret_stops_start_up_with_file_and_line(socks5d, tmp_path, secret, message):
    path = write_users(tmp_path, [PLAIN, ("carol", secret)])
    server = socks5d(f"--users_file={path}", wait=False)
    server.expect_exit = True
    rc, stderr = server.wait_exit(timeout=deadline(10))
    assert rc != 0, stderr
    assert f"{path}:2: " in stderr and message in stderr, stderr
    assert secret not in stderr, stderr


def test_cache_spares_the_hash_on_the_next_login(socks5d, tmp_path, yescrypt_hash):
    path = write_users(tmp_path, [("yes", yescrypt_hash)])

    def login_times(server):
        times = []
        for _ in range(4):
            start = time.monotonic()
            assert auth_status(server, "yes", YESCRYPT_PASSWORD) == 0
            times.append(time.monotonic() - start)
        return times

    cached = login_times(socks5d(f"--users_file={path}"))
    uncached = login_times(socks5d(f"--users_file={path}", "--auth_cache_size=0"))
    first = min(cached[0], uncached[0])
    # A cache hit costs no hash: every later login far faster than the first; without the cache,
    # every login pays it.
    assert max(cached[1:]) < first / 3, (cached, uncached)
    assert min(uncached[1:]) > first / 3, (cached, uncached)


def test_over_auth_max_pending_fails_at_once_and_is_logged(socks5d, tmp_path, yescrypt_hash):
    path = write_users(tmp_path, [("yes", yescrypt_hash)])
    server = socks5d(f"--users_file={path}", "--auth_threads=1", "--auth_max_pending=1",
                     "--auth_cache_size=0", "--auth_failures_before_delay=0")
    statuses = []
    lock = threading.Lock()

    def login():
        status = auth_status(server, "yes", YESCRYPT_PASSWORD)
        with lock:
            statuses.append(status)

    threads = [threading.Thread(target=login) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(deadline(60))
    assert len(statuses) == 8, statuses
    assert statuses.count(0) >= 1 and statuses.count(0) < 8, statuses
    server.wait_for_line(r"W --auth_max_pending=1 reached; refusing an RFC 1929 attempt from "
                         r"127\.0\.0\.1")


def test_many_hashes_do_not_stall_relaying(socks5d, tmp_path, yescrypt_hash, echo_server):
    """50 yescrypt logins at once on a one-worker server while an established CONNECT relays:
    the hashes run on the verifier's threads, so the relay's echo round trips stay quick (run on
    the loop, each hash would hold every echo for its whole duration)."""
    path = write_users(tmp_path, [("yes", yescrypt_hash), PLAIN])
    server = socks5d(f"--users_file={path}", "--workers=1", "--auth_cache_size=0",
                     "--auth_failures_before_delay=0", "--handshake_timeout=120s")
    relay = server.client()
    relay.connect("127.0.0.1", echo_server.port, user=PLAIN[0], password=PLAIN[1])
    one_hash = min(timed_failure(server, "yes", "wrong") for _ in range(3))

    statuses = []
    lock = threading.Lock()

    def login():
        status = auth_status(server, "yes", YESCRYPT_PASSWORD)
        with lock:
            statuses.append(status)

    threads = [threading.Thread(target=login) for _ in range(50)]
    for t in threads:
        t.start()
    latencies = []
    end = time.monotonic() + deadline(120)
    while any(t.is_alive() for t in threads) and time.monotonic() < end:
        start = time.monotonic()
        relay.send(b"x" * 64)
        relay.expect(b"x" * 64, timeout=deadline(10), what="echo")
        latencies.append(time.monotonic() - start)
        time.sleep(0.01)
    for t in threads:
        t.join(deadline(10))
    relay.close()
    assert statuses.count(0) == 50, statuses
    assert len(latencies) >= 10, f"the 50 logins ended too fast to measure ({len(latencies)})"
    median = statistics.median(latencies)
    assert median < max(0.05, one_hash / 2), (
        f"echo median {median:.3f}s during the logins (one hash {one_hash:.3f}s)")
    assert max(latencies) < deadline(1) + one_hash, f"worst echo {max(latencies):.3f}s"


def test_sigterm_with_verifications_queued_exits_cleanly(socks5d, tmp_path, yescrypt_hash):
    """Sessions waiting for a verdict when the server stops: the running hash finishes, the
    queued ones are answered busy on loops that still exist, and the process exits 0 (under
    ASan: without a report)."""
    path = write_users(tmp_path, [("yes", yescrypt_hash)])
    server = socks5d(f"--users_file={path}", "--auth_threads=1", "--auth_cache_size=0",
                     "--auth_failures_before_delay=0", "--shutdown_grace=0s")
    clients = []
    try:
        for _ in range(20):
            client = server.client()
            client.send(greeting(socks5lib.METHOD_USERPASS))
            client.expect(b"\x05\x02")
            client.send(userpass("yes", YESCRYPT_PASSWORD))
            clients.append(client)
        # The first verdict has come: the rest are running or queued behind it.
        clients[0].expect(b"\x01\x00", timeout=deadline(30))
        rc = server.stop()
    finally:
        for client in clients:
            client.close()
    assert rc == 0, server.stderr
    assert "stopping with" in server.stderr
