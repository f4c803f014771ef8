"""Run directories: one live run each (lock), status.json through success, failure and SIGKILL, cleanup of
temporary files, the job log's contents, and user errors shown without a traceback.

The subprocess tests run ``child.py``: the ``discountsim`` console script with ``atomic_write`` patched to
stop, once it has filled the temporary file of ``$BLOCK_AT``, until ``$RELEASE`` exists. A test so holds a
run at a known point (inside its lock, with a temporary file on disk) for as long as it needs.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from discountsim.agents import DiscountPolicy
from discountsim.agents.storage import atomic_write_text
from discountsim.experiments import run_dir
from discountsim.experiments.run_dir import (
    LOCK_FILE,
    STATUS_FILE,
    JobRun,
    RunDirectoryBusy,
    acquire_lock,
    clean_temp_files,
    read_status,
    release_lock,
)
from discountsim.simulators.config_schema import ScenarioError
from hydra import compose, initialize_config_dir

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 600
TINY_COMPARE = ["agents=[]", "supervised=null", "oracle=false", "n_shoppers=30", "horizon=3", "uniform_curve=[0,0.1]"]
TINY_EVALUATE = ["n_shoppers=20", "horizon=2", "oracle=false"]

CHILD = """
import os, sys, time
from pathlib import Path
import discountsim.agents.storage as storage

real = storage.atomic_write


def blocking(path, write):
    def fill(tmp):
        write(tmp)
        if Path(path).name == os.environ.get("BLOCK_AT"):
            Path(os.environ["BLOCKED"]).write_text(str(tmp))
            while not Path(os.environ["RELEASE"]).exists():
                time.sleep(0.05)

    return real(path, fill)


storage.atomic_write = blocking
from discountsim.experiments.cli import main

