"""Find or start PostgreSQL and make sure PostGIS is installable (the SQL itself lives in luxxon.db.server)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from pathlib import Path

import psycopg

from luxxon.db.server import postgis_available, with_dbname

LOCAL_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
PRIVATE_PORT = 55432


def _listening(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def _pg_bin() -> Path:
    for version in sorted(Path("/usr/lib/postgresql").glob("*"), reverse=True):
        if (version / "bin" / "initdb").exists():
            return version / "bin"
    raise SystemExit("PostgreSQL is not installed: set DATABASE_URL or `apt-get install postgresql postgis`")


class PrivateCluster:
    """A PostgreSQL cluster of our own (trust auth, 127.0.0.1 only), from the server's installed binaries."""

    def __init__(self, data: Path, port: int) -> None:
        self.data, self.port = data, port
        self._bin = _pg_bin()
        self._as_postgres = [] if os.geteuid() != 0 else ["runuser", "-u", "postgres", "--"]

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def init(self) -> None:
        if (self.data / "PG_VERSION").exists():
            return
        self.data.mkdir(parents=True, exist_ok=True)
        if self._as_postgres:
            shutil.chown(self.data, "postgres")
        subprocess.run(
            [*self._as_postgres, str(self._bin / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust"],
            check=True,
            stdout=subprocess.DEVNULL,
        )

    def _ctl(self, *args: str) -> None:
        subprocess.run(
            [*self._as_postgres, str(self._bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.data / "server.log")]
            + list(args),
            check=True,
            stdout=subprocess.DEVNULL,
        )

    def start(self) -> bool:
        """Start the cluster unless it already runs; True when this call started it."""
        if _listening("127.0.0.1", self.port):
            return False
        self._ctl("-w", "start", "-o", f"-p {self.port} -k /tmp -c listen_addresses=127.0.0.1")
        return True

    def stop(self) -> None:
        self._ctl("-w", "-m", "fast", "stop")

    def stop_now(self) -> None:
        """Ask for an immediate shutdown and do not wait for it (a forced exit)."""
        self._ctl("-W", "-m", "immediate", "stop")


def server(root: Path) -> tuple[str, PrivateCluster | None]:
    """The maintenance URL of the server to use: DATABASE_URL's server, else 127.0.0.1:5432, else a cluster of our own
    under `root`/pg; and that cluster when this call started it (its starter stops it)."""
    if url := os.environ.get("DATABASE_URL"):
        return with_dbname(url, "postgres"), None
    if _listening("127.0.0.1", 5432):
        return LOCAL_SERVER, None
    cluster = PrivateCluster(root / "pg", PRIVATE_PORT)
    cluster.init()
    return cluster.url, cluster if cluster.start() else None


def server_url(root: Path) -> str:
    """`server`'s URL, for the tests and the benches: a cluster they start outlives them, for the next run."""
    return server(root)[0]


def database_name(default: str = "luxxon") -> str:
    """DATABASE_URL's database, else `default`."""
    if url := os.environ.get("DATABASE_URL"):
        return psycopg.conninfo.conninfo_to_dict(url).get("dbname") or default  # type: ignore[return-value]
    return default


def ensure_postgis(admin_url: str) -> None:
    """Install Debian's PostGIS package for the server's major version when the server lacks it (local only)."""
    available, major = postgis_available(admin_url)
    if available:
        return
    package = f"postgresql-{major}-postgis-3"
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise SystemExit(f"PostGIS is missing on the database server: install {package}")
    print(f"installing {package} (PostGIS) from Debian ...", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", package], check=True, env=env)
