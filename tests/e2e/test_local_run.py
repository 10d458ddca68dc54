"""`make run` stops when asked: the local system (`python -m luxxon.local.run`, started as a user starts it, in a
session of its own) ends within a few seconds of one Ctrl-C to its process group, or of one SIGTERM to its main
process, and leaves no process behind and no port listening.

Each test has a whole system of its own (anvil, moto, the edge, the decoder, the gateway and its workers) on free ports,
with a database of its own that is dropped at the end and its `.local/` in a temporary directory; both systems start
at once, as start-up is most of this file's wall time. Processes and ports are read from /proc: the processes of the
system's session, and its descendants as they were before the signal.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, nullcontext, suppress
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from luxxon.db import server
from luxxon.local import database
from tests.conftest import ROOT

pytestmark = pytest.mark.e2e

UP_WITHIN_S = 120.0  # a cold start on a busy CI machine (migrations, anvil, the contracts, moto, the edge)
STOPPED_WITHIN_S = 8.0  # what "a few seconds" is allowed to be; here it takes one to two
PORT_VARIABLES = ("LX_PORT", "LX_EDGE_PORT", "LX_CHAIN_PORT", "LX_SQS_PORT")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Proc:
    pid: int
    ppid: int
    session: int
    state: str
    started: int  # clock ticks after boot: a pid that comes back is another process
    command: str

    def __str__(self) -> str:
        return f"{self.pid} ({self.state}, parent {self.ppid}) {self.command}"


def _processes() -> dict[int, Proc]:
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:  # it exited meanwhile
            continue
        fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) "; comm may hold spaces
        pid = int(entry.name)
        found[pid] = Proc(pid, int(fields[1]), int(fields[3]), fields[0], int(fields[19]), command[:120])
    return found


def _running(proc: Proc, now: dict[int, Proc]) -> bool:
    """Still there and not a zombie (an exited process whose new parent, init, has not reaped it yet)."""
    current = now.get(proc.pid)
    return current is not None and current.started == proc.started and current.state not in ("Z", "X")


def _listening_ports(pids: set[int] | None = None) -> set[int]:
    """TCP ports in LISTEN, of the sockets these processes hold (every process's when None)."""
    inodes: dict[str, int] = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            columns = line.split()
            if columns[3] == "0A":  # LISTEN
                inodes[columns[9]] = int(columns[1].rsplit(":", 1)[1], 16)
    if pids is None:
        return set(inodes.values())
    ports = set()
    for pid in pids:
        try:
            links = [os.readlink(fd) for fd in Path(f"/proc/{pid}/fd").iterdir()]
        except OSError:
            continue
        ports |= {inodes[link[8:-1]] for link in links if link.startswith("socket:[") and link[8:-1] in inodes}
    return ports


@contextmanager
def _sigint_ignored() -> Iterator[None]:
    """What a non-interactive shell does to a command it starts with `&` (`make run &` in a script): it starts with
    SIGINT ignored, and Python then installs no KeyboardInterrupt handler of its own. The issue's Ctrl-C hit that."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@dataclass
class LocalSystem:
    process: subprocess.Popen[str]
    ports: dict[str, int]
    output: list[str] = field(default_factory=list)
    up: threading.Event = field(default_factory=threading.Event)

    @property
    def pid(self) -> int:
        return self.process.pid

    def read_output(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line.rstrip())
            if "Luxxon is up" in line:
                self.up.set()

    def serving(self) -> None:
        """Up, and the gateway answers through a worker (a Lambda sandbox), so there is one to stop."""
        if not self.up.wait(UP_WITHIN_S):
            pytest.fail(f"the local system did not come up within {UP_WITHIN_S:.0f} s:\n{self.tail()}")
        url = f"http://127.0.0.1:{self.ports['LX_PORT']}/api/v1/health"
        with urllib.request.urlopen(url, timeout=30) as reply:
            assert reply.status == 200

    def tail(self) -> str:
        return "\n".join(self.output[-40:])

    def tree(self) -> list[Proc]:
        """Its session's processes and its descendants (a process that left the session is still one of them)."""
        now = _processes()
        tree = {pid for pid, proc in now.items() if proc.session == self.pid}
        children: dict[int, list[int]] = {}
        for proc in now.values():
            children.setdefault(proc.ppid, []).append(proc.pid)
        todo = [self.pid]
        while todo:
            pid = todo.pop()
            tree.add(pid)
            todo += children.get(pid, [])
        return [now[pid] for pid in sorted(tree) if pid in now]

    def left(self, before: list[Proc]) -> list[Proc]:
        now = _processes()
        return [p for p in {*before, *self.tree()} if _running(p, now)]


@contextmanager
def local_system(cwd: Path, *, sigint_ignored: bool = False, own_redis: bool = False) -> Iterator[LocalSystem]:
    """`python -m luxxon.local.run` starting on free ports with a database of its own, in a session of its own; at the
    end whatever is left of it is killed and its database dropped. `own_redis`: its frame store's Redis on a free port
    where none listens, so the system starts one itself (as on a machine without Redis)."""
    admin = database.server_url(ROOT / ".local")
    name = f"lx_test_run_{uuid.uuid4().hex[:12]}"
    ports = {variable: _free_port() for variable in PORT_VARIABLES}
    redis = {"LX_REDIS_URL": f"redis://127.0.0.1:{_free_port()}/0"} if own_redis else {}
    env = {
        **os.environ,
        **{variable: str(port) for variable, port in ports.items()},
        **redis,
        "DATABASE_URL": server.with_dbname(admin, name),
        "LX_GATEWAY_WORKERS": "2",
        "LX_DECODER_PROCESSES": "1",
        "PYTHONUNBUFFERED": "1",
    }
    command = [sys.executable, "-m", "luxxon.local.run"]
    with _sigint_ignored() if sigint_ignored else nullcontext():
        process = subprocess.Popen(
            command,
            cwd=cwd,
            env=env,
            start_new_session=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
    if own_redis:
        ports["LX_REDIS_URL"] = int(redis["LX_REDIS_URL"].rsplit(":", 1)[1].split("/")[0])
    system = LocalSystem(process, ports)
    threading.Thread(target=system.read_output, daemon=True).start()
    try:
        yield system
    finally:
        if process.poll() is None:  # not stopped by its test (it failed, or did not run): ask, then kill the rest
            process.terminate()
            with suppress(subprocess.TimeoutExpired):
                process.wait(STOPPED_WITHIN_S)
        for proc in system.tree():
            with suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGKILL)
        process.wait(10)
        server.drop_database(admin, name)


@pytest.fixture(scope="module")
def systems(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, LocalSystem]]:
    """Each test's system, all starting at once (about 5 s each here, 7 s for two side by side)."""
    with ExitStack() as stack:
        yield {
            # started with SIGINT ignored, as `make run &` from a script starts it: where the Ctrl-C hung
            # and with no Redis where it looks: it starts its own, which must stop with it
            "ctrl-c": stack.enter_context(
                local_system(tmp_path_factory.mktemp("ctrl-c"), sigint_ignored=True, own_redis=True)
            ),
            "sigterm": stack.enter_context(local_system(tmp_path_factory.mktemp("sigterm"))),
            "forced": stack.enter_context(local_system(tmp_path_factory.mktemp("forced"))),
        }


