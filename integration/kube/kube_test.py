#!/usr/bin/python3
"""Runs deploy/kubernetes with `podman kube play` and checks what a Kubernetes user relies on.

Invoked by integration/kube/test.sh (which makes sure the image exists). Everything listens on and
connects to 127.0.0.1 only: the pod uses the host's network (hostNetwork: true, as in the
manifests), socks5d listens on 127.0.0.1 ports picked here, and the CONNECT target is an HTTP
server this script runs on 127.0.0.1. Prints PASS/FAIL lines and `N passed, M failed`.

Environment: SOCKS5D_KUBE_IMAGE (the image, required), SOCKS5D_KUBE_PODMAN (the podman command,
default "podman").
"""
import http.server
import os
import shlex
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
IMAGE = os.environ["SOCKS5D_KUBE_IMAGE"]
PODMAN = shlex.split(os.environ.get("SOCKS5D_KUBE_PODMAN", "podman"))
POD = "socks5d-pod-0"  # podman 4.3 runs a Deployment's replica N as pod DEPLOYMENT-pod-N
CONTAINER = "socks5d-pod-0-socks5d"  # and names its containers POD-CONTAINER
BODY = b"hello through the pod\n"

passed = 0
failed = 0


def check(ok, what, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print(f"PASS {what}", flush=True)
    else:
        failed += 1
        print(f"FAIL {what}" + (f": {detail}" if detail else ""), flush=True)
    return ok


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)

    def log_message(self, *args):
        pass


def run(cmd, timeout=120, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)


def podman(*args, timeout=120):
    return run(PODMAN + list(args), timeout=timeout, env=podman_env)


def http_get(port, path):
    """(status, body) of GET http://127.0.0.1:port/path; (None, error) when nothing answers."""
    r = run(["curl", "-s", "-m", "3", "-o", "-", "-w", "\n%{http_code}", f"http://127.0.0.1:{port}{path}"],
            timeout=10)
    if r.returncode != 0:
        return None, r.stderr.strip() or f"curl exit {r.returncode}"
    body, _, code = r.stdout.rpartition("\n")
    return int(code), body


def curl_socks(user, password, target_port):
    """curl through the proxy; returns (exit status, body)."""
    proxy = f"socks5h://{user}:{password}@127.0.0.1:{socks_port}" if user else \
        f"socks5h://127.0.0.1:{socks_port}"
    r = run(["curl", "-s", "-m", "5", "--proxy", proxy, f"http://127.0.0.1:{target_port}/"], timeout=15)
    return r.returncode, r.stdout


def socks_connect(user, password, port):
    """A raw SOCKS5 CONNECT to 127.0.0.1:port kept open; returns the socket after a 00 reply."""
    s = socket.create_connection(("127.0.0.1", socks_port), timeout=5)
    s.sendall(b"\x05\x01\x02")
    assert s.recv(2) == b"\x05\x02"
    u, p = user.encode(), password.encode()
    s.sendall(bytes([1, len(u)]) + u + bytes([len(p)]) + p)
    assert s.recv(2) == b"\x01\x00"
    s.sendall(b"\x05\x01\x00\x01" + socket.inet_aton("127.0.0.1") + struct.pack("!H", port))
    reply = s.recv(10)
    assert reply[:2] == b"\x05\x00", reply
    return s


def udp_associate_echo(user, password, echo_port):
    """UDP ASSOCIATE, one datagram to the echo server through the relay; (relay address, reply)."""
    s = socket.create_connection(("127.0.0.1", socks_port), timeout=5)
    s.sendall(b"\x05\x01\x02")
    assert s.recv(2) == b"\x05\x02"
    u, p = user.encode(), password.encode()
    s.sendall(bytes([1, len(u)]) + u + bytes([len(p)]) + p)
    assert s.recv(2) == b"\x01\x00"
    s.sendall(b"\x05\x03\x00\x01" + socket.inet_aton("127.0.0.1") + b"\x00\x00")
    reply = s.recv(10)
    assert reply[:4] == b"\x05\x00\x00\x01", reply
    relay = (socket.inet_ntoa(reply[4:8]), struct.unpack("!H", reply[8:10])[0])
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
        u.bind(("127.0.0.1", 0))
        u.settimeout(3)
        header = b"\x00\x00\x00\x01" + socket.inet_aton("127.0.0.1") + struct.pack("!H", echo_port)
        u.sendto(header + b"ping", relay)
        try:
            data = u.recv(2048)[10:]
        except socket.timeout:
            data = None
    s.close()
    return relay, data


def wait_for(predicate, seconds):
    deadline = time.monotonic() + seconds
    while True:
        if predicate():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.25)


