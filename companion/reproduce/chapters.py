"""The chapters' full-profile records, ``results/chapters/NN.json``, read back for the book.

``make book-full`` (``book/_tools/run_full.py``) executes each chapter in the full
profile on the official MNIST and records every scalar the chapter glued. A
quick-profile chapter shows those values beside its own through
:func:`full_values`, and a chapter about to run in the full profile on a CPU
says how long the recorded run took (:func:`full_profile_notice`). Nothing here
computes a result.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from .report import results_root

_CHAPTER = re.compile(r"^\d\d$")


#: the reproductions (``python -m companion reproduce NAME``) that train a chapter's models at the papers'
#: scale: where a chapter's full settings take hours on a CPU, their records are its full-scale figures
REPRODUCTIONS = {"05": ("deep-ae",), "06": ("vae-nll",), "08": ("rbm-ais",), "10": ("dbn-backprop", "dbn-updown"),
                 "11": ("dbm",)}


def reproduction_notice(chapter: str, root: str | Path | None = None) -> str | None:
    """Which reproduction records hold ``chapter``'s models at the papers' scale, and how long each ran; None if none."""
    parts = []
    for name in REPRODUCTIONS.get(chapter, ()):
        path = Path(root if root is not None else results_root()) / "cpu" / f"{name}.json"
        if path.is_file():
            prov = json.loads(path.read_text(encoding="utf8")).get("provenance", {})
            parts.append(f"`python -m companion reproduce {name}` (results/cpu/{name}.json, "
                         f"{prov.get('wall_seconds', 0) / 60:.0f} min on {prov.get('device', 'a CPU')})")
        else:
            parts.append(f"`python -m companion reproduce {name} --budget cpu` (not recorded here yet)")
    return "; ".join(parts) or None


#: set to ``off`` to train with a chapter's full settings on a CPU anyway (hours)
CPU_BUDGET_VARIABLE = "COMPANION_CPU_BUDGET"


def cpu_budget(chapter: str, settings: dict[str, Any], device: Any = None, root: str | Path | None = None,
               **cpu: Any) -> dict[str, Any]:
    """The settings a chapter trains with: its full settings cut to a CPU's budget where they take hours.

    In the full profile on a CPU, a chapter listed in :data:`REPRODUCTIONS` trains on
    all the data but with ``settings`` updated by ``cpu`` (fewer epochs, fewer samples),
    and says so in a printed line that names the reproductions holding its models at
    the papers' scale. Anywhere else (the quick profile, a GPU, or
    ``COMPANION_CPU_BUDGET=off``) ``settings`` come back unchanged.

    Parameters
    ----------
    chapter : str
        Two digits, e.g. ``"05"``.
    settings : dict
        The settings :func:`companion.choose` picked for the profile.
    device : str or torch.device, optional
        Where the chapter trains (``"auto"`` when None).
    **cpu
        The settings to replace, each a key of ``settings``.

    Returns
    -------
    dict
        A new dict; ``settings`` itself is left as it was.

    Raises
    ------
    KeyError
        When a key of ``cpu`` is not a setting (a typo would otherwise train with the full value).
    """
    import os

    from ..config import get_device, profile

    unknown = sorted(set(cpu) - set(settings))
    if unknown:
        raise KeyError(f"cpu_budget for chapter {chapter}: {', '.join(unknown)} not among the settings "
                       f"({', '.join(settings)}); name the settings the CPU budget replaces")
    out = dict(settings)
    if profile() != "full" or os.environ.get(CPU_BUDGET_VARIABLE, "").strip().lower() in ("off", "0", "no"):
        return out
    device = str(get_device("auto") if device in (None, "auto") else device)
    if device.startswith(("cuda", "mps")):
        return out
    out.update(cpu)
    changes = ", ".join(f"{key} {settings[key]} -> {value}" for key, value in cpu.items() if settings[key] != value)
    line = (f"full profile on the CPU: the full settings take hours here, so this run keeps all the data but "
            f"cuts {changes} (set {CPU_BUDGET_VARIABLE}=off to train with the full settings)")
    papers = reproduction_notice(chapter, root)
    if papers:
        line += f"; the models at the papers' scale are recorded by {papers}"
    print(line)
    return out


class MissingRecordError(FileNotFoundError):
    """A chapter's full-profile record is not in ``results/chapters``."""


def record_path(chapter: str, root: str | Path | None = None) -> Path:
    """``<results>/chapters/NN.json`` for chapter ``"NN"`` (two digits, as in the chapter's file name)."""
    if not isinstance(chapter, str) or not _CHAPTER.match(chapter):
        raise ValueError(f"chapter must be two digits as a string, like '02' (the chapter file's prefix); "
                         f"got {chapter!r}")
    return Path(root if root is not None else results_root()) / "chapters" / f"{chapter}.json"


