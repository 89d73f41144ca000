"""The reproductions' records as Markdown tables, in English or Chinese, for the book.

Nothing here computes a result: every figure comes from a record under
``results/<budget>/<name>.json`` written by :func:`companion.reproduce.reproduce`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from . import BUDGETS, EXPERIMENTS, experiment

SHOWN_BUDGETS = ("cpu", "gpu", "paper")
_WORDS = {
    "en": dict(experiment="Experiment", paper="Paper", budget="Budget", ours="Ours", target="Target",
               device="Device", wall="Wall time", commit="Commit", command="Re-create with", met="met",
               missed="missed", none="not run yet", na="–", ours_col="Ours ({budget})"),
    "zh": dict(experiment="实验", paper="论文", budget="预算", ours="我们的结果", target="目标", device="设备",
               wall="用时", commit="提交", command="复现命令", met="达到", missed="未达到", none="尚未运行",
               na="–", ours_col="我们的结果（{budget}）"),
}


def load_records(root: str | Path = "results", budgets=SHOWN_BUDGETS) -> list[dict]:
    """Every record under ``root/<budget>/*.json``, in the order of :data:`EXPERIMENTS` then budgets."""
    root = Path(root)
    records = []
    for budget in budgets:
        for path in sorted((root / budget).glob("*.json")):
            record = json.loads(path.read_text())
            if record.get("experiment") in EXPERIMENTS and record.get("budget") == budget:
                records.append(record)
    order = {name: i for i, name in enumerate(EXPERIMENTS)}
    return sorted(records, key=lambda r: (order[r["experiment"]], BUDGETS.index(r["budget"])))


def fmt_metric(key: str, value, se=None, sd=None, lang: str = "en") -> str:
    """An error rate as a percentage, a recommender's RMSE, MAE or P@10 with four decimals, anything else
    (nats, squared error) with two; ``value ± se`` for a standard error, ``value (s.d. sd)`` for a
    standard deviation over folds."""
    if value is None:
        return "–"
    scale, unit = (100, "%") if "error" in key else (1, "")
    digits = 4 if key.startswith(("rmse", "mae", "p10")) else 2  # ratings: differences of 0.01 matter
    text = f"{scale * value:.{digits}f}"
    if se is not None:
        text += f" ± {scale * se:.{digits}f}"
    elif sd is not None:
        text += f" ({'s.d.' if lang == 'en' else '标准差'} {scale * sd:.{digits}f})"
    return text + unit


def _fmt(metrics: dict, key: str, lang: str = "en") -> str:
    return fmt_metric(key, metrics.get(key), metrics.get(key + "_se"), metrics.get(key + "_std"), lang)


def summary(record: dict, keys=None, lang: str = "en") -> str:
    """``key value ± se`` for the metrics that have a published counterpart (or ``keys``)."""
    module = experiment(record["experiment"])
    metrics = record["metrics"]
    keys = keys or list(module.PAPER["values"])
    text = "; ".join(f"`{k}` {_fmt(metrics, k, lang)}" for k in keys)
    if _open_below(record):
        # AIS's 3 s.e. exceeded the mean weight: log Z is likely underestimated, the likelihood optimistic
        text += " (AIS interval of log Z open below: optimistic)"
    return text


def _open_below(record: dict) -> bool:
    interval = record["metrics"].get("log_z_interval")
    return bool(interval) and interval[0] is None


def paper_summary(name: str) -> str:
    values = experiment(name).PAPER["values"]
    return "; ".join(f"`{k}` {fmt_metric(k, v)}" for k, v in values.items())


def target_met(record: dict) -> bool | None:
    """Whether the record reaches its budget's target (None where the budget has none)."""
    check = getattr(experiment(record["experiment"]), "CHECKS", {}).get(record["budget"])
    return None if check is None else bool(check(record["metrics"]))


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds < 5400 else f"{seconds / 3600:.1f} h"


def _device(text: str) -> str:
    return text.split(" (")[0] + (" · " + text.split(" (", 1)[1].split(",")[0] if " (" in text else "")


def table(records: list[dict], lang: str = "en", names=None) -> str:
    """One Markdown row per record (experiments without one get a row saying how to run them)."""
    w = _WORDS[lang]
    head = [w["experiment"], w["paper"], w["budget"], w["ours"], w["target"], w["device"], w["wall"], w["commit"],
            w["command"]]
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    names = list(EXPERIMENTS) if names is None else names
    for name in names:
        mine = [r for r in records if r["experiment"] == name]
        cite = f"{{cite}}`{experiment(name).PAPER['cite']}`"
        if not mine:
            rows.append(f"| `{name}` | {paper_summary(name)} {cite} | {w['na']} | {w['none']} | {w['na']} | "
                        f"{w['na']} | {w['na']} | {w['na']} | `python -m companion reproduce {name} --budget cpu` |")
        for r in mine:
            met = target_met(r)
            status = w["na"] if met is None else (w["met"] if met else w["missed"])
            prov = r["provenance"]
            rows.append(f"| `{name}` | {paper_summary(name)} {cite} | {r['budget']} | {summary(r, lang=lang)} | {status} | "
                        f"{_device(prov['device'])} | {_minutes(prov['wall_seconds'])} | `{prov['commit'][:8]}` | "
                        f"`{prov['command']}` |")
    return "\n".join(rows)


def chapter_rows(name: str, quick: dict[str, float], root: str | Path = "results", lang: str = "en",
                 keys=None) -> str:
    """A chapter's quick-profile figures beside the paper's and every recorded full-scale run of ``name``.

    ``quick`` maps metric keys to the values the chapter's own cells computed;
    ``keys`` (default: those with a published figure) are the rows.
    """
    w = _WORDS[lang]
    records = [r for r in load_records(root) if r["experiment"] == name]
    keys = list(experiment(name).PAPER["values"]) if keys is None else list(keys)
    from ..config import profile

    full = profile() == "full"  # the page's own column is named for the profile that ran it
    quick_label = {("en", False): "quick profile (this page)", ("zh", False): "快速配置（本页）",
                   ("en", True): "full profile (this page)", ("zh", True): "full配置（本页）"}[lang, full]
    head = ["", w["paper"], quick_label] + [w["ours_col"].format(budget=r["budget"]) for r in records]
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    paper = experiment(name).PAPER["values"]
    for k in keys:
        cells = [f"`{k}`", fmt_metric(k, paper.get(k)), fmt_metric(k, quick.get(k))]
        cells += [_fmt(r["metrics"], k, lang)
                  + (" †" if "log_likelihood" in k and _open_below(r) else "") for r in records]
        rows.append("| " + " | ".join(cells) + " |")
    if any(_open_below(r) for r in records):
        rows.append("\n† " + ("AIS's ±3σ interval of log Z is open below: log Z is likely underestimated and the "
                               "likelihood optimistic." if lang == "en" else
                               "AIS给出的log Z的±3σ区间下端开放：log Z很可能被低估，似然因而偏乐观。"))
    if not records:
        note = (f"No full-scale record yet: `python -m companion reproduce {name} --budget cpu` writes one."
                if lang == "en" else f"尚无全规模记录：运行`python -m companion reproduce {name} --budget cpu`即可生成。")
        rows.append("\n" + note)
    return "\n".join(rows)


def results_root() -> Path:
    """``$COMPANION_RESULTS``, else the repository's ``results/`` (beside the package in a clone), else ``./results``."""
    if os.environ.get("COMPANION_RESULTS"):
        return Path(os.environ["COMPANION_RESULTS"])
    for candidate in (Path(__file__).resolve().parents[2], Path.cwd(), *Path.cwd().parents):
        if (candidate / "results").is_dir():
            return candidate / "results"
    return Path("results")
