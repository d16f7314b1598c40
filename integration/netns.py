"""Running Python code inside a network namespace (one made with `ip netns add`).

ip(*args, ns=NS) runs iproute2's `ip [-n NS] ARGS` and raises RuntimeError with its message when
it fails. call_in(ns, fn, ...) runs fn on a new thread that has entered /run/netns/NS with setns(2) and
returns its result (or raises its exception on the caller's thread). Sockets fn creates stay in
that namespace wherever they are used later. Used by the egress tests and the client matrix's
topology.
"""

import ctypes
import os
import subprocess
import threading

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def call_in(ns, fn, *args, **kwargs):
    box = {}

    def body():
        try:
            fd = os.open(f"/run/netns/{ns}", os.O_RDONLY)
            try:
                if _libc.setns(fd, CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), f"setns({ns})")
            finally:
                os.close(fd)
            box["value"] = fn(*args, **kwargs)
        except BaseException as e:  # re-raised on the caller's thread
            box["error"] = e

    thread = threading.Thread(target=body, name=f"netns-{ns}")
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


def ip(*args, ns=None):
    argv = ["ip", *(["-n", ns] if ns else []), *args]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=20)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {result.stderr.strip()}")
    return result.stdout
