"""``validate --anomalies FILE``: the report's anomaly section scores the reference, the
model's own events and a labelled anomaly sample, and the input is checked before any
sampling."""

from __future__ import annotations

import json

import pytest
from validation_helpers import QUICK

import surrogate
from surrogate.errors import SpecError, SurrogateError
from surrogate.validation import validate


@pytest.fixture(scope="module")
def anomalies(anomaly_registry, tmp_path_factory):
    folder = tmp_path_factory.mktemp("anomalies")
    opts = {"conditional": True}
    labelled = folder / "off_ring.h5"
    surrogate.simulate("toy.gmm2d", 1500, labelled, options=opts, seed=9, anomaly="test.off_ring")
    plain = folder / "plain.h5"
    surrogate.simulate("toy.gmm2d", 100, plain, options=opts, seed=9)
    return labelled, plain


def test_the_anomaly_section_is_in_the_report(toy_model_dir, anomalies, tmp_path):
    out = tmp_path / "report"
    report = validate(
        toy_model_dir,
        simulator="toy.gmm2d",
        n=1500,
        out=out,
        config=QUICK,
        anomalies=anomalies[0],
    )
    section = {s["name"]: s for s in report.data["sections"]}["anomaly"]
    assert section["error"] is None
    kinds = [item["kind"] for item in section["items"]]
    assert kinds == ["figure", "figure", "table", "text"]
    table = section["items"][2]
    rows = {row[0]: row for row in table["rows"]}
    against_anomaly = rows["anomaly (test.off_ring)"]
    own = next(row for label, row in rows.items() if "own events" in label)
    # the gaussian's nll sees events pushed off the ring; its own events score like the
    # reference's far less well than the anomaly's do
    assert against_anomaly[1] > 0.65 and own[1] < against_anomaly[1]
    assert (out / "sections" / "anomaly.roc.png").is_file()
    text = section["items"][3]["text"]
    assert "Score: nll" in text and "1500 events labelled 'test.off_ring'" in text
    assert json.loads((out / "report.json").read_text())["sections"]


def test_bad_anomaly_input_fails_before_sampling(toy_model_dir, anomalies, tmp_path):
    labelled, plain = anomalies
    common = {"simulator": "toy.gmm2d", "n": 100, "config": QUICK}
    with pytest.raises(SpecError, match="not a labelled anomaly sample"):
        validate(toy_model_dir, out=tmp_path / "a", anomalies=plain, **common)
    with pytest.raises(SurrogateError, match=r"unknown anomaly score 'reconstruction'"):
        validate(
            toy_model_dir,
            out=tmp_path / "b",
            anomalies=labelled,
            anomaly_score="reconstruction",
            **common,
        )
    with pytest.raises(SurrogateError, match="needs --anomalies FILE"):
        validate(toy_model_dir, out=tmp_path / "c", anomaly_score="nll", **common)
    assert not any((tmp_path / d).exists() for d in "abc")
