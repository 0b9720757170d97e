"""Validation at scale: merged statistics equal the in-memory ones, shards give the same
numbers on any worker count, memory does not grow with n, and bad settings fail fast."""

from __future__ import annotations

import json
import tracemalloc

import numpy as np
import pytest

import surrogate
from surrogate.cli import main
from surrogate.generation import generate_to_file
from surrogate.metrics import Sample, metric
from surrogate.metrics.accumulate import Moments
from surrogate.validation import harness, sharded, validate
from surrogate.validation.sharded import ShardingError, _allocate, _file_layout

FAST = {
    "metrics": ["separation_power", "wasserstein1", "ks", "fpd", "mmd"],
    "metric_options": {
        "separation_power": {"bootstrap": 3},
        "wasserstein1": {"bootstrap": 3},
        "ks": {"bootstrap": 3},
        "fpd": {"num_batches": 5},
        "mmd": {"batch_size": 300, "num_batches": 3},
    },
}


def _split(x: np.ndarray, parts: int) -> list[Sample]:
    return [Sample.from_arrays(p) for p in np.array_split(x, parts)]


def _merged(name: str, pilot: Sample, x: np.ndarray, y: np.ndarray, **options):
    """``metric(name).finalize`` on statistics filled in uneven shards."""
    m = metric(name, **options)
    template = m.accumulator(pilot)
    a, b = template.empty(), template.empty()
    for s in _split(x, 7):
        a.add(s)
    for s in _split(y, 3):
        b.add(s)
    return m, m.finalize(a, b, seed=1)


@pytest.fixture(scope="module")
def pair():
    rng = np.random.default_rng(0)
    return rng.normal(size=(20_000, 3)), rng.normal(0.1, 1.1, size=(20_000, 3))


def test_moments_merge_as_the_whole_sample():
    x = np.random.default_rng(1).normal(5.0, 2.0, size=(10_001, 4))
    m = Moments.zeros(4)
    for part in np.array_split(x, 13):
        m.merge(Moments.of(part))
    assert m.n == len(x)
    np.testing.assert_allclose(m.mean, x.mean(0), rtol=1e-13)
    np.testing.assert_allclose(m.covariance, np.cov(x.T), rtol=1e-12)


def test_separation_power_merged_equals_in_memory_on_the_same_bins(pair):
    x, y = pair
    full = Sample.from_arrays(x)
    m, merged = _merged("separation_power", full, x, y)
    exact = m.compute(full, Sample.from_arrays(y), seed=1)
    assert merged.per_observable == exact.per_observable
    assert merged.error == pytest.approx(exact.error, rel=0.6)  # another bootstrap


@pytest.mark.parametrize("name", ["wasserstein1", "ks"])
@pytest.mark.parametrize("width", [1.1, 1.6])
def test_binned_distances_within_their_bound(pair, name, width):
    """Also with a sample much wider than the pilot's range (1.6: ~10 % of its events
    in the overflow bins, whose distances W1 places at their mean)."""
    x, y = pair
    y = y / 1.1 * width
    pilot = Sample.from_arrays(x[:5000])
    m, merged = _merged(name, pilot, x, y)
    exact = m.compute(Sample.from_arrays(x), Sample.from_arrays(y), seed=1)
    for obs, value in merged.per_observable.items():
        bound = merged.details["observables"][obs]["bin_bound"]
        assert 0 < bound < (0.02 if width < 1.5 else 0.15)
        assert abs(value - exact.per_observable[obs]) <= bound


def test_fpd_from_moments_agrees_with_jetnets(pair):
    x, y = pair
    _, merged = _merged("fpd", Sample.from_arrays(x[:100]), x, y)
    exact = metric("fpd", num_batches=5).compute(Sample.from_arrays(x), Sample.from_arrays(y))
    assert merged.details["n_reference"] == len(x)
    assert merged.value == pytest.approx(exact.value, abs=3 * merged.error)
    assert 0 < merged.error < 0.5 * merged.value


def test_allocation_and_file_layout():
    assert _allocate(10, [5, 5, 3]) == [4, 4, 2]
    assert _allocate(100, [5, 5]) == [5, 5]
    counts, ranges = _file_layout(1000, 300, 4, np.random.default_rng(0))
    assert sum(c[0] for c in counts) == sum(c[1] for c in counts) == 300
    assert all(c[1] == c[2] for c in counts)
    assert all(c[0] + c[1] <= hi - lo for c, (lo, hi) in zip(counts, ranges, strict=True))
    assert ranges[0][0] == 0 and ranges[-1][1] == 1000


def _validate(model_dir, out, n, **kw):
    return validate(
        model_dir, simulator="toy.gmm2d", n=n, out=out, config=FAST, batch_size=2000, **kw
    )


