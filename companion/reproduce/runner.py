"""What every reproduction shares: the data, a resumable ``fit``, the record and its provenance.

An experiment is a function ``run(ctx, settings) -> metrics`` that trains with the
package's public API. It reaches the data through :meth:`Run.mnist` and passes
:meth:`Run.fit` wherever a model method accepts ``fit_fn`` (or calls it
directly): every ``every`` epochs the model, its optimizer and its history are
checkpointed, so that ``--resume`` re-runs the experiment function and skips
each fit already done. :meth:`Run.step` does the same for any other costly
result (an AIS estimate, a PCA). The record is written atomically at the end.
"""

from __future__ import annotations

import datetime as _dt
import gzip
import hashlib
import json
import math
import os
import platform
import subprocess
import sys
import time
import zlib
from pathlib import Path
from typing import Any, Callable

import torch

from ..config import get_device
from ..data.mnist import DataNotFoundError, _STEMS, find_idx_dir, mnist
from ..train import History, _make_optimizer, fit
from ..utils import torch_save_atomic, write_atomic

RECORD_KEYS = ("experiment", "budget", "metrics", "paper", "config", "provenance")
PROVENANCE_KEYS = ("commit", "dirty", "device", "torch", "data_md5", "wall_seconds", "seconds_per_epoch",
                   "date", "command")
CHECKPOINT_FORMAT = "companion.reproduce/1"


class ReproduceError(RuntimeError):
    """A reproduction that cannot start or continue (missing data, a stale checkpoint)."""


def _git(*args: str, cwd: Path) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def code_state(where: Path | None = None) -> tuple[str, bool]:
    """``(commit, dirty)`` of the checkout that holds this package.

    A copy sent to a remote GPU machine may carry no ``.git``, or a stale one
    (seen: the session's first commit beside a newer working tree), so the
    sender's word wins when given: ``COMPANION_COMMIT`` (the commit its clean
    checkout is at) and ``COMPANION_DIRTY`` ("0" or "1", default "1"). Outside
    git and without that word the commit is ``"unknown"``.
    """
    if os.environ.get("COMPANION_COMMIT"):
        return os.environ["COMPANION_COMMIT"], os.environ.get("COMPANION_DIRTY", "1") != "0"
    where = where or Path(__file__).resolve().parents[2]
    commit = _git("rev-parse", "HEAD", cwd=where)
    if commit is None:
        return "unknown", True
    status = _git("status", "--porcelain", "--untracked-files=no", cwd=where)
    return commit, bool(status)


def describe_device(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)}, CUDA {torch.version.cuda})"
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{device.type} ({cpu}, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads)"


def idx_md5(directory: Path) -> dict[str, str]:
    """MD5 of each *uncompressed* idx file in ``directory`` (as ``shared/data/README.md`` lists them)."""
    out = {}
    for stem in _STEMS.values():
        for path in (directory / (stem + ".gz"), directory / stem):
            if path.is_file():
                opener = gzip.open if path.suffix == ".gz" else open
                digest = hashlib.md5()
                with opener(path, "rb") as fh:
                    for block in iter(lambda: fh.read(1 << 20), b""):
                        digest.update(block)
                out[stem] = digest.hexdigest()
                break
    return out


def find_data(data: str | os.PathLike | None) -> Path:
    """The folder of the official idx files: ``data``, else ``$COMPANION_DATA``, else ``../shared/data``."""
    candidates = [Path(data)] if data is not None else []
    if data is None:
        if os.environ.get("COMPANION_DATA"):
            candidates.append(Path(os.environ["COMPANION_DATA"]))
        repo = Path(__file__).resolve().parents[2]
        candidates += [repo.parent / "shared" / "data", Path.cwd().parent / "shared" / "data"]
    for candidate in candidates:
        found = find_idx_dir(candidate) or find_idx_dir(candidate / "mnist")
        if found is not None:
            return found
    tried = ", ".join(str(c) for c in candidates) or "nothing"
    raise DataNotFoundError(
        f"the reproductions need the official MNIST idx files (train-images-idx3-ubyte[.gz] and the other "
        f"three); looked in {tried}. Pass --data DIR (e.g. --data ../shared/data/mnist) or set COMPANION_DATA "
        "to a folder that holds them. The embedded 5,000 digits are for the chapters, not for reproductions."
    )


