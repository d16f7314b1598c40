#!/usr/bin/python3
"""Runs the client matrix with pytest and prints it as Markdown tables.

    /usr/bin/python3 integration/matrix/run.py [pytest args, e.g. -k curl]

The server under test is $SOCKS5D_BIN (default <repo>/build/socks5d). Needs root (network
namespaces); without them the suite runs on loopback and the tables say so.
Exit status 0 only when every test passed (a "not supported" cell is not a failure; a cell
with neither a test nor a reason is)."""

import collections
import os
import pathlib
import subprocess
import sys

import pytest

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import cells  # noqa: E402


class Collector:
    """pytest plugin: the outcome of every test with its cell/negative marker."""

    name = "matrix-table"

    def __init__(self):
        self.marks = {}  # nodeid -> ("cell", client, column) | ("negative", case, sends, expects)
        self.outcomes = {}  # nodeid -> "pass" | "FAIL" | "skipped: reason"
        self.topology = None  # set by the topo fixture: (isolated, reason)

    def pytest_collection_modifyitems(self, items):
        for item in items:
            for kind in ("cell", "unsupported", "negative"):
                marker = item.get_closest_marker(kind)
                if marker:
                    self.marks[item.nodeid] = (kind, *marker.args)
                    break

    def pytest_runtest_logreport(self, report):
        previous = self.outcomes.get(report.nodeid)
        if report.failed:
            self.outcomes[report.nodeid] = "FAIL"
        elif report.skipped and previous != "FAIL":
            reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else "skipped"
            self.outcomes[report.nodeid] = "skipped: " + reason.removeprefix("Skipped: ")
        elif report.when == "call" and report.passed and previous is None:
            self.outcomes[report.nodeid] = "pass"


def combine(results):
    """One cell from the outcomes of its tests."""
    if not results:
        return "not run"
    if any(r == "FAIL" for r in results):
        passed = sum(r == "pass" for r in results)
        return "**FAIL**" + (f" ({passed}/{len(results)})" if len(results) > 1 else "")
    if all(r == "pass" for r in results):
        return "pass"
    return "; ".join(sorted(set(r for r in results if r != "pass")))


def client_table(collector, loopback):
    by_cell = collections.defaultdict(list)
    claims = collections.defaultdict(list)
    for nodeid, mark in collector.marks.items():
        if mark[0] in ("cell", "unsupported") and nodeid in collector.outcomes:
            target = by_cell if mark[0] == "cell" else claims
            target[(mark[1], mark[2])].append(collector.outcomes[nodeid])
    selected = {(m[1], m[2]) for m in collector.marks.values() if m[0] == "cell"}
    notes = []
    lines = ["| client | " + " | ".join(cells.COLUMNS) + " |",
             "| --- |" + " --- |" * len(cells.COLUMNS)]
    missing = []
    for client in cells.CLIENTS:
        row = []
        for column in cells.COLUMNS:
            key = (client, column)
            if key in cells.NOT_SUPPORTED:
                notes.append(f"{client}, {column}: {cells.NOT_SUPPORTED[key]}")
                check = combine(claims[key]) if key in claims else None
                if check is None:
                    row.append(f"not supported [{len(notes)}]")
                elif check == "pass":
                    row.append(f"not supported, checked [{len(notes)}]")
                else:
                    row.append(f"not supported, check {check} [{len(notes)}]")
            elif key in selected:
                value = combine(by_cell.get(key, []))
                row.append(value + (" (loopback)" if loopback and value == "pass" else ""))
            else:
                row.append("not run")
                missing.append(key)
        lines.append(f"| {client} | " + " | ".join(row) + " |")
    lines.append("")
    lines += [f"[{i}] {note}  " for i, note in enumerate(notes, 1)]
    return lines, missing


def compat_table(collector, loopback):
    """The COMPAT table: like client_table over COMPAT_CLIENTS x COMPAT_COLUMNS, but a cell
    with neither a test nor a reason is "n/a" (the client lacks the feature), not missing."""
    by_cell = collections.defaultdict(list)
    for nodeid, mark in collector.marks.items():
        if mark[0] == "cell" and nodeid in collector.outcomes:
            by_cell[(mark[1], mark[2])].append(collector.outcomes[nodeid])
    selected = {(m[1], m[2]) for m in collector.marks.values() if m[0] == "cell"}
    notes = []
    lines = ["| client | " + " | ".join(cells.COMPAT_COLUMNS) + " |",
             "| --- |" + " --- |" * len(cells.COMPAT_COLUMNS)]
    for client in cells.COMPAT_CLIENTS:
        row = []
        for column in cells.COMPAT_COLUMNS:
            key = (client, column)
            if key in cells.NOT_SUPPORTED:
                notes.append(f"{client}, {column}: {cells.NOT_SUPPORTED[key]}")
                row.append(f"not supported [{len(notes)}]")
            elif key in selected:
                value = combine(by_cell.get(key, []))
                row.append(value + (" (loopback)" if loopback and value == "pass" else ""))
            else:
                row.append("n/a")
        lines.append(f"| {client} | " + " | ".join(row) + " |")
    lines.append("")
    lines += [f"[{i}] {note}  " for i, note in enumerate(notes, 1)]
    return lines


def negative_table(collector):
    lines = ["| case | client sends | server must | result |", "| --- | --- | --- | --- |"]
    rows = collections.OrderedDict()
    for nodeid, mark in collector.marks.items():
        if mark[0] == "negative" and nodeid in collector.outcomes:
            rows.setdefault(mark[1:], []).append(collector.outcomes[nodeid])
    for (case, sends, expects), results in rows.items():
        lines.append(f"| {case} | {sends} | {expects} | {combine(results)} |")
    return lines


def describe_binary():
    sys.path.insert(0, str(HERE.parent))
    import socks5lib
    binary = socks5lib.binary_path()
    rev = subprocess.run(["git", "-C", str(HERE), "describe", "--always", "--dirty"],
                         capture_output=True, text=True).stdout.strip() or "unknown revision"
    return f"{binary} (source tree at run time: {rev})"


def main(argv):
    collector = Collector()
    os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    status = pytest.main([str(HERE), "-q", "-p", "no:cacheprovider", "-rfE", *argv],
                         plugins=[collector])
    isolated, reason = collector.topology or (None, "the topology fixture did not run")
    print()
    print(f"socks5d under test: {describe_binary()}")
    print()
    if isolated:
        print("## Client matrix: network namespaces (client 192.0.2.2 / 2001:db8:1::2 -> "
              "socks5d on 192.0.2.1 / 2001:db8:1::1 | 198.51.100.1 / 2001:db8:2::1 -> "
              "server 198.51.100.2 / 2001:db8:2::2; no forwarding on the proxy host)")
    else:
        print(f"## Client matrix: LOOPBACK FALLBACK ({reason}); passes are not proven proxied")
    print()
    table, missing = client_table(collector, loopback=not isolated)
    print("\n".join(table))
    print()
    print("## Compatibility matrix (issue 13: SOCKS4/4a, Tor's extensions, clients that are not "
          "plain RFC 1928; n/a: the client does not have that feature)")
    print()
    print("\n".join(compat_table(collector, loopback=not isolated)))
    print()
    print("## Negative matrix (docs/conformance.md cases; after each, the server serves a normal "
          "CONNECT) and isolation checks")
    print()
    print("\n".join(negative_table(collector)))
    print()
    if missing and not argv:
        print("cells with neither a test nor a not-supported reason: "
              + ", ".join(f"{c}/{col}" for c, col in missing))
        return 1
    return int(status)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