def _values(report) -> dict[str, float]:
    return {r["name"]: r["model"]["value"] for r in report.data["metrics"]} | {
        r["name"] + ".floor": r["floor"]["value"] for r in report.data["metrics"]
    }


def test_same_numbers_on_one_and_two_workers(toy_model_dir, tmp_path):
    one = _validate(toy_model_dir, tmp_path / "one", 6000, shard_size=1500, subsample=900)
    two = _validate(
        toy_model_dir, tmp_path / "two", 6000, shard_size=1500, subsample=900, workers=2
    )
    assert two.data["settings"]["execution"]["backend"] == "processes"
    assert _values(one) == _values(two)
    rows = {r["name"]: r["evaluated_on"] for r in one.data["metrics"]}
    assert rows["fpd"]["events"] == rows["fpd"]["of"] == 6000
    assert rows["mmd"]["events"] == 900
    assert one.data["timing"]["surrogate"]["events"] == 6000
    html = (one.out / "report.html").read_text()
    assert "a seeded subsample of 900 of 6000 events per sample" in html
    assert "4 shards of 1,500 events on serial" in html


def test_sharded_agrees_with_in_memory(toy_model_dir, tmp_path):
    """Other events (per-shard conditions and seeds), so within their errors: the
    Gaussian model of a ring is far off, the floor near zero, in both paths."""
    memory = _validate(toy_model_dir, tmp_path / "memory", 20_000)
    shards = _validate(toy_model_dir, tmp_path / "shards", 20_000, shard_size=5000)
    assert "execution" not in memory.data["settings"]
    assert "evaluated_on" not in memory.data["metrics"][0]
    a = {r["name"]: r for r in memory.data["metrics"]}
    b = {r["name"]: r for r in shards.data["metrics"]}
    for name in ("separation_power", "wasserstein1", "ks"):
        assert b[name]["model"]["value"] == pytest.approx(a[name]["model"]["value"], rel=0.1)
        assert b[name]["floor"]["value"] < 0.2 * b[name]["model"]["value"]
    sigma = np.hypot(a["fpd"]["model"]["error"], b["fpd"]["model"]["error"])
    assert abs(b["fpd"]["model"]["value"] - a["fpd"]["model"]["value"]) < 4 * sigma


def _traced(model_dir, out, n) -> tuple[int, int]:
    """(bytes still held when the shard loop returns, peak bytes during it)."""
    plan = harness._checks(
        model_dir,
        n=n,
        out=out,
        simulator="toy.gmm2d",
        simulator_options=None,
        reference=None,
        reference_options=None,
        config=FAST,
        device="cpu",
        seed=0,
        batch_size=2000,
        sharding={"shard_size": 5000, "subsample": 1000},
    )
    tracemalloc.start()
    try:
        result = sharded.run(plan, np.random.SeedSequence(0))
        held, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(result[0].reference) == 1000
    return held, peak


def test_memory_does_not_grow_with_n(toy_model_dir, tmp_path):
    """Four times the events, the same memory: what the coordinator keeps is the merged
    statistics and the subsample.  (Kept events that were views of their shards held
    every shard: 4x here, and 780 MB at n = 10^7.)"""
    small = _traced(toy_model_dir, tmp_path / "small", 20_000)
    large = _traced(toy_model_dir, tmp_path / "large", 80_000)
    assert large[0] < 1.3 * small[0]
    assert large[1] < 1.3 * small[1]


def test_bad_settings_fail_before_sampling(toy_model_dir, tmp_path):
    model = surrogate.load(toy_model_dir)
    with pytest.raises(ShardingError, match="serial backend only"):
        _validate(model, tmp_path / "a", 1000, workers=2)
    with pytest.raises(ShardingError, match="subsample"):
        _validate(toy_model_dir, tmp_path / "b", 1000, subsample=3)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_file_reference_and_cli(toy_model_dir, tmp_path):
    sim = surrogate.simulator("toy.gmm2d", conditional=True)
    ref = generate_to_file(sim, 5000, tmp_path / "ref.h5", seed=3, progress=False)
    out = tmp_path / "cli"
    code = main(
        [
            "validate",
            str(toy_model_dir),
            "--reference",
            str(ref),
            "-n",
            "2000",
            "--out",
            str(out),
            "-q",
            "--config",
            "quick",
            "--shard-size",
            "600",
            "--subsample",
            "500",
        ]
    )
    assert code == 0
    data = json.loads((out / "report.json").read_text())
    assert data["ground_truth"]["mode"] == "file"
    assert data["settings"]["execution"]["shards"] == 4
    sep = next(r for r in data["metrics"] if r["name"] == "separation_power")
    assert sep["evaluated_on"]["events"] == 2000