def _stable_seed(*parts: Any) -> int:
    return zlib.crc32(repr(parts).encode()) & 0x7FFFFFFF


class Run:
    """One reproduction in progress: settings, data, checkpoints and the record.

    Parameters
    ----------
    name, budget : str
    settings : dict
        The budget's settings; stored in the record's ``config``.
    out : path
        Results root: the record goes to ``out/<budget>/<name>.json``, the
        checkpoint to ``out/.checkpoints/<budget>/<name>.pt`` (git-ignored).
    device : "auto", "cpu", "cuda", ...
    data : path, optional
        Folder of the idx files (see :func:`find_data`).
    resume : bool
        Continue from the checkpoint; refused when it was written by another commit.
    restart : bool
        Discard an existing checkpoint instead of refusing to overwrite it.
    data_kind : {"mnist", "movielens"}
        What the experiment reads. For MovieLens, ``data`` is a folder of the
        ml-100k files; one that holds the MNIST idx files instead (``reproduce
        all --data``) is meant for the others, and the MovieLens default
        (:func:`companion.data.movielens`) is read.
    every : int
        Checkpoint every this many epochs of each fit.
    """

    def __init__(self, name: str, budget: str, settings: dict, *, out="results", device="auto", data=None,
                 resume: bool = False, restart: bool = False, every: int = 5, progress: bool = True,
                 command: str | None = None, data_kind: str = "mnist"):
        self.name, self.budget, self.settings = name, budget, dict(settings)
        self.device = get_device(device)
        self.data_kind = data_kind
        if data_kind == "mnist":
            self.data_dir = find_data(data)
        elif data_kind == "movielens":
            meant_for_mnist = data is not None and find_idx_dir(Path(data)) is not None
            self.data_dir = None if data is None or meant_for_mnist else Path(data)
            self._movielens_source = None
        else:
            raise ValueError(f"data_kind={data_kind!r}: use 'mnist' or 'movielens'.")
        self.out = Path(out)
        self.record_path = self.out / budget / f"{name}.json"
        self.ckpt_path = self.out / ".checkpoints" / budget / f"{name}.pt"
        self.every, self.progress = int(every), progress
        self.command = command or " ".join(["python -m companion reproduce", name, "--budget", budget])
        self.commit, self.dirty = code_state()
        self.state: dict[str, Any] = {"fits": {}, "steps": {}, "elapsed": 0.0}
        if self.ckpt_path.exists():
            if resume:
                self._load_checkpoint()
            elif not restart:
                raise ReproduceError(
                    f"{self.ckpt_path} holds an interrupted run of {name} ({budget}); pass --resume to continue "
                    "it or --restart to discard it.")
        self._started = time.perf_counter()
        self._data_cache: dict = {}
        self.extra_config: dict[str, Any] = {}  # what the run chose (e.g. settings picked on validation data)

    # ------------------------------------------------------------------ checkpoints
    def _load_checkpoint(self) -> None:
        try:
            state = torch.load(self.ckpt_path, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise ReproduceError(f"{self.ckpt_path} is not a readable checkpoint ({exc}); pass --restart.") from exc
        if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
            raise ReproduceError(f"{self.ckpt_path} was not written by companion.reproduce; pass --restart.")
        if state["commit"] != self.commit:
            raise ReproduceError(
                f"{self.ckpt_path} was written by commit {state['commit'][:12]}, but this code is "
                f"{self.commit[:12]}; a record must name the code that produced it. Check out that commit to "
                "resume, or pass --restart to start afresh.")
        if state["settings"] != json.loads(json.dumps(self.settings)):
            raise ReproduceError(f"{self.ckpt_path} was written with other settings; pass --restart.")
        self.state = state["progress"]
        print(f"resuming {self.name} ({self.budget}) from {self.ckpt_path}: {len(self.state['fits'])} fits and "
              f"{len(self.state['steps'])} steps recorded, {self.state['elapsed']:.0f} s spent")

    def _save_checkpoint(self) -> None:
        self.state["elapsed"] = self._elapsed()
        self._started = time.perf_counter()
        payload = {"format": CHECKPOINT_FORMAT, "commit": self.commit, "budget": self.budget,
                   "settings": json.loads(json.dumps(self.settings)), "progress": self.state}
        torch_save_atomic(payload, self.ckpt_path)

    def _elapsed(self) -> float:
        return self.state["elapsed"] + time.perf_counter() - self._started

    # ------------------------------------------------------------------ data
    def mnist(self, split: str, binarize=None, seed: int = 0, n: int | None = None):
        """``(X, y)`` of the official MNIST split, the first ``n`` rows (all by default)."""
        key = (split, binarize, seed, n)
        if key not in self._data_cache:
            X, y = mnist(split, root=self.data_dir, binarize=binarize, seed=seed, verbose=False)
            self._data_cache[key] = (X[:n], y[:n]) if n is not None else (X, y)
        return self._data_cache[key]

    def movielens_folds(self, version: str = "100k", n: int = 5):
        """``(ratings, folds)``: every rating of MovieLens ``version`` and the first ``n`` of its five folds."""
        from ..data.movielens import _obtain, has_official_folds, movielens, movielens_folds

        self._movielens_source = source = _obtain(version, self.data_dir, None)
        root = None if source.kind == "recbole-wheel" else source.location
        how = ("the official u1-u5 files" if has_official_folds(source) else
               "u1-u5 derived from the ratings' order by GroupLens' mku.sh rule")
        self._folds_note = f"folds 1-{n} of 5 ({how})"
        return movielens(version, root=root, verbose=False), movielens_folds(version, root=root, verbose=False)[:n]

    def data_source(self) -> str:
        """Where the data come from, for the run's first line."""
        if self.data_kind == "mnist":
            return str(self.data_dir)
        from ..data.movielens import movielens_source

        return movielens_source("100k", self.data_dir).describe()

    def data_md5(self) -> dict[str, str]:
        """MD5 of each data file read: the four idx files, or MovieLens' ratings file."""
        if self.data_kind == "mnist":
            return idx_md5(self.data_dir)
        source = self._movielens_source
        if source is None:
            return {}
        if source.kind == "recbole-wheel":
            import zipfile

            from ..data.movielens import _WHEEL_RATINGS

            with zipfile.ZipFile(source.location) as zf:
                return {Path(_WHEEL_RATINGS).name: hashlib.md5(zf.read(_WHEEL_RATINGS)).hexdigest()}
        from ..data.movielens import OFFICIAL_FOLD_FILES

        paths = [Path(source.location) / name for name in ("u.data", *OFFICIAL_FOLD_FILES)]
        return {p.name: hashlib.md5(p.read_bytes()).hexdigest() for p in paths if p.is_file()}

    def data_summary(self) -> str:
        """The splits this run read, e.g. ``MNIST train 60,000 (binarize=sample, seed 0); test 10,000 ...``."""
        if self.data_kind == "movielens":
            source = self._movielens_source
            return "not read" if source is None else f"{source.describe()}; {self._folds_note}"
        parts = [f"{split} {len(X):,}" + (f" (binarize={b}, seed {seed})" if b else "")
                 for (split, b, seed, _), (X, _) in self._data_cache.items()]
        return "official MNIST idx files: " + "; ".join(parts)

    # ------------------------------------------------------------------ resumable work
    def fit(self, model: torch.nn.Module, X, *, key: str | None = None, epochs: int = 10,
            optimizer: str = "adam", lr: float = 1e-3, optimizer_kwargs: dict | None = None,
            weight_decay: float = 0.0, lr_decay: float = 1.0, seed: int | None = None, **kwargs) -> History:
        """:func:`companion.fit` in chunks of ``every`` epochs, checkpointed after each chunk.

        Same arguments as ``fit`` (``optimizer`` by name), plus ``key`` (default: the
        model's class and a call counter) and ``lr_decay`` (the learning rate is
        multiplied by it after every epoch). A fit already done in the checkpoint
        restores the model's state and returns its history without training.
        """
        kwargs.pop("progress", None), kwargs.pop("device", None)  # the run's own settings win
        # full precision as the papers: these batch-100 models are launch-bound on a GPU, so bf16 buys nothing
        kwargs.setdefault("amp", False)
        if key is None:
            self._calls = getattr(self, "_calls", 0) + 1
            key = f"{self._calls:02d}-{type(model).__name__}"
        done = self.state["fits"].get(key)
        model.to(self.device)
        history = History(device=str(self.device))
        if done is not None:
            model.load_state_dict(done["model"])
            history.history = {k: list(v) for k, v in done["history"].items()}
            if done["epochs"] >= epochs:
                return history
        params = [p for p in model.parameters() if p.requires_grad]
        opt = _make_optimizer(optimizer, params, lr, weight_decay, optimizer_kwargs or {}, self.device)
        start = 0
        if done is not None:
            opt.load_state_dict(done["optimizer"])
            start = done["epochs"]
        seconds = done["seconds"] if done else 0.0
        base = _stable_seed(self.name, key) if seed is None else seed

        def decay(epoch, model, history):
            for group in opt.param_groups:
                group["lr"] *= lr_decay
            return False

        while start < epochs:
            chunk = min(self.every, epochs - start)
            for group in opt.param_groups:
                group["lr"] = lr * lr_decay**start
            part = fit(model, X, epochs=chunk, optimizer=opt, seed=base + start, device=self.device,
                       progress=self.progress, callback=decay, **kwargs)
            for k, v in part.history.items():
                history.history.setdefault(k, []).extend(v)
            start += part.epochs
            seconds += part.seconds
            self.state["fits"][key] = {"model": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
                                       "optimizer": opt.state_dict(), "history": history.history,
                                       "epochs": start, "seconds": seconds}
            self._save_checkpoint()
            last = {k: f"{v[-1]:.4g}" for k, v in history.history.items()}
            print(f"[{self.name}] {key}: epoch {start}/{epochs}, {seconds / max(start, 1):.2f} s/epoch, {last}",
                  flush=True)
        history.seconds = seconds
        return history

    def fit_fn(self, prefix: str) -> Callable[..., History]:
        """A ``fit`` replacement for model methods with ``fit_fn=``: their i-th call is ``prefix/i``."""
        counter = iter(range(10**6))
        return lambda model, X, **kw: self.fit(model, X, key=f"{prefix}/{next(counter)}", **kw)

    def step(self, key: str, fn: Callable[[], Any]) -> Any:
        """``fn()`` once: its result (JSON-able, or a dict of tensors) is kept in the checkpoint."""
        if key not in self.state["steps"]:
            t0 = time.perf_counter()
            self.state["steps"][key] = fn()
            print(f"[{self.name}] {key}: {time.perf_counter() - t0:.1f} s", flush=True)
            self._save_checkpoint()
        return self.state["steps"][key]

    def add_timing(self, key: str, seconds: float, epochs: int) -> None:
        """Note the time of a fit made outside :meth:`fit` (inside a :meth:`step`) for ``seconds_per_epoch``."""
        self.state.setdefault("timings", {})[key] = {"seconds": float(seconds), "epochs": int(epochs)}

    # ------------------------------------------------------------------ the record
    def record(self, metrics: dict[str, Any], paper: dict[str, Any]) -> dict:
        """Write ``out/<budget>/<name>.json`` atomically and remove the checkpoint."""
        bad = {k: v for k, v in metrics.items() if not (isinstance(v, float) and math.isfinite(v))
               and not isinstance(v, list)}
        if bad:
            raise ValueError(f"metrics must be finite floats (or intervals as lists): {bad}")
        fits = self.state["fits"]
        record = {
            "experiment": self.name,
            "budget": self.budget,
            "metrics": metrics,
            "paper": paper,
            "config": {**self.settings, **self.extra_config, "data": self.data_summary(),
                       "device_requested": str(self.device)},
            "provenance": {
                "commit": self.commit,
                "dirty": self.dirty,
                "device": describe_device(self.device),
                "torch": torch.__version__,
                "data_md5": self.data_md5(),
                "wall_seconds": round(self._elapsed(), 1),
                "seconds_per_epoch": {k: round(f["seconds"] / max(f["epochs"], 1), 3)
                                      for k, f in {**fits, **self.state.get("timings", {})}.items()},
                "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                "command": self.command,
            },
        }
        self.record_path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(self.record_path, (json.dumps(record, indent=2, allow_nan=False) + "\n").encode())
        if self.ckpt_path.exists():
            self.ckpt_path.unlink()
        return record


def error_se(error: float, n: int) -> float:
    """Binomial standard error of an error rate measured on ``n`` examples."""
    return (error * (1 - error) / n) ** 0.5


def python_command() -> str:
    return " ".join([Path(sys.executable).name, *sys.argv]) if sys.argv else "python"