def manifests(rules=None):
    """The kustomize output turned into the podman variant (integration/kube/variant.py)."""
    k = run(["kubectl", "kustomize", os.path.join(REPO, "deploy/kubernetes")])
    if k.returncode != 0:
        sys.exit(f"kubectl kustomize failed: {k.stderr}")
    cmd = [sys.executable, os.path.join(REPO, "integration/kube/variant.py"), "--image", IMAGE,
           "--socks_port", str(socks_port), "--metrics_port", str(metrics_port),
           "--secret_out", secret_yaml]
    if rules is not None:
        cmd += ["--rules", rules]
    v = run(cmd, input=k.stdout)
    if v.returncode != 0:
        sys.exit(f"variant.py failed: {v.stderr}")
    return v.stdout


def leftovers():
    """Containers, pods, volumes and secrets of the names this test uses."""
    found = []
    for what, fmt in (("ps", "{{.Names}}"), ("pod", "{{.Name}}"), ("volume", "{{.Name}}"),
                      ("secret", "{{.Name}}")):
        args = [what, "ls", "--format", fmt] if what != "ps" else ["ps", "-a", "--format", fmt]
        if what == "pod":
            args = ["pod", "ps", "--format", fmt]
        out = podman(*args).stdout.split()
        found += [f"{what}:{n}" for n in out if n.startswith("socks5d-") or n == POD]
    return found


def remove_leftovers():
    podman("pod", "rm", "-f", "-t", "0", POD)
    for name in ("socks5d-config", "socks5d-users"):
        podman("volume", "rm", "-f", name)
        podman("secret", "rm", name)


def ready():
    return http_get(metrics_port, "/readyz")[0] == 200


def logs():
    return podman("logs", CONTAINER).stderr + podman("logs", CONTAINER).stdout


work = tempfile.mkdtemp(prefix="socks5d-kube-")
# podman kube play has no --ulimit: podman's default rlimits are above this machine's and refused,
# and crun fails here (shared/containers.md), so both come from a containers.conf of our own.
nofile = min(16384, os.sysconf("SC_OPEN_MAX"))
with open(os.path.join(work, "containers.conf"), "w") as f:
    f.write(f'[containers]\ndefault_ulimits = ["nofile={nofile}:{nofile}", "nproc=4096:4096"]\n'
            '[engine]\nruntime = "runc"\n')
podman_env = dict(os.environ, CONTAINERS_CONF=os.path.join(work, "containers.conf"))

socks_port = free_port()
metrics_port = free_port()
target = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
target_port = target.server_address[1]
threading.Thread(target=target.serve_forever, daemon=True).start()
echo = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
echo.bind(("127.0.0.1", 0))
echo_port = echo.getsockname()[1]


def serve_echo():
    while True:
        data, peer = echo.recvfrom(2048)
        echo.sendto(data, peer)


threading.Thread(target=serve_echo, daemon=True).start()

secret_users = None
for doc in yaml.safe_load_all(run(["kubectl", "kustomize", os.path.join(REPO, "deploy/kubernetes")]).stdout):
    if doc and doc["kind"] == "Secret":
        secret_users = doc["stringData"]["users"]
user, password = secret_users.splitlines()[0].split(":", 1)
print(f"image {IMAGE}; socks 127.0.0.1:{socks_port}, metrics 127.0.0.1:{metrics_port}, "
      f"target 127.0.0.1:{target_port}; user {user} from the Secret", flush=True)

remove_leftovers()
play_yaml = os.path.join(work, "play.yaml")
secret_yaml = os.path.join(work, "secret.yaml")
with open(play_yaml, "w") as f:
    f.write(manifests())
