"""--watch_config (issue 15, "Reload on file change"): the users and rules files are reloaded, as
SIGHUP does, when they change on disk: written in place, renamed into place, and updated the way
Kubernetes updates a mounted ConfigMap or Secret (a new timestamped directory, then the `..data`
symlink swapped over it). Bursts are one reload; unrelated files in the directory are not a
reload; a change to a bad file is a failed reload that keeps the old contents."""

import os
import time

from socks5lib import PASSWORD, USER, deadline
from test_reload import auth_status, write_users

DEBOUNCE = 1.0  # server/server.cc kWatchDebounce


def reload_lines(server):
    return [line for line in server.lines if "reloaded users=" in line or "reload failed" in line]


def wait_reloads(server, count, timeout=None):
    end = time.monotonic() + (timeout or deadline(10))
    while time.monotonic() < end:
        if len(reload_lines(server)) >= count:
            return reload_lines(server)
        time.sleep(0.05)
    raise AssertionError(f"{len(reload_lines(server))}/{count} reloads:\n{server.stderr}")


def test_rename_into_place_reloads(socks5d, users_file):
    server = socks5d(f"--users_file={users_file}", "--watch_config")
    assert auth_status(server, "carol", "n3w") != 0
    write_users(users_file, (USER, PASSWORD), ("carol", "n3w"))
    [line] = wait_reloads(server, 1)
    assert "reloaded users=2 rules=0" in line, line
    assert auth_status(server, "carol", "n3w") == 0
    assert auth_status(server, "bob", "hunter2") != 0


def test_write_in_place_and_a_burst_are_one_reload_each(socks5d, users_file):
    server = socks5d(f"--users_file={users_file}", "--watch_config")
    users_file.write_text(f"{USER}:{PASSWORD}\ndave:d1\n")
    wait_reloads(server, 1)
    assert auth_status(server, "dave", "d1") == 0
    # Ten rewrites in a tenth of a second: one reload, of the last contents.
    for i in range(10):
        users_file.write_text(f"{USER}:{PASSWORD}\nerin:e{i}\n")
        time.sleep(0.01)
    lines = wait_reloads(server, 2)
    time.sleep(DEBOUNCE * 2)
    assert len(reload_lines(server)) == 2, reload_lines(server)
    assert auth_status(server, "erin", "e9") == 0
    assert auth_status(server, "dave", "d1") != 0


def test_other_files_in_the_directory_are_ignored(socks5d, users_file):
    server = socks5d(f"--users_file={users_file}", "--watch_config")
    (users_file.parent / "unrelated.txt").write_text("not ours\n")
    os.replace(users_file.parent / "unrelated.txt", users_file.parent / "other.txt")
    time.sleep(DEBOUNCE * 2)
    assert reload_lines(server) == []


def test_kubernetes_configmap_symlink_swap(socks5d, tmp_path):
    # What kubelet's AtomicWriter does: ..TIMESTAMP/ holds the files, ..data -> ..TIMESTAMP, and
    # each file is a symlink through ..data. An update writes a new ..TIMESTAMP2/, points a new
    # symlink at it and renames it over ..data, then removes the old directory.
    volume = tmp_path / "volume"
    volume.mkdir()

    def publish(stamp, users, rules):
        data = volume / f"..{stamp}"
        data.mkdir()
        (data / "users").write_text(users)
        (data / "users").chmod(0o600)
        (data / "rules").write_text(rules)
        (volume / "..data_tmp").symlink_to(data.name)
        os.replace(volume / "..data_tmp", volume / "..data")

    publish("2026_12_02_01", f"{USER}:{PASSWORD}\n", "allow\n")
    (volume / "users").symlink_to("..data/users")
    (volume / "rules").symlink_to("..data/rules")
    server = socks5d(f"--users_file={volume / 'users'}", f"--rules_file={volume / 'rules'}",
                     "--watch_config")
    assert auth_status(server, "frank", "f1") != 0
    publish("2026_12_02_02", f"{USER}:{PASSWORD}\nfrank:f1\n", "allow\ndeny\n")
    for old in (volume / "..2026_12_02_01").iterdir():
        old.unlink()
    (volume / "..2026_12_02_01").rmdir()
    [line] = wait_reloads(server, 1)
    assert "reloaded users=2 rules=2" in line, line
    assert auth_status(server, "frank", "f1") == 0


def test_bad_file_is_a_failed_reload_and_the_old_users_stay(socks5d, users_file):
    server = socks5d(f"--users_file={users_file}", "--watch_config")
    tmp = users_file.with_name("users.new")
    tmp.write_text("no colon on this line\n")
    tmp.chmod(0o600)
    os.replace(tmp, users_file)
    [line] = wait_reloads(server, 1)
    assert "reload failed" in line and f"{users_file}:1" in line, line
    assert auth_status(server, USER, PASSWORD) == 0


def test_watch_without_files_is_refused(socks5d):
    server = socks5d("--watch_config", wait=False)
    server.expect_exit = True
    rc, stderr = server.wait_exit()
    assert rc != 0
    assert "--watch_config: nothing to watch (give --users_file or --rules_file)" in stderr
