"""One live run per run directory: its lock, its ``status.json``, its job log and how its errors are shown.

Every job's Hydra entry point is wrapped by ``job_main``::

    @hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="compare")
    @job_main("compare")
    def main(cfg: DictConfig) -> float: ...

Inside the wrapper the job

- holds the run directory's lock (``.run.lock``: an ``fcntl.flock`` held for the job's life, the
  file naming the holder's pid, host, job and start time). A second run into the same directory
  fails naming the holder; a lock left by a killed run is released by the kernel with the process
  and is taken over with a warning. ``RunDirectoryCallback`` (``conf/hydra/default.yaml``) takes
  the lock earlier, before Hydra writes ``.hydra/`` and the log file, and the sweep directory's
  lock for a multirun.
- removes temporary files a killed run left behind (``atomic_write`` names them
  ``.<name>.tmp-<pid>-<random><suffix>``);
- writes ``status.json`` atomically: ``running`` at the start, then ``complete`` or ``failed``
  (with the error) or ``interrupted`` (Ctrl-C). A status ``running`` whose process is gone is
  read as ``interrupted`` (``read_status``; ``python -m discountsim.experiments.run_dir <dir>``);
- sends Python warnings to the job log, and records the failure there (with the traceback);
- shows an error caused by the user's input (``DiscountSimInputError``, a missing or existing file,
  a busy run directory) as ``discountsim <job>: error: <message>`` on stderr without a traceback,
  rc 1 (in a multirun, after Hydra's line naming the job's overrides). ``HYDRA_FULL_ERROR=1``
  shows the traceback as for any other error. Other exceptions are bugs: Hydra prints them with
  their traceback, which the job log holds too.
"""

from __future__ import annotations

import argparse
import atexit
import fcntl
import functools
import json
import logging
import os
import re
import socket
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from discountsim.agents.storage import write_json
from discountsim.simulators.errors import DiscountSimInputError
from hydra.core.hydra_config import HydraConfig
from hydra.errors import CompactHydraException, InstantiationException
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf, open_dict, read_write

LOCK_FILE = ".run.lock"
STATUS_FILE = "status.json"
# atomic_write's temporaries: .<final name>.tmp-<pid>-<random><suffix>; the older .<name>.<random>.tmp<suffix>.
TEMP_FILE = re.compile(r"^\.(?P<name>.+)\.tmp-(?P<pid>\d+)-[^/]*$")
OLD_TEMP_FILE = re.compile(r"^\..+\.[a-z0-9_]{8}\.tmp(\.[^.]+)?$")
# ``log.info(..., extra=FILE_ONLY)``: for the job log only, not the console (a table the console shows rich).
FILE_ONLY = {"file_only": True}
# Errors whose message is the whole story: the user's input, or a file the user named.
USER_ERRORS: tuple[type[BaseException], ...] = (DiscountSimInputError, FileNotFoundError, FileExistsError)
HOST = socket.gethostname()

log = logging.getLogger(__name__)


class RunDirectoryBusy(DiscountSimInputError):
    """The run directory belongs to another live run."""


class JobInputError(CompactHydraException):
    """A user's error, as Hydra prints its own override errors: the message alone on stderr, rc 1."""


def _now() -> str:
    return datetime.now().astimezone().isoformat(timespec="seconds")


def pid_alive(pid: Any) -> bool:
    """Whether process ``pid`` exists on this host and is not a zombie (killed but not yet reaped)."""
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state not in ("Z", "X")


def describe_holder(record: dict[str, Any] | None) -> str:
    if not record:
        return "another process (it is just starting)"
    return (
        f"pid {record.get('pid')} on {record.get('host')} ({record.get('job', 'a job')}, "
        f"started {record.get('started')})"
    )


@dataclass
class RunLock:
    """A held run-directory lock; ``previous`` is the record of a holder that died holding it."""

    run_dir: Path
    fd: int
    holder: dict[str, Any]
    previous: dict[str, Any] | None = None


_HELD: dict[Path, RunLock] = {}
_SEALED: set[Path] = set()  # complete runs that a `train resume=true` reports without rewriting their record


@atexit.register
def _release_all() -> None:
    # A sweep that fails never reaches on_multirun_end; the kernel would release the flock anyway,
    # but removing the file says the directory is free.
    for lock in list(_HELD.values()):
        release_lock(lock)


def _read_record(fd: int) -> dict[str, Any] | None:
    try:
        data = json.loads(os.pread(fd, 65536, 0).decode() or "null")
    except (ValueError, OSError):
        return None
    return data if isinstance(data, dict) else None


