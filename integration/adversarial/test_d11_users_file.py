"""Defect 11: a UTF-8 byte-order mark became part of the first user name, blanks around a name
were kept silently, and a users file others can read was accepted without a word."""

import os

import pytest

import socks5lib
from assumed import LOG_USERS_FILE_READABLE
from socks5lib import deadline


def _write(tmp_path, data, mode=0o600):
    path = tmp_path / "users"
    path.write_bytes(data)
    os.chmod(path, mode)
    return path


def test_bom_is_stripped(adv_server, tmp_path, echo_server):
    path = _write(tmp_path, b"\xef\xbb\xbfalice:s3cret\nbob:hunter2\n")
    server = adv_server(f"--users_file={path}")
    with server.client() as client:
        client.send(socks5lib.greeting(socks5lib.METHOD_USERPASS))
        client.expect(b"\x05\x02")
        client.send(socks5lib.userpass("alice", "s3cret"))
        status = client.recv_exact(2)
    assert status == b"\x01\x00", (f"the first user of a users file starting with a UTF-8 BOM "
                                   f"cannot log in: status {socks5lib.hexs(status)}")


@pytest.mark.parametrize("line", [b" carol:pw", b"carol :pw", b"\tcarol:pw"],
                         ids=["leading-space", "trailing-space", "leading-tab"])
def test_blanks_around_a_name_are_refused(adv_server, tmp_path, line):
    path = _write(tmp_path, b"alice:s3cret\n" + line + b"\n")
    server = adv_server(f"--users_file={path}", wait=False)
    server.expect_exit = True
    try:
        rc, stderr = server.wait_exit(timeout=deadline(1.5))
    except AssertionError:
        raise AssertionError(f"socks5d started with the users file line {line!r} (blanks "
                             f"around the name) instead of refusing it") from None
    assert rc != 0, stderr
    assert f"{path}:2" in stderr, f"the error does not name {path}:2:\n{stderr}"


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604], ids=["644", "640", "604"])
def test_readable_users_file_warns(adv_server, tmp_path, mode):
    path = _write(tmp_path, b"alice:s3cret\n", mode)
    server = adv_server(f"--users_file={path}")
    with server.client() as client:  # served: start-up (and its warnings) is over
        client.handshake("alice", "s3cret")
    assert server.count_lines(LOG_USERS_FILE_READABLE) == 1, (
        f"a users file with mode {mode:o} gave no start-up warning matching "
        f"/{LOG_USERS_FILE_READABLE}/:\n{server.stderr}")


def test_private_users_file_does_not_warn(adv_server, tmp_path):
    path = _write(tmp_path, b"alice:s3cret\n", 0o600)
    server = adv_server(f"--users_file={path}")
    with server.client() as client:  # served: start-up is over
        client.handshake("alice", "s3cret")
    assert server.count_lines(LOG_USERS_FILE_READABLE) == 0
