"""curl as a real client: socks5:// and socks5h://, with and without credentials."""

import os
import subprocess

import pytest

from socks5lib import PASSWORD, USER, DnsResponder, HttpServer, deadline

BODY = os.urandom(256 * 1024) + b"end of body"


@pytest.fixture(scope="module")
def web():
    server = HttpServer(BODY, "127.0.0.1")
    yield server
    server.close()


@pytest.fixture(scope="module")
def web6():
    server = HttpServer(BODY, "::1")
    yield server
    server.close()


@pytest.fixture
def dns():
    responder = DnsResponder({"web.test": {"A": ["127.0.0.1"]}})
    yield responder
    responder.close()


def curl(*args):
    env = {k: v for k, v in os.environ.items()
           if k.lower() not in ("http_proxy", "https_proxy", "all_proxy", "no_proxy")}
    return subprocess.run(
        ["curl", "--silent", "--show-error", "--max-time", str(deadline(10)), *args],
        capture_output=True, env=env, timeout=deadline(20))


def _assert_body(result):
    assert result.returncode == 0, f"curl exit {result.returncode}: {result.stderr.decode()}"
    assert result.stdout == BODY, f"body differs ({len(result.stdout)} bytes, want {len(BODY)})"


def test_curl_socks5_no_auth(socks5d, web):
    server = socks5d()
    _assert_body(curl("-x", f"socks5://127.0.0.1:{server.port}", f"http://127.0.0.1:{web.port}/"))
    line = server.wait_access_log(cmd="CONNECT", target=f"127.0.0.1:{web.port}")
    assert line["reply"] == "00" and line["user"] == "-", line
    assert int(line["down"]) > len(BODY), line


def test_curl_socks5_ipv6_target_and_proxy(socks5d, web6):
    server = socks5d("--listen=[::1]:0")
    _assert_body(curl("-x", f"socks5://[::1]:{server.port}", f"http://[::1]:{web6.port}/"))


def test_curl_socks5h_resolves_through_proxy(socks5d, web, dns):
    server = socks5d(dns.server_flag)
    _assert_body(curl("-x", f"socks5h://127.0.0.1:{server.port}", f"http://web.test:{web.port}/"))
    assert ("web.test", "A") in dns.queries, dns.queries
    server.wait_access_log(cmd="CONNECT", target=f"web.test:{web.port}", reply="00")


def test_curl_socks5_hostname_flag(socks5d, web, dns):
    server = socks5d(dns.server_flag)
    _assert_body(curl("--socks5-hostname", f"127.0.0.1:{server.port}", f"http://web.test:{web.port}/"))


def test_curl_socks5h_unknown_name_fails(socks5d, web, dns):
    server = socks5d(dns.server_flag)
    result = curl("-x", f"socks5h://127.0.0.1:{server.port}", f"http://nowhere.test:{web.port}/")
    assert result.returncode != 0 and result.stdout == b"", result
    server.wait_access_log(target=f"nowhere.test:{web.port}", reply="04")


def test_curl_credentials_with_U(socks5d, users_file, web):
    server = socks5d(f"--users_file={users_file}")
    _assert_body(curl("-x", f"socks5://127.0.0.1:{server.port}", "-U", f"{USER}:{PASSWORD}",
                      f"http://127.0.0.1:{web.port}/"))
    server.wait_access_log(cmd="CONNECT", user=USER, reply="00")


def test_curl_credentials_in_url(socks5d, users_file, web):
    server = socks5d(f"--users_file={users_file}")
    _assert_body(curl("-x", f"socks5://{USER}:{PASSWORD}@127.0.0.1:{server.port}",
                      f"http://127.0.0.1:{web.port}/"))


def test_curl_socks5h_credentials_in_url(socks5d, users_file, web, dns):
    server = socks5d(f"--users_file={users_file}", dns.server_flag)
    _assert_body(curl("-x", f"socks5h://{USER}:{PASSWORD}@127.0.0.1:{server.port}",
                      f"http://web.test:{web.port}/"))
    server.wait_access_log(cmd="CONNECT", user=USER, target=f"web.test:{web.port}")


@pytest.mark.parametrize("credentials", [f"{USER}:wrong", f"nobody:{PASSWORD}"])
def test_curl_wrong_credentials_fail(socks5d, users_file, web, credentials):
    server = socks5d(f"--users_file={users_file}")
    result = curl("-x", f"socks5://127.0.0.1:{server.port}", "-U", credentials,
                  f"http://127.0.0.1:{web.port}/")
    assert result.returncode != 0, "curl succeeded with wrong credentials"
    assert result.stdout == b""


def test_curl_without_credentials_refused_by_auth_server(socks5d, users_file, web):
    server = socks5d(f"--users_file={users_file}")
    result = curl("-x", f"socks5://127.0.0.1:{server.port}", f"http://127.0.0.1:{web.port}/")
    assert result.returncode != 0 and result.stdout == b"", result