def acquire_lock(run_dir: str | Path, job: str) -> RunLock:
    """Take ``run_dir``'s lock for this process (again: the lock already held), creating the directory.

    Raises:
        RunDirectoryBusy: Another live process holds it; the message names it.
    """
    run_dir = Path(os.path.abspath(run_dir))
    if run_dir in _HELD:
        return _HELD[run_dir]
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / LOCK_FILE
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_record(fd)
            os.close(fd)
            raise RunDirectoryBusy(
                f"run directory {run_dir} is in use by {describe_holder(holder)}; wait for it to finish "
                "or choose another directory with hydra.run.dir=..."
            ) from None
        # The holder removes the file when it releases: if it did so between our open and flock, the
        # inode we locked is no longer the lock file, and a third process may lock the new one.
        try:
            if os.fstat(fd).st_ino == os.stat(path).st_ino:
                break
        except FileNotFoundError:
            pass
        os.close(fd)
    previous = _read_record(fd)
    holder = {"pid": os.getpid(), "host": HOST, "job": job, "started": _now()}
    os.ftruncate(fd, 0)
    os.pwrite(fd, (json.dumps(holder) + "\n").encode(), 0)
    os.fsync(fd)
    lock = RunLock(run_dir, fd, holder, previous if previous and previous.get("pid") != os.getpid() else None)
    _HELD[run_dir] = lock
    return lock


def release_lock(lock: RunLock) -> None:
    """Remove the lock file and release the lock (in this order: see ``acquire_lock``)."""
    if _HELD.get(lock.run_dir) is not lock or lock.holder["pid"] != os.getpid():  # not in a forked child
        return
    del _HELD[lock.run_dir]
    (lock.run_dir / LOCK_FILE).unlink(missing_ok=True)
    os.close(lock.fd)


