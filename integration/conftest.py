"""Fixtures for the socks5d integration tests (helpers live in socks5lib.py)."""

import os
import signal
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import socks5lib  # noqa: E402
from socks5lib import PASSWORD, USER  # noqa: E402


def pytest_report_header(config):
    return (f"socks5d: {socks5lib.binary_path()} "
            f"(deadline scale x{socks5lib.TIMEOUT_SCALE:g})")


@pytest.fixture
def socks5d(request):
    """Factory: socks5d(*flags, listeners=1) starts the server and waits for its ports.

    Without a --listen flag it listens on 127.0.0.1:0. At teardown every server is
    checked to be still alive (no crash) and free of sanitizer reports, then stopped."""
    started = []

    def start(*flags, listeners=None, wait=True):
        flags = list(flags)
        # SOCKS5D_EXTRA_ARGS (space-separated, default none) adds flags to every server a test
        # starts, unless the test sets that flag itself: the tsan step runs with --workers=2.
        for extra in os.environ.get("SOCKS5D_EXTRA_ARGS", "").split():
            name = extra.split("=", 1)[0]
            if not any(f.split("=", 1)[0] == name for f in flags):
                flags.append(extra)
        if not any(f.startswith("--listen=") for f in flags):
            flags.append("--listen=127.0.0.1:0")
        if not any(f.startswith("--shutdown_grace=") for f in flags):
            flags.append("--shutdown_grace=1s")
        if listeners is None:
            listen = next(f for f in flags if f.startswith("--listen="))
            listeners = len(listen.split("=", 1)[1].split(","))
        server = socks5lib.Socks5d(flags).start()
        started.append(server)
        if wait:
            server.wait_listening(listeners)
        return server

    yield start

    problems = []
    for server in started:
        alive = server.running() or server.stop_requested
        rc = server.stop()
        print(f"--- socks5d {' '.join(server.flags)} (rc={rc}) output:\n{server.stderr}")
        if server.sanitizer_report():
            problems.append(f"sanitizer report in socks5d output (flags {server.flags})")
        if server.expect_exit:
            continue
        if not alive:
            problems.append(f"socks5d died during the test (rc={rc}, flags {server.flags})")
        elif rc is not None and rc < 0 and -rc not in (signal.SIGTERM,):
            problems.append(f"socks5d was killed by signal {-rc} on SIGTERM shutdown")
    if problems:
        pytest.fail("; ".join(problems))


@pytest.fixture
def users_file(tmp_path):
    """A users file with USER:PASSWORD and a second user."""
    path = tmp_path / "users"
    path.write_text(f"{USER}:{PASSWORD}\nbob:hunter2\n")
    return path


@pytest.fixture
def echo_server():
    server = socks5lib.EchoServer("127.0.0.1")
    yield server
    server.close()


@pytest.fixture
def echo_server6():
    server = socks5lib.EchoServer("::1")
    yield server
    server.close()


@pytest.fixture
def target():
    """A listener on 127.0.0.1 that the test accepts on itself."""
    listener = socks5lib.TcpListener("127.0.0.1")
    yield listener
    listener.close()
