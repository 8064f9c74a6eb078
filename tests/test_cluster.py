"""The batch engine on a real Dask cluster: `dask scheduler` + two `dask worker` processes on this machine.

Also checks the dask-jobqueue configuration documented in docs/cluster.md (no SLURM/PBS needed to
generate a job script).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _batch_helpers import (  # noqa: E402
    REAL_PARAMS,
    expected_table,
    free_port,
    real_run_task,
    subprocess_env,
    toy_run,
    toy_tasks,
)

from bantar_sim.engine.batch import ExecutorLostError, RunTask, load_manifest, load_table, run_batch  # noqa: E402
from bantar_sim.engine.executors import SchedulerConnectionError, SerialExecutor, dask_client, make_executor  # noqa: E402

pytestmark = pytest.mark.cluster

MV = "test-model-1"
DASK = str(Path(sys.executable).parent / "dask")
DOCS = Path(__file__).resolve().parents[1] / "docs" / "cluster.md"


class ManualCluster:
    """A scheduler and workers started as separate processes (own process groups), as on a real cluster."""

    def __init__(self, log_dir: Path):
        self.log_dir = log_dir
        self.port = free_port()
        self.address = f"tcp://127.0.0.1:{self.port}"
        self.scheduler: subprocess.Popen | None = None
        self.workers: list[subprocess.Popen] = []
        self._logs = []

    def _start(self, args: list[str], name: str) -> subprocess.Popen:
        log = open(self.log_dir / f"{name}.log", "wb")
        self._logs.append(log)
        return subprocess.Popen([DASK, *args], env=subprocess_env(), stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)

    def start(self, n_workers: int = 2) -> ManualCluster:
        self.scheduler = self._start(["scheduler", "--host", "127.0.0.1", "--port", str(self.port),
                                      "--no-dashboard"], "scheduler")
        for i in range(n_workers):
            self.workers.append(self._start(["worker", self.address, "--nworkers", "1", "--nthreads", "1",
                                             "--no-dashboard", "--name", f"w{i}"], f"worker{i}"))
        from distributed import Client

        with Client(self.address, timeout=30) as c:
            c.wait_for_workers(n_workers, timeout=60)
            # import the engine and the toy model on every worker now (bantar_sim imports mesa: seconds),
            # so that "mid-batch" below means mid-batch and not "while workers still import"
            c.run(__import__, "_batch_helpers")
        return self

    def worker_pids(self) -> dict[str, int]:
        """Worker name -> pid of the process computing tasks (the child of the nanny)."""
        from distributed import Client

        with Client(self.address, timeout=10) as c:
            return {w["name"]: pid for w, pid in
                    ((info, c.run(os.getpid, workers=[addr])[addr])
                     for addr, info in c.scheduler_info()["workers"].items())}

    @staticmethod
    def kill(proc: subprocess.Popen) -> None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # the dask CLI process and its worker child
        except ProcessLookupError:
            pass
        proc.wait(10)

    def close(self) -> None:
        for p in [*self.workers, *([self.scheduler] if self.scheduler else [])]:
            self.kill(p)
        for log in self._logs:
            log.close()

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text()[-2000:]}" for p in sorted(self.log_dir.glob("*.log")))


@pytest.fixture
def dask_cluster(tmp_path, request):
    log_dir = tmp_path / "dask-logs"
    log_dir.mkdir()
    cluster = ManualCluster(log_dir)
    request.addfinalizer(cluster.close)  # even if start() fails half-way
    return cluster.start(2)


def _wait_stored(out: Path, n: int, timeout: float = 60) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            k = int((load_manifest(out).status == "ok").sum())
            if k >= n:
                return k
        except FileNotFoundError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"fewer than {n} runs stored in {out} after {timeout} s")


@pytest.mark.timeout(180)
def test_cluster_batch_matches_serial(dask_cluster, tmp_path):
    tasks = toy_tasks(12, n_rows=4)
    real = real_run_task()
    real_tasks = [RunTask(params=REAL_PARAMS, seed=s, tags={"replicate": i}) for i, s in enumerate([3, 2**64 - 2])]
    with make_executor("dask", scheduler=dask_cluster.address, timeout=10) as ex:
        s = run_batch(tasks, toy_run, tmp_path / "dask", ex, progress=False, model_version=MV)
        assert (s.n_done, s.n_failed) == (12, 0), load_manifest(tmp_path / "dask")["error"].dropna().tolist()
        if real is not None:
            assert run_batch(real_tasks, real, tmp_path / "real-dask", ex, progress=False).n_done == 2
    run_batch(tasks, toy_run, tmp_path / "serial", SerialExecutor(), progress=False, model_version=MV)
    for t in ("draws", "summary"):
        pd.testing.assert_frame_equal(load_table(tmp_path / "dask", t), load_table(tmp_path / "serial", t))
    assert (load_manifest(tmp_path / "dask")["pid"] != os.getpid()).all()  # computed on the workers
    if real is not None:
        run_batch(real_tasks, real, tmp_path / "real-serial", SerialExecutor(), progress=False)
        for t in ("city_year", "metrics"):
            pd.testing.assert_frame_equal(load_table(tmp_path / "real-dask", t),
                                          load_table(tmp_path / "real-serial", t))


@pytest.mark.timeout(180)
def test_worker_killed_mid_batch_every_run_stored_once(dask_cluster, tmp_path):
    n = 30
    tasks = toy_tasks(n, sleep=0.15, n_rows=2)
    out = tmp_path / "out"
    pids = dask_cluster.worker_pids()
    killed: dict = {}

    def killer():
        killed["stored_before"] = _wait_stored(out, 6)
        dask_cluster.kill(dask_cluster.workers[0])
        killed["at"] = time.monotonic()

    th = threading.Thread(target=killer, daemon=True)
    th.start()
    with make_executor("dask", scheduler=dask_cluster.address, timeout=10) as ex:
        s = run_batch(tasks, toy_run, out, ex, progress=False, model_version=MV)
    th.join(5)
    assert "at" in killed, "the batch ended before a worker could be killed"
    assert killed["stored_before"] < n
    assert (s.n_done, s.n_failed) == (n, 0), load_manifest(out)["error"].dropna().tolist()
    att = load_manifest(out, all_attempts=True)
    assert len(att) == n and att["run_id"].is_unique  # every run stored exactly once
    assert set(att["pid"]) <= set(pids.values()) and pids["w0"] in set(att["pid"])  # both worked before the kill
    late = att[pd.to_datetime(att["start_time"]) > pd.Timestamp.now(tz="UTC") - pd.Timedelta(
        seconds=time.monotonic() - killed["at"] - 0.5)]
    assert set(late["pid"]) <= {pids["w1"]}  # afterwards only the surviving worker ran (incl. rescheduled runs)
    for t in ("draws", "summary"):
        pd.testing.assert_frame_equal(load_table(out, t), expected_table(tasks, t, MV))


@pytest.mark.timeout(180)
def test_scheduler_killed_mid_batch_clear_error_runs_kept_and_resume(dask_cluster, tmp_path):
    n = 30
    tasks = toy_tasks(n, sleep=0.1)
    out = tmp_path / "out"
    killed: dict = {}

    def killer():
        killed["stored_before"] = _wait_stored(out, 5)
        dask_cluster.kill(dask_cluster.scheduler)
        killed["at"] = time.monotonic()

    th = threading.Thread(target=killer, daemon=True)
    th.start()
    timeout = 5
    with pytest.raises(ExecutorLostError) as ei:
        with make_executor("dask", scheduler=dask_cluster.address, timeout=timeout) as ex:
            run_batch(tasks, toy_run, out, ex, progress=False, model_version=MV)
    raised_after = time.monotonic() - killed["at"]
    msg = str(ei.value)
    assert dask_cluster.address in msg and "Rerun the same batch to resume" in msg
    assert raised_after < timeout + 5, f"error only {raised_after:.1f} s after the scheduler died"
    stored = int((load_manifest(out).status == "ok").sum())
    assert killed["stored_before"] <= stored < n

    s = run_batch(tasks, toy_run, out, SerialExecutor(), progress=False, model_version=MV)
    assert (s.n_skipped, s.n_done, s.n_failed) == (stored, n - stored, 0)
    att = load_manifest(out, all_attempts=True)
    assert len(att) == n and att["run_id"].is_unique
    pd.testing.assert_frame_equal(load_table(out, "summary"), expected_table(tasks, "summary", MV))


@pytest.mark.timeout(60)
def test_unreachable_scheduler_clear_error_within_timeout(tmp_path):
    address = f"tcp://127.0.0.1:{free_port()}"  # nothing listens there
    for open_ in (lambda: make_executor("dask", scheduler=address, timeout=2),
                  lambda: dask_client(address, None, 2)):
        t0 = time.monotonic()
        with pytest.raises(SchedulerConnectionError, match=re.escape(address)) as ei:
            with open_():
                pass
        assert time.monotonic() - t0 < 2 + 5
        assert isinstance(ei.value, ConnectionError) and "within 2 s" in str(ei.value)
    for bad in ("", "notaurl", "http://host:1"):
        with pytest.raises(ValueError, match="is not a scheduler address; allowed: tcp://HOST:PORT"):
            with make_executor("dask", scheduler=bad, timeout=2):
                pass


# --- docs/cluster.md: the documented dask-jobqueue configurations -----------------------------------
def _doc_snippet(tag: str) -> str:
    text = DOCS.read_text()
    for block in re.findall(r"```python\n(.*?)```", text, flags=re.S):
        if block.startswith(f"# docs-test: {tag}\n"):
            return block
    raise AssertionError(f"no ```python block starting with '# docs-test: {tag}' in {DOCS}")


@pytest.mark.timeout(60)
@pytest.mark.parametrize("tag, directives", [
    ("slurm", ["#SBATCH -J bantar-worker", "#SBATCH -p compute", "#SBATCH -A my_project", "#SBATCH -n 1",
               "#SBATCH --cpus-per-task=8", "#SBATCH --mem=14G", "#SBATCH -t 04:00:00",
               "#SBATCH --output=dask-logs/%x-%j.out", "#SBATCH --exclusive",
               "--nworkers 8", "--nthreads 1", "--memory-limit 1.75GiB", "source ~/bantar-sim/.venv/bin/activate"]),
    ("pbs", ["#PBS -N bantar-worker", "#PBS -q normal", "#PBS -A my_project", "#PBS -l select=1:ncpus=8:mem=15GB",
             "#PBS -l walltime=04:00:00", "#PBS -j oe", "--nworkers 8", "--nthreads 1",
             "source ~/bantar-sim/.venv/bin/activate"]),
])
def test_documented_jobqueue_configuration_generates_the_directives(tag, directives, monkeypatch):
    pytest.importorskip("dask_jobqueue")
    port = free_port()
    monkeypatch.setenv("BANTAR_DASK_PORT", str(port))  # the documented default 8786 may be taken here
    ns: dict = {}
    exec(compile(_doc_snippet(tag), f"{DOCS}:{tag}", "exec"), ns)
    cluster = ns["cluster"]
    try:
        script = cluster.job_script()
        for d in directives:
            assert d in script, f"{d!r} missing from the generated job script:\n{script}"
        assert re.search(rf"distributed\.cli\.dask_worker tcp://\S+:{port} ", script), script
        assert cluster.scheduler_address.endswith(f":{port}")
    finally:
        cluster.close()


@pytest.mark.timeout(90)
def test_cli_unreachable_scheduler_is_a_message_not_a_traceback(tmp_path, capsys):
    """`bantar-sim experiment --executor dask --scheduler <dead address>`: exit 2, the address named, no runs."""
    from bantar_sim import cli
    exp = tmp_path / "tiny.toml"
    exp.write_text('[experiment]\nname = "tiny"\nhorizon = 2021\nreplications = 2\nscale = 0.02\n'
                   'households_per_rt = 10.0\nparameters = "defaults"\n\n[[arm]]\nname = "baseline"\n\n'
                   '[[arm]]\nname = "kencana"\nkencana = true\n')
    address = f"tcp://127.0.0.1:{free_port()}"
    out = tmp_path / "out"
    t0 = time.monotonic()
    rc = cli.main(["experiment", str(exp), "--executor", "dask", "--scheduler", address, "--out", str(out),
                   "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 2 and address in err and "could not connect" in err and "Traceback" not in err
    assert time.monotonic() - t0 < 30 + 20
    assert not list(out.glob("runs/**/*.parquet"))
