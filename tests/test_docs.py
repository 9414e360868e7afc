"""The documentation's figures: the script that makes them runs, and every figure the text shows exists."""

import json
import os
import re
import subprocess
import sys

import pytest

from .conftest import JIT

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = os.path.join(ROOT, "docs")


@pytest.mark.skipif(not JIT, reason="compiled sweeps: the pure-Python pass would take hours")
def test_make_figures_runs_every_study_at_a_tiny_size(tmp_path):
    res = subprocess.run(
        [sys.executable, os.path.join(DOCS, "make_figures.py"), "--size", "tiny", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    record = json.loads((tmp_path / "trainability.json").read_text())
    assert set(record) == {"kp", "rm", "skb", "lr"}
    made = {p.name for p in tmp_path.iterdir()}
    for name in (
        "kp_map_2.png",
        "kp_budget.png",
        "kp_bases.png",
        "lr_map_2.png",
        "lr_precision.png",
        "lr_budget.png",
        "lr_bases.png",
        "reed_marks_p.png",
        "reed_marks_p_met.png",
        "reed_marks_epochs.png",
        "skb_precision.png",
    ):
        assert name in made
    table = (tmp_path / "reed_marks.csv").read_text().splitlines()
    assert len(table) == 1 + 50 * 14 and "p_met_within" in table[0].split(",")
    assert len(record["kp"]["maps"]) == 3 and len(record["skb"]["rows"]) == 6 and len(record["skb"]["long"]) == 6
    # the controls: every map at the longer budget and in the other precision, and the base starts
    assert len(record["kp"]["budget"]["maps"]) == len(record["lr"]["budget"]["maps"]) == 3
    assert len(record["kp"]["precision"]) == 3
    assert all("other_precision" in m for m in record["lr"]["maps"])
    assert len(record["kp"]["bases"]["success_rate"]) == len(record["lr"]["bases"]["success_rate"]) == 8


def test_every_figure_the_docs_show_is_in_the_repository():
    text = open(os.path.join(DOCS, "trainability.md")).read()
    linked = re.findall(r"\]\(([^)\s]+\.(?:png|csv|json))\)", text)
    assert len(linked) >= 10
    for name in linked:
        assert os.path.exists(os.path.join(DOCS, name)), name