try:
    r = podman("secret", "create", "socks5d-users", secret_yaml)
    check(r.returncode == 0, "podman secret create socks5d-users (the Secret)", r.stderr.strip())
    t0 = time.monotonic()
    r = podman("kube", "play", play_yaml)
    check(r.returncode == 0, "podman kube play", r.stderr.strip()[-600:])
    up = wait_for(ready, 30)
    check(up, f"/readyz 200 after kube play ({time.monotonic() - t0:.1f}s)", logs()[-1500:])
    if not up:
        raise SystemExit

    code, body = http_get(metrics_port, "/healthz")
    check(code == 200, "/healthz 200", f"{code} {body}")
    code, body = http_get(metrics_port, "/metrics")
    check(code == 200 and "socks5d_" in body, "/metrics serves socks5d_ metrics", f"{code}")

    inspect = yaml.safe_load(podman("inspect", CONTAINER).stdout)[0]
    check(inspect["Config"]["User"].split(":")[0] == "10001", "runs as uid 10001 (securityContext)",
          inspect["Config"]["User"])
    check(inspect["HostConfig"]["ReadonlyRootfs"], "read-only root file system")
    check("--watch_config" in podman("exec", CONTAINER, "cat", "/etc/socks5d/config/socks5d.conf").stdout,
          "flagfile from the ConfigMap mounted")

    rc, body = curl_socks(user, password, target_port)
    check(rc == 0 and body.encode() == BODY, "CONNECT with the Secret's credentials", f"curl {rc} {body!r}")
    rc, body = curl_socks(user, password + "x", target_port)
    check(rc != 0 and not body, "wrong password refused", f"curl {rc} {body!r}")
    rc, body = curl_socks(None, None, target_port)
    check(rc != 0 and not body, "no credentials refused", f"curl {rc} {body!r}")

    # UDP ASSOCIATE: the reply carries --advertise_address (HOST_IP; 127.0.0.1 here) and a port of
    # --udp_port_range from the flagfile, bound in the pod's (the host's) network.
    relay, data = udp_associate_echo(user, password, echo_port)
    check(relay[0] == "127.0.0.1" and 10900 <= relay[1] <= 10999 and data == b"ping",
          f"UDP ASSOCIATE: relay {relay[0]}:{relay[1]} (advertised, --udp_port_range), echo through it",
          repr(data))

    # The ConfigMap changed in place, as the kubelet does it: the new file renamed into the mounted
    # directory while the pod runs. --watch_config must pick it up with no restart.
    mount = podman("volume", "inspect", "--format", "{{.Mountpoint}}", "socks5d-config").stdout.strip()
    with open(os.path.join(mount, ".rules.new"), "w") as f:
        f.write("deny\n")
    os.chmod(os.path.join(mount, ".rules.new"), 0o644)
    os.rename(os.path.join(mount, ".rules.new"), os.path.join(mount, "rules"))
    t0 = time.monotonic()
    denied = wait_for(lambda: curl_socks(user, password, target_port)[0] != 0, 10)
    check(denied, f"rules changed to deny in the mounted ConfigMap: CONNECT refused after "
          f"{time.monotonic() - t0:.1f}s, same container", logs()[-1500:])
    restarts = podman("inspect", "--format", "{{.RestartCount}}", CONTAINER).stdout.strip()
    check(restarts == "0" and ready() and "reload" in logs().lower(),
          "no restart for the reload (still ready, reload logged)", restarts)

    # Replay with the ConfigMap's original rules: kube play --replace writes them into the volume.
    r = podman("kube", "play", "--replace", play_yaml)
    check(r.returncode == 0, "podman kube play --replace", r.stderr.strip()[-600:])
    check(wait_for(ready, 30), "/readyz 200 after the replay")
    rc, body = curl_socks(user, password, target_port)
    check(rc == 0 and body.encode() == BODY, "replayed ConfigMap (allow) in effect: CONNECT works",
          f"curl {rc} {body!r}")

    # Replay with a changed ConfigMap (deny): the replayed rules are the pod's rules.
    with open(play_yaml, "w") as f:
        f.write(manifests(rules="deny\n"))
    r = podman("kube", "play", "--replace", play_yaml)
    check(r.returncode == 0 and wait_for(ready, 30), "podman kube play --replace with rules: deny")
    rc, body = curl_socks(user, password, target_port)
    check(rc != 0 and not body, "replayed ConfigMap (deny) in effect: CONNECT refused", f"curl {rc}")
    with open(play_yaml, "w") as f:
        f.write(manifests())
    r = podman("kube", "play", "--replace", play_yaml)
    check(r.returncode == 0 and wait_for(ready, 30), "podman kube play --replace back to allow")

    # Draining: SIGTERM (what the kubelet sends after preStop) turns /readyz 503 at once while an
    # open session still relays for --shutdown_grace.
    held = socks_connect(user, password, target_port)
    podman("kill", "--signal", "TERM", CONTAINER)
    t0 = time.monotonic()
    turned = wait_for(lambda: http_get(metrics_port, "/readyz")[0] == 503, 2)
    check(turned, f"SIGTERM: /readyz 503 after {time.monotonic() - t0:.2f}s")
    check(http_get(metrics_port, "/healthz")[0] == 200, "draining: /healthz still 200")
    check(curl_socks(user, password, target_port)[0] != 0, "draining: new connections refused")
    held.sendall(b"GET / HTTP/1.0\r\n\r\n")
    got = b""
    while chunk := held.recv(4096):
        got += chunk
    held.close()
    check(got.endswith(BODY), "draining: the open session still relays", repr(got[-100:]))
finally:
    t0 = time.monotonic()
    r = podman("kube", "down", play_yaml)
    check(r.returncode == 0, f"podman kube down ({time.monotonic() - t0:.1f}s)", r.stderr.strip())
    left = leftovers()
    containers = [x for x in left if x.startswith(("ps:", "pod:"))]
    check(not containers, "kube down: no pod or container left", " ".join(containers))
    # podman 4.3 keeps the ConfigMap/Secret volumes and the secret after kube down: ours to remove.
    if left:
        print(f"removing what kube down left: {' '.join(left)}")
    remove_leftovers()
    target.shutdown()
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed or not passed else 0)
