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
    for name in ("kp_map_2.png", "lr_map_2.png", "reed_marks_p.png", "reed_marks_epochs.png", "skb_precision.png"):
        assert name in made
    assert len((tmp_path / "reed_marks.csv").read_text().splitlines()) == 1 + 50 * 14
    assert len(record["kp"]["maps"]) == 3 and len(record["skb"]["rows"]) == 6


def test_every_figure_the_docs_show_is_in_the_repository():
    text = open(os.path.join(DOCS, "trainability.md")).read()
    linked = re.findall(r"\]\(([^)\s]+\.(?:png|csv|json))\)", text)
    assert len(linked) >= 10
    for name in linked:
        assert os.path.exists(os.path.join(DOCS, name)), name