main(sys.argv[1:])
"""


class BrokenPolicy(DiscountPolicy):
    """A policy with a bug: evaluating it raises, which must keep its traceback."""

    name = "broken"

    def discounts(self, observations: np.ndarray) -> np.ndarray:
        raise RuntimeError("bug in the policy")


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    return env | extra


def _start(tmp_path: Path, job: str, *overrides: str, block_at: str | None = None, tag: str = "") -> subprocess.Popen:
    child = tmp_path / "child.py"
    child.write_text(CHILD)
    env = _env(BLOCKED=str(tmp_path / f"blocked{tag}"), RELEASE=str(tmp_path / "release"))
    if block_at:
        env["BLOCK_AT"] = block_at
    return subprocess.Popen(
        [sys.executable, str(child), job, *overrides],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _run(tmp_path: Path, job: str, *overrides: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "discountsim.experiments.cli", job, *overrides],
        cwd=tmp_path,
        env=_env(**env),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )


def _wait_for(path: Path, *procs: subprocess.Popen) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not path.exists():
        for proc in procs:
            if proc.poll() is not None:
                out, err = proc.communicate()
                raise AssertionError(f"run ended (rc {proc.returncode}) before {path.name}:\n{out}\n{err}")
        assert time.monotonic() < deadline, f"timed out waiting for {path}"
        time.sleep(0.1)


def _dead_pid() -> int:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(proc.stdout)


# --- the lock ------------------------------------------------------------------------------------------


def test_lock_names_a_live_holder_and_takes_over_a_dead_ones(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, json, os, sys, time\n"
            f"fd = os.open({str(tmp_path / LOCK_FILE)!r}, os.O_RDWR | os.O_CREAT)\n"
            "fcntl.flock(fd, fcntl.LOCK_EX)\n"
            "os.write(fd, json.dumps({'pid': os.getpid(), 'host': 'h', 'job': 'train', 'started': 'T'}).encode())\n"
            "print('locked', flush=True)\n"
            "time.sleep(120)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(RunDirectoryBusy, match=rf"{tmp_path} is in use by pid {holder.pid} on h \(train"):
            acquire_lock(tmp_path, "train")
    finally:
        holder.kill()
        holder.wait()
    # Killed holding it: the kernel released the flock; its record is taken over and reported.
    lock = acquire_lock(tmp_path, "train")
    try:
        assert lock.previous is not None and lock.previous["pid"] == holder.pid
        assert json.loads((tmp_path / LOCK_FILE).read_text())["pid"] == os.getpid()
        assert acquire_lock(tmp_path, "train") is lock  # the holding process may take it again
    finally:
        release_lock(lock)
    assert not (tmp_path / LOCK_FILE).exists()
    again = acquire_lock(tmp_path, "train")  # released cleanly: nothing stale to report
    assert again.previous is None
    release_lock(again)


def test_job_run_warns_when_it_takes_over_a_stale_lock(tmp_path: Path, caplog) -> None:
    dead = _dead_pid()
    (tmp_path / LOCK_FILE).write_text(json.dumps({"pid": dead, "host": "h", "job": "compare", "started": "T"}))
    with caplog.at_level("WARNING"), JobRun(tmp_path, "compare"):
        pass
    assert f"took over the lock of pid {dead} on h (compare, started T), which is no longer running" in caplog.text


# --- status.json and temporary files, in process --------------------------------------------------------


def test_status_records_success_and_failure_with_the_error(tmp_path: Path) -> None:
    with JobRun(tmp_path / "ok", "simulate", ["n_shoppers=10"]):
        status = read_status(tmp_path / "ok")
        assert status["status"] == "running" and status["pid"] == os.getpid()
    done = read_status(tmp_path / "ok")
    assert done["status"] == "complete" and done["overrides"] == ["n_shoppers=10"] and done["ended"]
    assert not (tmp_path / "ok" / LOCK_FILE).exists()

    with pytest.raises(ScenarioError), JobRun(tmp_path / "bad", "evaluate"):
        raise ScenarioError("segments.a.share: expected a value in [0, 1], got 2.3")
    failed = read_status(tmp_path / "bad")
    assert failed["status"] == "failed" and failed["error"] == "segments.a.share: expected a value in [0, 1], got 2.3"
    with pytest.raises(ZeroDivisionError), JobRun(tmp_path / "bug", "evaluate"):
        1 / 0  # noqa: B018
    assert read_status(tmp_path / "bug")["error"] == "ZeroDivisionError: division by zero"


def test_a_running_status_whose_process_is_gone_reads_as_interrupted(tmp_path: Path) -> None:
    atomic_write_text(
        tmp_path / STATUS_FILE, json.dumps({"status": "running", "pid": _dead_pid(), "host": run_dir.HOST})
    )
    assert read_status(tmp_path)["status"] == "interrupted"
    # Our own live pid but no lock held: the run that wrote it is gone too.
    atomic_write_text(
        tmp_path / STATUS_FILE, json.dumps({"status": "running", "pid": os.getpid(), "host": run_dir.HOST})
    )
    assert read_status(tmp_path)["status"] == "interrupted"
    with JobRun(tmp_path, "compare"):
        assert read_status(tmp_path)["status"] == "running"
    assert read_status(tmp_path)["previous"]["status"] == "interrupted"


def test_temp_files_of_other_processes_are_removed_and_other_runs_left_alone(tmp_path: Path) -> None:
    orphan = tmp_path / ".leaderboard.md.tmp-999999-abcd1234.md"
    nested = tmp_path / "checkpoints" / ".ppo_8_steps.zip.tmp-999999-x.zip"
    old_style = tmp_path / ".report.md.k2j4h5g6.tmp.md"  # before the pid was in the name
    ours = tmp_path / f".metrics.json.tmp-{os.getpid()}-q.json"
    other_run = tmp_path / "0" / ".metrics.json.tmp-999999-z.json"  # a multirun job's own directory
    (tmp_path / "0").mkdir()
    (tmp_path / "0" / STATUS_FILE).write_text("{}")
    keep = tmp_path / "leaderboard.md"
    for path in (orphan, nested, old_style, ours, other_run, keep):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x")
    assert clean_temp_files(tmp_path) == sorted([orphan, nested, old_style])
    assert ours.exists() and other_run.exists() and keep.exists()


def test_atomic_write_names_its_temporary_file_with_its_pid(tmp_path: Path) -> None:
    from discountsim.agents.storage import atomic_write

    seen = []
    atomic_write(tmp_path / "a.csv", lambda tmp: (seen.append(tmp.name), tmp.write_text("x")))
    assert seen[0].startswith(f".a.csv.tmp-{os.getpid()}-") and seen[0].endswith(".csv")
    assert run_dir.TEMP_FILE.match(seen[0])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv"]


def test_default_run_directories_carry_microseconds() -> None:
    with initialize_config_dir(version_base="1.3", config_dir=str(ROOT / "conf")):
        for name in ("simulate", "evaluate", "compare", "stress", "regress"):
            cfg = compose(name, return_hydra_config=True)
            for pattern in (cfg.hydra.run.dir, cfg.hydra.sweep.dir):  # resolved: <date>_<time>_<microseconds>
                assert re.search(r"/\d{4}-\d\d-\d\d_\d\d-\d\d-\d\d_\d{6}$", pattern), (name, pattern)
            targets = [c._target_ for c in cfg.hydra.callbacks.values()]
            assert "discountsim.experiments.run_dir.RunDirectoryCallback" in targets, name


# --- real runs in subprocesses ------------------------------------------------------------------------------


def test_two_identical_train_runs_started_together_one_fails_naming_the_other(tmp_path: Path) -> None:
    run = ["agent=rule_based", "evaluation.n_shoppers=20", "evaluation.horizon=2", "hydra.run.dir=run"]
    # Both stop once they write policy.json, so whichever takes the lock holds it while the other starts.
    procs = [_start(tmp_path, "train", *run, block_at="policy.json", tag=str(i)) for i in range(2)]
    try:
        deadline = time.monotonic() + TIMEOUT
        while all(p.poll() is None for p in procs):
            assert time.monotonic() < deadline
            time.sleep(0.1)
        loser = next(p for p in procs if p.poll() is not None)
        winner = next(p for p in procs if p is not loser)
        _wait_for(tmp_path / f"blocked{procs.index(winner)}", winner)
        out, err = loser.communicate()
        assert loser.returncode == 1 and "Traceback" not in err
        assert err.splitlines()[0].startswith(f"discountsim train: error: run directory {tmp_path / 'run'} is in use ")
        assert f"by pid {winner.pid} on " in err
        assert "written" not in out
    finally:
        (tmp_path / "release").touch()
    winner.communicate(timeout=TIMEOUT)
    assert winner.returncode == 0
    status = read_status(tmp_path / "run")
    assert status["status"] == "complete" and status["pid"] == winner.pid
    assert not (tmp_path / "run" / LOCK_FILE).exists()


def test_compare_killed_midway_is_reported_interrupted_and_the_next_run_cleans_up(tmp_path: Path) -> None:
    run = [*TINY_COMPARE, "hydra.run.dir=run"]
    proc = _start(tmp_path, "compare", *run, block_at="report.md")
    try:
        _wait_for(tmp_path / "blocked", proc)  # report.md's temporary file is written, not yet renamed
        assert read_status(tmp_path / "run")["status"] == "running"
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=60)
    finally:
        proc.kill()
    out = tmp_path / "run"
    temp = Path((tmp_path / "blocked").read_text())
    assert temp.exists() and temp.name.startswith(f".report.md.tmp-{proc.pid}-")
    status = read_status(out)
    assert status["status"] == "interrupted" and str(proc.pid) in status["error"]
    assert (out / "metrics.json").is_file()
    assert not (out / "leaderboard.md").exists() and not (out / "leaderboard.csv").exists()  # summaries last

    again = _run(tmp_path, "compare", *run)
    assert again.returncode == 0, again.stderr
    assert not temp.exists() and not list(out.rglob(".*.tmp-*"))
    status = read_status(out)
    assert status["status"] == "complete" and status["previous"]["status"] == "interrupted"
    assert (out / "leaderboard.md").is_file()
    log = (out / "compare.log").read_text()
    assert f"removed 1 temporary file(s) of an interrupted run: {temp.name}" in log
    assert "did not finish" in log
    # The job log holds what the job said: the written files, the key result and the leaderboard table.
    best = json.loads((out / "metrics.json").read_text())[0]
    assert f"written: {out / 'leaderboard.md'}, {out / 'report.md'}" in log
    assert f"best: {best['policy']}, profit {best['profit']:.2f} EUR per shopper" in log
    assert "| policy | profit |" in log and "| policy | profit |" not in again.stdout  # the table: log only
    # The console shows the messages as the job prints them, warnings marked, without the log's prefix.
    lines = again.stdout.splitlines()
    assert f"written: {out / 'leaderboard.md'}, {out / 'report.md'}" in lines
    assert f"warning: removed 1 temporary file(s) of an interrupted run: {temp.name}" in lines


def test_user_errors_print_the_message_alone_and_bugs_keep_the_traceback(tmp_path: Path) -> None:
    missing = tmp_path / "nope.zip"
    args = ["evaluate", f"policies=[{missing}]", *TINY_EVALUATE]
    short = _run(tmp_path, *args, "hydra.run.dir=short")
    assert short.returncode == 1
    assert short.stderr.splitlines() == [f"discountsim evaluate: error: policy checkpoint not found: {missing}"]
    status = read_status(tmp_path / "short")
    assert status["status"] == "failed" and status["error"] == f"policy checkpoint not found: {missing}"
    assert f"evaluate failed: policy checkpoint not found: {missing}" in (tmp_path / "short/evaluate.log").read_text()

    full = _run(tmp_path, *args, "hydra.run.dir=full", HYDRA_FULL_ERROR="1")
    assert full.returncode == 1 and "Traceback (most recent call last)" in full.stderr
    assert f"FileNotFoundError: policy checkpoint not found: {missing}" in full.stderr

    bug = _run(
        tmp_path,
        "evaluate",
        "policies=[tests.experiments.test_run_dirs:BrokenPolicy]",
        *TINY_EVALUATE,
        "hydra.run.dir=bug",
    )
    assert bug.returncode == 1 and "Traceback" in bug.stderr and "RuntimeError: bug in the policy" in bug.stderr
    assert read_status(tmp_path / "bug")["error"] == "RuntimeError: bug in the policy"
    log = (tmp_path / "bug/evaluate.log").read_text()
    assert "Traceback" in log and "RuntimeError: bug in the policy" in log

    # A scenario error raised inside hydra.utils.instantiate is still the user's: shown alone.
    scenario = _run(tmp_path, "simulate", "simulator.d_max=7", "n_shoppers=10", "horizon=2", "hydra.run.dir=scenario")
    assert scenario.returncode == 1
    assert scenario.stderr.splitlines() == ["discountsim simulate: error: d_max = 7.0 is out of range; allowed: (0, 1]"]

    hydra_error = _run(tmp_path, "evaluate", "no_such_key=1")
    assert hydra_error.returncode == 1 and "Traceback" not in hydra_error.stderr
    assert hydra_error.stderr.startswith("Could not override 'no_such_key'.")


def test_simulate_runs_launched_together_get_their_own_directories(tmp_path: Path) -> None:
    args = ["simulate", "n_shoppers=20", "horizon=2", "discounts=[0.0,0.1]"]
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "discountsim.experiments.cli", *args],
            cwd=tmp_path,
            env=_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=TIMEOUT) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    runs = sorted((tmp_path / "runs" / "simulate").iterdir())
    assert len(runs) == 2
    for run in runs:
        assert read_status(run)["status"] == "complete"
        assert (run / "fixed_discounts.csv").is_file()
        assert "Most profitable uniform discount" in (run / "simulate.log").read_text()


def test_sweep_summary_counts_only_jobs_that_completed(tmp_path: Path) -> None:
    from discountsim.experiments.sweep_summary import read_runs

    for num, status in enumerate(["complete", "failed", "running", None]):  # None: a run from before status.json
        job = tmp_path / str(num)
        (job / ".hydra").mkdir(parents=True)
        (job / ".hydra" / "overrides.yaml").write_text(f"- seed={num}\n")
        (job / "metrics.json").write_text(json.dumps({"policy": "p", "scenario": "s", "profit": 1.0}))
        if status:
            record = {"status": status, "pid": _dead_pid(), "host": run_dir.HOST}
            (job / STATUS_FILE).write_text(json.dumps(record))
    # A job killed after writing metrics.json (compare writes its summaries after it) is not a result.
    assert list(read_runs(tmp_path)["status"]) == ["ok", "failed", "interrupted", "ok"]
