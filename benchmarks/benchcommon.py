"""Helpers shared by the store benchmarks: the endpoint process, /proc readings, machine info, results.

The benchmarks start ``mi store serve`` themselves (a fresh process per measured phase, so that the
kernel's ``VmHWM`` high-water mark of the process *is* the peak memory of that phase) and always stop it
with SIGTERM and wait for it to exit, also when a benchmark fails or is interrupted.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import signal
import socket
import subprocess
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from types import TracebackType
from typing import Any

from marketintel.store.endpoint.process import serve_command

REPO = Path(__file__).resolve().parents[1]
BENCH_DIR = REPO / "benchmarks"
WORK_DIR = BENCH_DIR / ".work"  # gitignored: data directories, logs
RESULTS_DIR = BENCH_DIR / "results"
_T0 = time.monotonic()


def log(msg: str) -> None:
    """Print a progress line with the seconds elapsed since the benchmark started."""
    print(f"[{time.monotonic() - _T0:8.1f} s] {msg}", flush=True)


def free_port() -> int:
    """Return a TCP port that is free on 127.0.0.1 now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def proc_status(pid: int) -> dict[str, int]:
    """Return the ``kB`` fields of ``/proc/<pid>/status`` (VmRSS, VmHWM, ...) as integers [kB]."""
    out: dict[str, int] = {}
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            key, _, value = line.partition(":")
            parts = value.split()
            if len(parts) == 2 and parts[1] == "kB":
                out[key] = int(parts[0])
    return out


def vm_hwm_kb(pid: int) -> int:
    """Peak resident set size of a process so far [kB] (``VmHWM``)."""
    return proc_status(pid)["VmHWM"]


def vm_rss_kb(pid: int) -> int:
    """Current resident set size of a process [kB] (``VmRSS``)."""
    return proc_status(pid)["VmRSS"]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far [s] (all its threads)."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks  # utime, stime (fields 14 and 15 of stat)


def chdb_connect(path: str) -> Any:
    """``chdb.connect(path)``: a connection to the (one) embedded engine of this process."""
    import chdb

    connect: Any = chdb.connect  # untyped in chdb
    return connect(path)


def machine_busy_seconds() -> float:
    """CPU time all processes of the machine have used since boot [core-seconds] (``/proc/stat``)."""
    with open("/proc/stat") as fh:
        f = [int(x) for x in fh.readline().split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = f[:8]
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


class CpuWatch:
    """CPU used during a measured span: by our processes (by label) and by everything else on the machine.

    The machine is shared: ``others_cpu_s`` (machine-wide busy time minus ours) says how much of the
    cores other work took while a figure was measured; ``others_cores`` is that per wall second.
    """

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self._t0 = time.monotonic()
        self._busy0 = machine_busy_seconds()
        self._own0 = {k: cpu_seconds(p) for k, p in pids.items()}

    def stop(self) -> dict[str, Any]:
        """Return the CPU accounting since construction."""
        wall = time.monotonic() - self._t0
        busy = machine_busy_seconds() - self._busy0
        own = {k: cpu_seconds(p) - self._own0[k] for k, p in self.pids.items()}
        others = max(0.0, busy - sum(own.values()))
        return {
            "wall_s": round(wall, 2),
            **{f"{k}_cpu_s": round(v, 2) for k, v in own.items()},
            "others_cpu_s": round(others, 2),
            "others_cores": round(others / wall, 2) if wall > 0 else 0.0,
        }


def mib(kb: int) -> float:
    """Convert kB to MiB."""
    return round(kb / 1024, 1)


class RssSampler:
    """Sample a process's VmRSS in a background thread and keep the peak per labelled phase.

    ``VmHWM`` gives the peak of the whole process life; the sampler splits it by phase (e.g. warm-up,
    single-threaded, concurrent), at the sampling interval's resolution.
    """

    def __init__(self, pid: int, interval_s: float = 0.2) -> None:
        self.pid = pid
        self.interval_s = interval_s
        self.phase = "start"
        self.peaks_kb: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="rss-sampler")

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                rss = vm_rss_kb(self.pid)
            except (FileNotFoundError, ProcessLookupError, KeyError):
                return
            phase = self.phase
            if rss > self.peaks_kb.get(phase, 0):
                self.peaks_kb[phase] = rss
            self._stop.wait(self.interval_s)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)


