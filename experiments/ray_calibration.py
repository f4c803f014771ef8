"""Calibration of a log held in many files, fitted by Ray workers that each hold some of the files.

    discountsim calibrate data='logs/part-*.parquet' workers=8 [ray_address=auto]

Each worker (a Ray actor) reads, validates and hashes its files, builds its shoppers' panel and
keeps it; the driver (this process) runs the same L-BFGS as a one-process fit, asking every worker
for its shoppers' log-likelihood and gradient at each step and summing them (shoppers are
independent). So no worker ever holds more than its files, the driver holds none of them, and
the optimum, the intervals and the chosen K are those of the one-process fit of the same log
(the held-out split depends on the hashed id alone). Only numbers cross the wire: parameters,
sums, gradients, and for the report a sample of shoppers' panels (hashed ids; never written).

``ray_address=None`` starts Ray on this machine (a process per worker); ``auto`` joins a running
cluster (``ray start --head`` on one machine, ``ray start --address=...`` on the others), where
the files must sit on a path every machine can read.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
from discountsim.simulators.calibration.fit import Layout
from discountsim.simulators.calibration.likelihood import Calendar, Fixed
from discountsim.simulators.calibration.panel import Panel, build_panel, log_categories
from discountsim.simulators.calibration.source import HeldOutScores, LogSummary, PanelSource
from discountsim.simulators.errors import DiscountSimInputError
from discountsim.simulators.memory import peak_memory_gb
from discountsim.simulators.params import SimulatorParams
from discountsim.simulators.shop_log import ShopLog, read_shop_logs
from numpy.typing import NDArray

log = logging.getLogger(__name__)


class ShardWorker:
    """One worker's files: read, validated and hashed once, then kept as a ``PanelSource``.

    Runs as a Ray actor (``ray.remote(ShardWorker)``); plain Python otherwise, which the tests use.
    """

    def __init__(self, files: list[str], key: bytes, threads: int = 1) -> None:
        import torch

        torch.set_num_threads(max(1, int(threads)))
        self.files = files
        self.key = key
        self.log: ShopLog | None = None
        self.source: PanelSource | None = None

    def describe(self) -> dict:
        """Read the files, then what the driver needs to lay out the whole log: weeks, categories, id hashes."""
        # Read here, not in __init__: a bad file then fails a task, whose error Ray hands back as raised.
        self.log = read_shop_logs([Path(f) for f in self.files], self.key, "driver")
        self.key = b""
        frame = self.log.frame
        return {
            "first": int(frame["period"].min()),
            "last": int(frame["period"].max()),
            "categories": log_categories(frame),
            "ids": pd.util.hash_array(frame["shopper_id"].unique().astype(object)),
            "dropped": self.log.dropped_columns,
            "files": self.files,
        }

    def build(
        self,
        weeks: tuple[int, int],
        categories: tuple[str, ...],
        calendar: Calendar,
        fixed: Fixed,
        held_out: float,
        seed: int,
        shard_size: int,
    ) -> LogSummary:
        assert self.log is not None
        panel = build_panel(self.log.frame, weeks=weeks, category_names=categories, min_shoppers=1)
        self.log = None  # the frame is no longer needed: the panel holds what the fit reads
        self.source = PanelSource(panel, calendar, fixed, held_out, seed, shard_size)
        return self.source.summary

    def loglik_and_grad(
        self, layout: Layout, theta: NDArray[np.float64], free: NDArray[np.bool_]
    ) -> tuple[float, NDArray[np.float64]]:
        assert self.source is not None
        return self.source.loglik_and_grad(layout, theta, free)

    def peak_memory_gb(self) -> float:
        """This worker process's peak resident memory (GB)."""
        return peak_memory_gb()

    def loglik(self, layout: Layout, theta: NDArray[np.float64]) -> float:
        assert self.source is not None
        return self.source.loglik(layout, theta)

    def held_out_scores(self, natural: dict[str, NDArray], max_rows: int | None) -> HeldOutScores:
        assert self.source is not None
        return self.source.held_out_scores(natural, max_rows)

    def sample(self, max_shoppers: int | None, seed: int) -> tuple[Panel, NDArray[np.bool_]]:
        assert self.source is not None
        return self.source.sample(max_shoppers, seed)


def assign_files(files: list[Path], workers: int) -> list[list[str]]:
    """Files dealt to ``workers`` groups, biggest first onto the lightest group (balanced by bytes)."""
    groups: list[list[str]] = [[] for _ in range(min(workers, len(files)))]
    load = np.zeros(len(groups))
    for path in sorted(files, key=lambda p: -p.stat().st_size):
        j = int(np.argmin(load))
        groups[j].append(str(path))
        load[j] += path.stat().st_size
    return [sorted(g) for g in groups]


