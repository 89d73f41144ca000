"""companion.reproduce.chapters: the full-profile records read back, with errors that say how to make them."""

from __future__ import annotations

import json

import pytest

from companion.reproduce import chapters

RECORD = {"chapter": "02", "profile": "full", "values": {"ch02_ae_widest": 4.67, "ch02_m_cross": 16},
          "provenance": {"commit": "a" * 40, "dirty": False, "device": "cpu (AMD EPYC, 2 cores, 1 torch threads)",
                         "wall_seconds": 780.0}}


@pytest.fixture
def root(tmp_path):
    (tmp_path / "chapters").mkdir()
    (tmp_path / "chapters" / "02.json").write_text(json.dumps(RECORD))
    return tmp_path


def test_full_values(root):
    assert chapters.full_values("02", ["ch02_ae_widest"], root=root) == RECORD["values"]
    with pytest.raises(KeyError, match="ch02_new.*make book-full"):
        chapters.full_values("02", ["ch02_ae_widest", "ch02_new"], root=root)


def test_missing_record_says_how_to_make_it(root):
    with pytest.raises(chapters.MissingRecordError, match=r"03\.json.*make book-full CHAPTERS=chapters/03_"):
        chapters.full_values("03", root=root)
    assert chapters.load_record("03", root=root) is None


@pytest.mark.parametrize("chapter", [2, "2", "02_autoencoders", "ab"])
def test_chapter_is_two_digits(chapter):
    with pytest.raises(ValueError, match="two digits"):
        chapters.record_path(chapter)


def test_a_record_of_another_chapter_is_refused(root):
    (root / "chapters" / "04.json").write_text(json.dumps(RECORD))
    with pytest.raises(ValueError, match="not chapter 04"):
        chapters.load_record("04", root=root)


def test_notice_on_cpu_only(root):
    line = chapters.full_profile_notice("02", "cpu", root=root)
    assert "about 13 min" in line and "AMD EPYC" in line
    assert chapters.full_profile_notice("02", "cuda:0", root=root) is None
    assert chapters.full_profile_notice("03", "cpu", root=root) is None


def test_committed_records_are_full_profile_records_from_clean_code():
    found = sorted(chapters.results_root().joinpath("chapters").glob("*.json"))
    for path in found:
        record = chapters.load_record(path.stem, root=chapters.results_root())
        assert record["provenance"]["dirty"] is False, f"{path} was made from uncommitted code"
        assert record["values"], f"{path} holds no values"


def test_announce_prints_only_for_the_full_profile_on_a_cpu(root, monkeypatch, capsys):
    monkeypatch.setenv("COMPANION_PROFILE", "quick")
    assert chapters.announce("02", "cpu", root=root) is None
    monkeypatch.setenv("COMPANION_PROFILE", "full")
    assert "about 13 min" in chapters.announce("02", "cpu", root=root)
    assert "no recorded run of chapter 03" in chapters.announce("03", "cpu", root=root)
    assert "about 13 min" in capsys.readouterr().out


def test_glue_full_values_names_them_full(root, monkeypatch):
    glued = {}
    monkeypatch.setattr("myst_nb.glue", lambda name, value, display=True: glued.update({name: value}))
    monkeypatch.setenv("COMPANION_PROFILE", "quick")
    assert chapters.glue_full_values("02", {"ch02_ae_widest": 21.7}, root=root) == {"ch02_ae_widest": 4.67}
    assert glued == {"ch02_full_ae_widest": 4.67}
    # in the full profile the run itself is the full-scale one: its own values, no record needed
    monkeypatch.setenv("COMPANION_PROFILE", "full")
    assert chapters.glue_full_values("03", {"ch03_x": 1.5}, root=root) == {"ch03_x": 1.5}
    assert glued["ch03_full_x"] == 1.5


def test_a_chapter_too_long_for_a_cpu_names_the_reproductions_that_record_its_models(root, monkeypatch, capsys):
    from companion.reproduce import EXPERIMENTS

    assert {name for names in chapters.REPRODUCTIONS.values() for name in names} <= set(EXPERIMENTS)
    (root / "cpu").mkdir()
    (root / "cpu" / "dbn-backprop.json").write_text(json.dumps(
        {"provenance": {"wall_seconds": 2019.9, "device": "cpu (AMD EPYC, 2 cores, 2 torch threads)"}}))
    monkeypatch.setenv("COMPANION_PROFILE", "full")
    line = chapters.cpu_budget("10", {"epochs": 300}, "cpu", root=root, epochs=10)
    assert line == {"epochs": 10}
    line = capsys.readouterr().out
    assert "epochs 300 -> 10" in line
    assert "reproduce dbn-backprop` (results/cpu/dbn-backprop.json, 34 min on cpu (AMD EPYC" in line
    assert "reproduce dbn-updown --budget cpu` (not recorded here yet)" in line
    chapters.cpu_budget("03", {"epochs": 50}, "cpu", root=root, epochs=10)
    assert "reproduce" not in capsys.readouterr().out  # a chapter without reproductions names none


def test_cpu_budget_cuts_the_full_settings_only_in_the_full_profile_on_a_cpu(root, monkeypatch, capsys):
    full = {"epochs": 100, "lr": 1e-3}
    monkeypatch.setenv("COMPANION_PROFILE", "quick")
    assert chapters.cpu_budget("05", full, "cpu", root=root, epochs=20) == full
    monkeypatch.setenv("COMPANION_PROFILE", "full")
    assert chapters.cpu_budget("05", full, "cuda:0", root=root, epochs=20) == full   # a GPU trains in full
    cut = chapters.cpu_budget("05", full, "cpu", root=root, epochs=20)
    assert cut == {"epochs": 20, "lr": 1e-3} and full["epochs"] == 100   # a new dict; the caller's is kept
    out = capsys.readouterr().out
    assert "epochs 100 -> 20" in out and "reproduce deep-ae" in out and "COMPANION_CPU_BUDGET=off" in out
    monkeypatch.setenv("COMPANION_CPU_BUDGET", "off")
    assert chapters.cpu_budget("05", full, "cpu", root=root, epochs=20) == full


def test_cpu_budget_refuses_a_setting_the_chapter_does_not_have(root):
    with pytest.raises(KeyError, match="epoch not among the settings"):
        chapters.cpu_budget("05", {"epochs": 100}, "cpu", root=root, epoch=20)


def test_bullet_list_ends_each_language_with_its_full_stop():
    from companion.reproduce.chapters import bullet_list

    lists = bullet_list({"en": ["*model*: smaller;", "*data*: fewer;"], "zh": ["*模型*：更小；", "*数据*：更少；"]})
    assert lists == {"en": "- *model*: smaller;\n- *data*: fewer.", "zh": "- *模型*：更小；\n- *数据*：更少。"}
    assert bullet_list({"en": ["one item"]}) == {"en": "- one item."}
    with pytest.raises(ValueError, match="no items"):
        bullet_list({"zh": []})