@dataclass
class Endpoint:
    """A running ``mi store serve`` process started by a benchmark."""

    path: Path
    port: int
    proc: subprocess.Popen[bytes]
    log_path: Path
    started_rss_kb: int = 0
    stopped_hwm_kb: int = field(default=0)

    @property
    def pid(self) -> int:
        """The server's process id."""
        return self.proc.pid

    def client(self, **kwargs: Any) -> Any:
        """Return a clickhouse-connect client for this endpoint (library defaults unless overridden)."""
        import clickhouse_connect

        return clickhouse_connect.get_client(host="127.0.0.1", port=self.port, **kwargs)

    def hwm_kb(self) -> int:
        """Peak RSS of the server so far [kB]."""
        return vm_hwm_kb(self.pid)

    def stop(self, timeout_s: float = 120.0) -> int:
        """SIGTERM the server and wait for it to exit; SIGKILL if it does not within ``timeout_s``.

        Reads ``VmHWM`` just before the signal (afterwards the process may be gone).
        """
        if self.proc.poll() is None:
            with contextlib.suppress(FileNotFoundError, ProcessLookupError, KeyError):
                self.stopped_hwm_kb = vm_hwm_kb(self.pid)
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                log(f"endpoint pid {self.pid} still running {timeout_s:.0f} s after SIGTERM: SIGKILL")
                self.proc.kill()
                return self.proc.wait(30)
        return int(self.proc.returncode)

    def log_tail(self, lines: int = 30) -> str:
        """The last lines of the server's log."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"

    def __enter__(self) -> Endpoint:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _ping(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/ping", timeout=1) as r:
            return bool(r.status == 200)
    except OSError:
        return False


def start_endpoint(path: Path, *extra: str, port: int | None = None, timeout_s: float = 120.0) -> Endpoint:
    """Start ``python -m marketintel.cli store serve --path PATH --port PORT`` and wait for ``/ping``.

    The server runs in its own session (so a Ctrl-C in the terminal reaches only the benchmark, which
    then stops the server with SIGTERM); its output goes to ``<path>.log`` next to the data directory.
    """
    port = port or free_port()
    path.mkdir(parents=True, exist_ok=True)
    log_path = path.parent / f"{path.name}-endpoint.log"
    env = dict(os.environ)
    env.setdefault("MI_DATA_DIR", str(path.parent))
    with open(log_path, "ab") as fh:
        proc = subprocess.Popen(
            serve_command(path, port, extra_args=extra),
            stdout=fh,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
    ep = Endpoint(path, port, proc, log_path)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the endpoint exited with code {proc.returncode}:\n{ep.log_tail()}")
        if _ping(f"http://127.0.0.1:{port}"):
            ep.started_rss_kb = vm_rss_kb(proc.pid)
            return ep
        time.sleep(0.05)
    ep.stop()
    raise RuntimeError(f"the endpoint did not answer within {timeout_s:.0f} s:\n{ep.log_tail()}")


def _pkg(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def code_version() -> dict[str, Any]:
    """Which endpoint code was measured: git HEAD, whether the tree is dirty, a hash of the endpoint's files.

    The endpoint is under active development; the hash ties figures to the exact source they ran.
    """
    digest = hashlib.sha256()
    for f in sorted((REPO / "lib" / "marketintel" / "store" / "endpoint").glob("*.py")):
        digest.update(f.name.encode() + b"\0" + f.read_bytes())
    out: dict[str, Any] = {"endpoint_sources_sha256": digest.hexdigest()[:16]}
    try:
        head = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(REPO), "status", "--porcelain", "--", "lib/marketintel/store"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        out.update({"git_head": head, "store_sources_modified_since_head": bool(dirty)})
    except (OSError, subprocess.CalledProcessError):
        pass
    return out


def machine_info() -> dict[str, Any]:
    """What the figures were measured on: CPU, cores, memory, load, library versions."""
    cpu = "unknown"
    with open("/proc/cpuinfo") as fh:
        for line in fh:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem_kb = 0
    with open("/proc/meminfo") as fh:
        for line in fh:
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    return {
        "date_utc": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "hostname": platform.node(),
        "cpu_model": cpu,
        "nproc": os.cpu_count(),
        "mem_total_gib": round(mem_kb / 1024 / 1024, 1),
        "loadavg_at_start": os.getloadavg(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "packages": {p: _pkg(p) for p in ("chdb", "clickhouse-connect", "pandas", "numpy", "pyarrow", "lz4")},
        "code": code_version(),
    }


def write_results(name: str, data: dict[str, Any], path: Path | None = None) -> Path:
    """Write a benchmark's raw results as JSON to ``benchmarks/results/<name>.json`` (or ``path``)."""
    out = path or RESULTS_DIR / f"{name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")
    log(f"results written to {out}")
    return out