def _lock_held(run_dir: Path) -> bool:
    if Path(os.path.abspath(run_dir)) in _HELD:
        return True
    try:
        fd = os.open(run_dir / LOCK_FILE, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing releases a shared lock we may have taken
    return False


def read_status(run_dir: str | Path) -> dict[str, Any] | None:
    """``run_dir``'s ``status.json`` (None if there is none), with a dead ``running`` run as ``interrupted``.

    A run on this host is interrupted when its process is gone or it no longer holds the lock.
    """
    run_dir = Path(run_dir)
    path = run_dir / STATUS_FILE
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except (ValueError, OSError) as err:
        return {"status": "unreadable", "error": f"{path}: {err}"}
    if not isinstance(data, dict):
        return {"status": "unreadable", "error": f"{path}: not a JSON object"}
    if data.get("status") == "running" and data.get("host") == HOST:
        if not pid_alive(data.get("pid")) or not _lock_held(run_dir):
            data["status"] = "interrupted"
            data["error"] = f"the run (pid {data.get('pid')}) ended without finishing: killed or crashed"
    return data


def _walk_own(run_dir: Path):
    """Files of ``run_dir`` and its subdirectories, skipping subdirectories that are runs of their own."""
    for root, dirs, files in os.walk(run_dir):
        dirs[:] = [d for d in dirs if not (Path(root, d) / STATUS_FILE).exists()]
        for name in files:
            yield Path(root, name)


def clean_temp_files(run_dir: str | Path) -> list[Path]:
    """Remove temporary files of interrupted atomic writes (any pid but this process's); returns them.

    Call it only while holding ``run_dir``'s lock: then no other run is writing there.
    """
    removed = []
    for path in _walk_own(Path(run_dir)):
        match = TEMP_FILE.match(path.name)
        if (match and int(match["pid"]) != os.getpid()) or OLD_TEMP_FILE.match(path.name):
            path.unlink(missing_ok=True)
            removed.append(path)
    return sorted(removed)


class ConsoleFormatter(logging.Formatter):
    """The job's messages on the console as the job prints them (``written: ...``), warnings and errors
    marked; ``JobRun`` sets it on the console handlers for the job. The job log keeps Hydra's format."""

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        return text if record.levelno < logging.WARNING else f"{record.levelname.lower()}: {text}"


def _console_filter(record: logging.LogRecord) -> bool:
    return not getattr(record, "file_only", False)


def _console_handlers() -> list[logging.StreamHandler]:
    return [
        h
        for h in logging.getLogger().handlers
        if type(h) is logging.StreamHandler and h.stream in (sys.stdout, sys.stderr)
    ]


def user_error(err: BaseException) -> BaseException | None:
    """The user's error behind ``err`` (``err`` itself, or what ``hydra.utils.instantiate`` wrapped), or None."""
    while err is not None:
        if isinstance(err, USER_ERRORS):
            return err
        if not isinstance(err, InstantiationException):
            return None
        err = err.__cause__
    return None


def describe_error(err: BaseException) -> str:
    cause = user_error(err)
    return str(cause) if cause is not None else f"{type(err).__name__}: {err}"


class JobRun:
    """Context manager of one job in its run directory (see the module doc)."""

    def __init__(
        self, run_dir: str | Path, job: str, overrides: Sequence[str] = (), logger: logging.Logger | None = None
    ) -> None:
        self.run_dir = Path(os.path.abspath(run_dir))
        self.job = job
        self.overrides = list(overrides)
        self.log = logger or log
        self.record: dict[str, Any] = {}
        self.sealed = self.run_dir in _SEALED  # a complete run only reported: its status.json stays
        self._handlers: list[tuple[logging.StreamHandler, logging.Formatter | None]] = []

    def __enter__(self) -> JobRun:
        self.lock = acquire_lock(self.run_dir, self.job)
        try:
            self._start()
        except BaseException:
            release_lock(self.lock)
            raise
        return self

    def _start(self) -> None:
        self._handlers = [(h, h.formatter) for h in _console_handlers()]
        for handler, _ in self._handlers:
            handler.addFilter(_console_filter)
            handler.setFormatter(ConsoleFormatter())
        logging.captureWarnings(True)
        if self.lock.previous:
            self.log.warning(
                "run directory %s: took over the lock of %s, which is no longer running",
                self.run_dir,
                describe_holder(self.lock.previous),
            )
        previous = read_status(self.run_dir)
        if previous and previous.get("status") == "running":  # we hold the lock, so its run is gone
            previous["status"] = "interrupted"
        if previous and previous.get("status") == "interrupted":
            self.log.warning(
                "run directory %s: the previous run (%s, pid %s, started %s) did not finish",
                self.run_dir,
                previous.get("job"),
                previous.get("pid"),
                previous.get("started"),
            )
        removed = clean_temp_files(self.run_dir)
        if removed:
            names = ", ".join(str(p.relative_to(self.run_dir)) for p in removed)
            self.log.warning("removed %d temporary file(s) of an interrupted run: %s", len(removed), names)
        self.record = {
            "job": self.job,
            "status": "running",
            "pid": os.getpid(),
            "host": HOST,
            "started": self.lock.holder["started"],
            "ended": None,
            "run_dir": str(self.run_dir),
            "overrides": self.overrides,
            "command": sys.argv,
            "error": None,
        }
        if previous:
            self.record["previous"] = {
                k: previous.get(k) for k in ("job", "status", "pid", "started", "ended", "overrides", "error")
            }
        if not self.sealed:
            write_json(self.run_dir / STATUS_FILE, self.record)

    def __exit__(self, exc_type, err, tb) -> bool:
        try:
            if err is None or (isinstance(err, SystemExit) and err.code in (0, None)):
                self.record["status"] = "complete"
            elif isinstance(err, KeyboardInterrupt):
                self.record |= {"status": "interrupted", "error": "interrupted (KeyboardInterrupt)"}
                self.log.error("%s interrupted", self.job, extra=FILE_ONLY)
            elif isinstance(err, SystemExit):
                self.record |= {"status": "failed", "error": f"exited with code {err.code}"}
                self.log.error("%s failed: exit code %s", self.job, err.code, extra=FILE_ONLY)
            else:
                self.record |= {"status": "failed", "error": describe_error(err)}
                bug = user_error(err) is None
                self.log.error(
                    "%s failed: %s", self.job, describe_error(err), exc_info=err if bug else None, extra=FILE_ONLY
                )
            self.record["ended"] = _now()
            if not self.sealed:
                write_json(self.run_dir / STATUS_FILE, self.record)
            if self.record["status"] == "complete":
                self.log.info("%s complete: %s", self.job, self.run_dir / STATUS_FILE, extra=FILE_ONLY)
        finally:
            logging.captureWarnings(False)
            for handler, formatter in self._handlers:
                handler.removeFilter(_console_filter)
                handler.setFormatter(formatter)
            release_lock(self.lock)
        return False


def full_error() -> bool:
    """Whether the user asked for tracebacks (``HYDRA_FULL_ERROR=1``), as Hydra does."""
    return os.environ.get("HYDRA_FULL_ERROR", "") not in ("", "0")


def _user_error(job: str, err: BaseException, multirun: bool) -> BaseException:
    """What to raise for a user's error: in a single run, exit 1 with the message alone on stderr; in a
    multirun, Hydra's compact error, printed after the job's overrides once the sweep stops."""
    message = f"discountsim {job}: error: {err}"
    if multirun:
        return JobInputError(message)
    sys.stderr.write(message + "\n")
    return SystemExit(1)


def job_main(job: str) -> Callable[[Callable[[DictConfig], Any]], Callable[[DictConfig], Any]]:
    """Decorate a Hydra task function (below ``@hydra.main``) to run as ``JobRun`` in Hydra's output directory."""

    def decorate(task: Callable[[DictConfig], Any]) -> Callable[[DictConfig], Any]:
        @functools.wraps(task)
        def wrapper(cfg: DictConfig) -> Any:
            hydra_cfg = HydraConfig.get()
            overrides = OmegaConf.to_container(hydra_cfg.overrides.task, resolve=False)  # as typed
            try:
                with JobRun(hydra_cfg.runtime.output_dir, job, overrides, logging.getLogger(task.__module__)):
                    return task(cfg)
            except Exception as err:
                cause = user_error(err)
                if cause is None or full_error():
                    raise
                raise _user_error(job, cause, hydra_cfg.mode == RunMode.MULTIRUN) from err

        return wrapper

    return decorate


class RunDirectoryCallback(Callback):
    """Hydra callback: lock the run (or sweep) directory before Hydra writes anything into it.

    The job's ``JobRun`` finds the lock held by its own process and keeps it; a multirun's sweep
    directory stays locked until the sweep ends (each job locks its own subdirectory).
    """

    def _take(self, directory: str, config: DictConfig, multirun: bool) -> None:
        job = str(config.hydra.job.name)
        try:
            acquire_lock(directory, job)
        except RunDirectoryBusy as err:
            if full_error():
                raise
            raise _user_error(job, err, multirun) from err

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        directory = str(config.hydra.run.dir)
        self._take(directory, config, multirun=False)
        self._seal_complete_run(directory, config)

    def _seal_complete_run(self, directory: str, config: DictConfig) -> None:
        """A run directory whose run completed keeps its record: nothing of it is rewritten.

        ``train resume=true`` on it reports the run and changes nothing (Hydra writes no ``.hydra/``, and
        ``status.json`` stays as it is); any other run into it is refused before anything is written.
        """
        previous = read_status(directory)
        if not previous or previous.get("status") != "complete":
            return
        job = str(config.hydra.job.name)
        if job == "train" and previous.get("job") == "train" and config.get("resume") is True:
            with read_write(config.hydra), open_dict(config.hydra):
                config.hydra.output_subdir = None
            _SEALED.add(Path(os.path.abspath(directory)))
            return
        err = DiscountSimInputError(
            f"run directory {directory} holds a complete {previous.get('job')} run (status.json, ended "
            f"{previous.get('ended')}); choose another directory with hydra.run.dir=..."
            + (", or pass resume=true to report it" if job == "train" else "")
        )
        if full_error():
            raise err
        raise _user_error(job, err, multirun=False) from err

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._take(str(config.hydra.sweep.dir), config, multirun=True)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        lock = _HELD.get(Path(os.path.abspath(str(config.hydra.sweep.dir))))
        if lock is not None:
            release_lock(lock)


def main(argv: list[str] | None = None) -> int:
    """``python -m discountsim.experiments.run_dir <run dir>...``: print each run's status; rc 1 if any
    did not complete."""
    parser = argparse.ArgumentParser(prog="python -m discountsim.experiments.run_dir", description=main.__doc__)
    parser.add_argument("run_dirs", nargs="+", type=Path)
    args = parser.parse_args(argv)
    rc = 0
    for run_dir in args.run_dirs:
        status = read_status(run_dir)
        if status is None:
            print(f"{run_dir}: no {STATUS_FILE}")
            rc = 1
            continue
        line = f"{run_dir}: {status.get('status')} ({status.get('job')}, pid {status.get('pid')}, "
        line += f"started {status.get('started')}, ended {status.get('ended')})"
        print(line + (f": {status['error']}" if status.get("error") else ""))
        rc |= status.get("status") != "complete"
    return rc


if __name__ == "__main__":
    sys.exit(main())
