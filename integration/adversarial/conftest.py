"""Fixtures for the adversarial suite: the server factory takes a descriptor limit."""

import os
import resource
import signal
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

import advlib  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def raise_own_descriptor_limit():
    """The attacks hold thousands of sockets in this process: soft limit up to the hard one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@pytest.fixture
def adv_server():
    """Factory: adv_server(*flags, nofile=None, wait=True) like integration's socks5d fixture,
    with RLIMIT_NOFILE (soft and hard) set in the child to `nofile` when given.

    At teardown every server must still be alive, stop on SIGTERM with exit code 0, and have
    no sanitizer report on stderr."""
    started = []

    def start(*flags, nofile=None, wait=True, listeners=None):
        flags = list(flags)
        if not any(f.startswith("--listen=") for f in flags):
            flags.append("--listen=127.0.0.1:0")
        if not any(f.startswith("--shutdown_grace=") for f in flags):
            flags.append("--shutdown_grace=1s")
        if listeners is None:
            listen = next(f for f in flags if f.startswith("--listen="))
            listeners = len(listen.split("=", 1)[1].split(","))
        server = advlib.LimitedSocks5d(flags, nofile=nofile).start()
        started.append(server)
        if wait:
            server.wait_listening(listeners)
        return server

    yield start

    problems = []
    for server in started:
        alive = server.running() or server.stop_requested
        rc = server.stop()
        print(f"--- socks5d {' '.join(server.flags)} (rc={rc}) output (last 60 lines):\n"
              + "\n".join(server.lines[-60:]))
        if server.sanitizer_report():
            problems.append(f"sanitizer report in socks5d output (flags {server.flags})")
        if server.expect_exit:
            continue
        if not alive:
            problems.append(f"socks5d died during the test (rc={rc}, flags {server.flags})")
        elif rc not in (0, None, -signal.SIGTERM):
            problems.append(f"socks5d exited with {rc} on SIGTERM")
    if problems:
        pytest.fail("; ".join(problems))