class ShardedSource:
    """A log in many files, held by Ray workers; the ``source.LogSource`` interface, summed over workers.

    Args:
        files: The log's files (``shop_log.log_files``); each shopper's rows in files of one worker.
        key: The id-hashing key (sent to the workers, never written).
        base, start_week: The base scenario and the week of year of the log's first week (the calendar).
        held_out, seed, shard_size: As ``calibrate``.
        workers: Ray actors (each with one CPU and one torch thread).
        address: Ray cluster address (None: start Ray here; ``"auto"``: join the running cluster).
        remote: Build workers through Ray (False: in this process, one after another; for tests).
    """

    def __init__(
        self,
        files: list[Path],
        key: bytes,
        base: SimulatorParams,
        start_week: int,
        held_out: float,
        seed: int,
        shard_size: int,
        workers: int,
        address: str | None = None,
        remote: bool = True,
    ) -> None:
        groups = assign_files(files, workers)
        self.started_ray = False
        if remote:
            ray = _ray()
            if not ray.is_initialized():
                options = {"address": address} if address else {"num_cpus": max(len(groups), os.cpu_count() or 1)}
                try:
                    ray.init(include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING, **options)
                except (ConnectionError, RuntimeError, ValueError) as err:
                    raise DiscountSimInputError(
                        f"ray_address: cannot reach a Ray cluster at {address!r} ({err})"
                    ) from err
                self.started_ray = True
            actor = ray.remote(num_cpus=1)(ShardWorker)
            self.workers = [actor.remote(group, key) for group in groups]

            def get(refs: list) -> list:
                try:
                    return ray.get(refs)
                except ray.exceptions.RayTaskError as err:  # a worker's bad file: the user's error, not a crash
                    cause = getattr(err, "cause", None)
                    if isinstance(cause, DiscountSimInputError):
                        raise cause from None
                    raise

            self._get = get
        else:
            self.workers = [_Local(ShardWorker(group, key)) for group in groups]
            self._get = lambda refs: refs
        try:
            self._lay_out(base, start_week, held_out, seed, shard_size)
        except BaseException:
            self.close()
            raise

    def _lay_out(self, base: SimulatorParams, start_week: int, held_out: float, seed: int, shard_size: int) -> None:
        """The whole log's weeks and categories from every worker, then each worker's panel."""
        described = self._call("describe")
        _check_whole_shoppers(described)
        first = min(d["first"] for d in described)
        weeks = (first, max(d["last"] for d in described) - first + 1)
        found = {c for d in described for c in d["categories"]}
        if "all" in found and len(found) > 1:  # files without a category column: their shoppers' is unknown
            found = (found - {"all"}) | {"unknown"}
        self.categories = tuple(sorted(found))
        self.dropped_columns = sorted({c for d in described for c in d["dropped"]})
        calendar, fixed = Calendar.of(base, start_week, weeks[1]), Fixed.of(base)
        parts = self._call("build", weeks, self.categories, calendar, fixed, held_out, seed, shard_size)
        self.summary = LogSummary.merge(parts, seed)

    def peak_memory_gb(self) -> list[float]:
        """Each worker's peak resident memory (GB)."""
        return [float(m) for m in self._call("peak_memory_gb")]

    def close(self) -> None:
        """Stop the workers (and Ray, when this source started it)."""
        if self.started_ray:
            _ray().shutdown()
            self.started_ray = False

    def _call(self, method: str, *args) -> list:
        return self._get([getattr(w, method).remote(*args) for w in self.workers])

    def loglik_and_grad(
        self, layout: Layout, theta: NDArray[np.float64], free: NDArray[np.bool_]
    ) -> tuple[float, NDArray[np.float64]]:
        parts = self._call("loglik_and_grad", layout, theta, free)
        return float(sum(v for v, _ in parts)), np.sum([g for _, g in parts], axis=0)

    def loglik(self, layout: Layout, theta: NDArray[np.float64]) -> float:
        return float(sum(self._call("loglik", layout, theta)))

    def held_out_scores(self, natural: dict[str, NDArray], max_rows: int | None = None) -> HeldOutScores:
        share = None if max_rows is None else max(1, max_rows // len(self.workers))
        return HeldOutScores.merge(self._call("held_out_scores", natural, share))

    def sample(self, max_shoppers: int | None, seed: int) -> tuple[Panel, NDArray[np.bool_]]:
        share = None if max_shoppers is None else max(1, max_shoppers // len(self.workers))
        parts = self._call("sample", share, seed)
        panels = [p for p, _ in parts]

        def stacked(field: str) -> NDArray:
            return np.concatenate([getattr(p, field) for p in panels])

        panel = Panel(
            discount=stacked("discount"),
            purchased=stacked("purchased"),
            basket_value=stacked("basket_value"),
            present=stacked("present"),
            category=stacked("category"),
            category_names=panels[0].category_names,
            first_period=panels[0].first_period,
            ids=stacked("ids"),
        )
        return panel, np.concatenate([m for _, m in parts])


class _Local:
    """A worker called in this process with Ray's ``.remote`` spelling (tests; no Ray needed)."""

    def __init__(self, worker: ShardWorker) -> None:
        self.worker = worker

    def __getattr__(self, name: str) -> SimpleNamespace:
        return SimpleNamespace(remote=getattr(self.worker, name))


def _check_whole_shoppers(described: list[dict]) -> None:
    """Every shopper's rows in one worker's files, or the fit would count one shopper as two."""
    ids = np.concatenate([d["ids"] for d in described])
    owner = np.repeat(np.arange(len(described)), [d["ids"].size for d in described])
    unique, counts = np.unique(ids, return_counts=True)
    if (counts > 1).any():
        split = unique[counts > 1]
        workers = sorted({int(owner[i]) for i in np.flatnonzero(np.isin(ids, split))})[:2]
        files = [f for w in workers for f in described[w]["files"]][:4]
        raise DiscountSimInputError(
            f"data: {split.size} shoppers have rows in files that went to different workers (among {files}); "
            "put each shopper's rows in one file (shard the log by shopper), or use workers=0"
        )


def _ray():
    try:
        import ray
    except ImportError as err:
        raise DiscountSimInputError(
            "workers: fitting on Ray workers needs Ray: pip install 'discountsim[ray]' (or workers=0)"
        ) from err
    return ray