def load_record(chapter: str, root: str | Path | None = None) -> dict[str, Any] | None:
    """The record of ``chapter``, or None when none was made yet."""
    path = record_path(chapter, root)
    if not path.is_file():
        return None
    record = json.loads(path.read_text(encoding="utf8"))
    if record.get("chapter") != chapter or record.get("profile") != "full" or "values" not in record:
        raise ValueError(f"{path} is not chapter {chapter}'s full-profile record (it needs chapter, profile "
                         "'full' and values); re-create it with make book-full")
    return record


def full_values(chapter: str, names: list[str] | tuple[str, ...] | None = None,
                root: str | Path | None = None) -> dict[str, Any]:
    """The values chapter ``chapter`` glued in its recorded full-profile run.

    Parameters
    ----------
    chapter : str
        Two digits, e.g. ``"02"``.
    names : sequence of str, optional
        The glue names the caller needs; each must be in the record (a record from
        before a chapter glued a name would otherwise show nothing in its place).

    Raises
    ------
    MissingRecordError
        When the record does not exist, with the command that makes it.
    KeyError
        When a requested name is not in the record.
    """
    record = load_record(chapter, root)
    if record is None:
        raise MissingRecordError(
            f"{record_path(chapter, root)} does not exist: the chapter's full-profile values come from it. "
            f"Run `make book-full CHAPTERS=chapters/{chapter}_*.md` from a worktree at a committed HEAD "
            "(it needs the official MNIST in ../shared/data/mnist or $COMPANION_DATA) and commit the record."
        )
    values = record["values"]
    missing = [name for name in names or () if name not in values]
    if missing:
        raise KeyError(f"{record_path(chapter, root)} has no {', '.join(missing)} (it was recorded at commit "
                       f"{record['provenance'].get('commit', '?')[:7]}, before the chapter glued them): run "
                       f"`make book-full CHAPTERS=chapters/{chapter}_*.md` again")
    return dict(values)


def full_profile_notice(chapter: str, device: str = "cpu", root: str | Path | None = None) -> str | None:
    """One line for a chapter about to run in the full profile on ``device``: how long it took when recorded.

    None on a GPU (the recorded times are for a CPU) or when there is no record.
    """
    if str(device).startswith(("cuda", "mps")):
        return None
    record = load_record(chapter, root)
    if record is None:
        return None
    prov = record["provenance"]
    minutes = prov.get("wall_seconds", 0) / 60
    return (f"full profile on the CPU: this chapter ran for about {minutes:.0f} min on {prov.get('device', 'a CPU')} "
            f"when results/chapters/{chapter}.json was recorded (the quick profile runs it in minutes)")


def announce(chapter: str, device: str | None = None, root: str | Path | None = None) -> str | None:
    """Print, before a chapter trains in the full profile on a CPU, how long its recorded run took.

    Chapters call this in their settings cell; it prints nothing in the quick profile or on a GPU.
    Returns the line printed, if any.
    """
    from ..config import get_device, profile

    if profile() != "full":
        return None
    device = str(get_device(device if device is not None else "auto"))
    line = full_profile_notice(chapter, device, root)
    if line is None and not device.startswith(("cuda", "mps")):
        line = (f"full profile on the CPU: no recorded run of chapter {chapter} yet (results/chapters/{chapter}.json); "
                "expect tens of minutes to hours on a laptop")
    if line is not None:
        print(line)
    return line


def glue_full_values(chapter: str, this_run: dict[str, Any], root: str | Path | None = None) -> dict[str, Any]:
    """The full profile's values of ``this_run``'s names, each glued as ``chNN_full_x`` for ``chNN_x``.

    Parameters
    ----------
    chapter : str
        Two digits, e.g. ``"02"``.
    this_run : dict
        ``{glue name: value}`` as this run computed them. In the full profile this run
        *is* the full-scale run, so these values are the ones glued; in the quick profile
        they come from the chapter's record, ``results/chapters/NN.json``.

    Returns
    -------
    dict
        ``{glue name: full-profile value}``.

    Raises
    ------
    MissingRecordError, KeyError
        In the quick profile, as :func:`full_values` does when the record or a name is missing.
    """
    from myst_nb import glue

    from ..config import profile

    values = dict(this_run) if profile() == "full" else full_values(chapter, list(this_run), root)
    prefix = f"ch{chapter}_"
    out = {}
    for name in this_run:
        glue(prefix + "full_" + name.removeprefix(prefix), values[name], display=False)
        out[name] = values[name]
    return out


def bullet_list(items: dict[str, list[str]]) -> dict[str, str]:
    """Markdown bullet lists, one per language, from ``{lang: [item, ...]}``.

    Each item is written ending in its separator (``;`` in English, ``；`` in Chinese), as the
    middle items of a list read; the last item's separator becomes the sentence's full stop
    (``.`` or ``。``). ``{"en": ["*a*: x;", "*b*: y;"]}`` gives ``"- *a*: x;\\n- *b*: y."``.
    """
    stops = {"en": ".", "zh": "。"}
    out = {}
    for lang, lines in items.items():
        if not lines:
            raise ValueError(f"bullet_list: no items for {lang!r}.")
        text = "\n".join(f"- {line}" for line in lines)
        out[lang] = (text[:-1] if text[-1] in ";；." + "。" else text) + stops[lang]
    return out
