"""Session fixtures for the client matrix: topology, target services, two socks5d instances.

  topo      topology.Topology (three namespaces, or the loopback fallback)
  services  services.Services in the server role
  proxies   Proxies: `.open` (--allow_open_proxy, no auth) and `.auth` (--users_file), both in
            the proxy role listening on the proxy host's client-facing IPv4 and IPv6 addresses
  node_socks  path of integration/matrix/node_modules (npm install on first use)

Each test carries @pytest.mark.cell(client, column) or @pytest.mark.negative(case, sends,
expects); run.py turns the outcomes into the tables.
"""

import pathlib
import shutil
import subprocess
import sys

import pytest

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import topology  # noqa: E402
from proxies import PASSWORD, USER, Proxies  # noqa: E402
from services import Services  # noqa: E402


def pytest_configure(config):
    config.addinivalue_line("markers", "cell(client, column): one cell of the client matrix")
    config.addinivalue_line("markers", "negative(case, sends, expects): a negative matrix row")
    config.addinivalue_line("markers", "unsupported(client, column): shows a NOT_SUPPORTED claim")


@pytest.fixture(scope="session")
def topo(request):
    t = topology.Topology().setup()
    for plugin in request.config.pluginmanager.get_plugins():
        if getattr(plugin, "name", None) == "matrix-table":  # run.py's table printer
            plugin.topology = (t.isolated, t.reason)
    if not t.isolated:
        sys.stderr.write(f"matrix: LOOPBACK FALLBACK: {t.reason}\n")
    try:
        yield t
    finally:
        t.teardown()


@pytest.fixture(scope="session")
def services(topo, tmp_path_factory):
    s = Services(topo, tmp_path_factory.mktemp("ftp-root"))
    try:
        yield s
    finally:
        s.close()


@pytest.fixture(scope="session")
def proxies(topo, services, tmp_path_factory):
    users = tmp_path_factory.mktemp("users") / "users"
    users.write_text(f"{USER}:{PASSWORD}\nsomeone:else\n")
    p = Proxies(topo, users, (services.dns.host, services.dns.port))
    try:
        yield p
    finally:
        problems = []
        for proxy in p.all():
            alive = proxy.alive()
            rc = proxy.stop()
            sys.stderr.write(f"--- socks5d ({proxy.label}) rc={rc} output:\n{proxy.server.stderr}\n")
            if not alive:
                problems.append(f"{proxy.label} died during the session (rc={rc})")
            if proxy.server.sanitizer_report():
                problems.append(f"sanitizer report from {proxy.label}")
        if problems:
            pytest.fail("; ".join(problems))


@pytest.fixture
def proxy_alive(proxies):
    """Every cell ends by checking that both servers are still running."""
    yield proxies
    for proxy in proxies.all():
        assert proxy.alive(), f"{proxy.label} is no longer running: {proxy.server._tail()}"


@pytest.fixture(scope="session")
def node_socks():
    """integration/matrix/node_modules with the npm package `socks` (npm ci/install if missing)."""
    modules = HERE / "node_modules"
    if not (modules / "socks" / "package.json").exists():
        assert shutil.which("node") and shutil.which("npm"), (
            "node and npm are needed for the npm `socks` cells (NodeSource's nodejs package "
            "bundles npm; with Debian's nodejs install the npm package too)")
        lock = HERE / "package-lock.json"
        argv = ["npm", "ci" if lock.exists() else "install", "--no-audit", "--no-fund",
                "--no-update-notifier"]
        result = subprocess.run(argv, cwd=HERE, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, f"{' '.join(argv)} failed: {result.stderr[-2000:]}"
    assert (modules / "socks" / "package.json").exists(), "npm did not install `socks`"
    return modules
