"""wget2 told that socks5d is its HTTP proxy (a configuration mistake; issue 13, A12).

wget2 sends `GET http://... HTTP/1.1` to the SOCKS port. socks5d answers `HTTP/1.1 400 Bad
Request` with a one-line body naming socks5h://<listener>, then closes; wget2 reports the 400,
does not retry (it would retry a silent close, --tries times), and the access log has one
proto=http line for the attempt.
"""

import time

import pytest

import cells
from socks5lib import deadline
from test_clients import clean_env, run_client

COLUMN = "not SOCKS (HTTP)"

pytestmark = pytest.mark.usefixtures("proxy_alive")


@pytest.mark.cell("wget2", COLUMN)
def test_wget2_http_proxy_gets_400_and_stops(topo, proxies, services, tmp_path):
    assert COLUMN in cells.COMPAT_COLUMNS
    proxy = proxies.open
    mark = proxy.mark()
    http_mark = services.http.log.mark()
    url = f"http://{topo.addr.server4}:{services.http.port}/"
    home = tmp_path / "home"
    home.mkdir()
    start = time.monotonic()
    body = tmp_path / "body"
    result = run_client(topo, [
        "wget2", "--config=/dev/null", "--no-hsts", "--tries=5", "--waitretry=1",
        f"--http-proxy=http://{proxy.host4}:{proxy.port4}", "--content-on-error",
        "--max-threads=1", "-O", str(body), url], env=clean_env(HOME=str(home)))
    elapsed = time.monotonic() - start
    said = result.stdout + result.stderr
    # wget2 1.99.1 reports the status and exits 0 all the same (not 4, its network failure).
    assert result.returncode in (0, 8), (result.returncode, said)
    assert f"HTTP ERROR response 400 Bad Request [{url}]" in said, said
    assert said.count("Downloading") == 1, f"wget2 retried: {said}"
    assert body.read_text() == ("This is a SOCKS5 proxy, not an HTTP proxy: configure your "
                                f"client with the proxy socks5h://{proxy.host4}:{proxy.port4}\n")
    # One attempt: the first access line names it; no second one comes (wget2 has exited).
    proxy.server.wait_for_line(r"access client=\S+ user=- cmd=- target=- reply=- .* proto=http",
                               start=mark, timeout=deadline(5))
    lines = [l for l in proxy.server.lines[mark:] if "access client=" in l]
    assert len(lines) == 1 and lines[0].endswith(" proto=http"), lines
    assert elapsed < 5, f"wget2 took {elapsed:.1f}s: it retried"
    # Nothing reached the web server: the proxy did not forward anything.
    assert services.http.log.events[http_mark:] == []