def _assert_stops(system: LocalSystem, send: str, before: list[Proc], ports: set[int], code_expected: int = 0) -> None:
    """Within STOPPED_WITHIN_S of the signal: the main process exited (0: cleanly), nothing of it runs, no port
    listens."""
    signalled = time.monotonic()
    deadline = signalled + STOPPED_WITHIN_S
    try:
        code = system.process.wait(STOPPED_WITHIN_S)
    except subprocess.TimeoutExpired:
        code = None
    exited = time.monotonic() - signalled
    while (left := system.left(before) or _listening_ports() & ports) and time.monotonic() < deadline:
        time.sleep(0.05)
    gone = time.monotonic() - signalled
    report = (
        f"after {send}: main exited with {code} in {exited:.2f} s; after {gone:.2f} s still running: "
        + "".join(f"\n  {proc}" for proc in system.left(before))
        + f"\n  ports still listening: {sorted(_listening_ports() & ports)}\noutput:\n{system.tail()}"
    )
    assert code == code_expected, report
    assert not left, report


def test_ctrl_c_to_the_process_group_stops_everything_and_frees_every_port(systems: dict[str, LocalSystem]) -> None:
    # Given the local system serving, started with SIGINT ignored (as `make run &` from a script starts it)
    system = systems["ctrl-c"]
    system.serving()
    before = system.tree()
    ports = _listening_ports({proc.pid for proc in before})
    assert set(system.ports.values()) <= ports, (system.ports, ports)

    # When Ctrl-C reaches its whole process group (what a terminal does)
    os.killpg(system.pid, signal.SIGINT)

    # Then within seconds it has exited, nothing it started runs, and no port it listened on listens
    _assert_stops(system, "SIGINT to the process group", before, ports)


def test_sigterm_to_the_main_process_stops_everything_and_frees_every_port(systems: dict[str, LocalSystem]) -> None:
    # Given the local system serving
    system = systems["sigterm"]
    system.serving()
    before = system.tree()
    ports = _listening_ports({proc.pid for proc in before})
    assert set(system.ports.values()) <= ports, (system.ports, ports)

    # When only its main process gets SIGTERM (what `kill`, systemd or a container stop sends)
    os.kill(system.pid, signal.SIGTERM)

    # Then within seconds it has exited, nothing it started runs, and no port it listened on listens
    _assert_stops(system, "SIGTERM to the main process", before, ports)


def test_a_second_signal_while_stopping_kills_everything_at_once(systems: dict[str, LocalSystem]) -> None:
    # Given the local system serving, already stopping after a SIGTERM
    system = systems["forced"]
    system.serving()
    before = system.tree()
    ports = _listening_ports({proc.pid for proc in before})
    os.kill(system.pid, signal.SIGTERM)
    time.sleep(0.2)

    # When Ctrl-C reaches its process group while it stops (an impatient user)
    os.killpg(system.pid, signal.SIGINT)

    # Then it exits at once with 128 + SIGINT, and nothing it started runs or listens
    _assert_stops(system, "SIGTERM, then SIGINT to the group", before, ports, code_expected=128 + signal.SIGINT)
