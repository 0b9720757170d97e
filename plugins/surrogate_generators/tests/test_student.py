"""The ``student`` family: a one-pass network distilled from a flow teacher's latent map,
on ``toy.gmm2d``: conformance, the student's draws follow its teacher's, a two-stage
teacher distilled stage by stage, bfloat16 sampling, and bad teachers as one-line errors
with no model directory written."""

from __future__ import annotations

import functools

import numpy as np
import pytest
from test_twostage import HP, ToyPlugin
from test_twostage import QUICK as TS_QUICK

import surrogate
from surrogate.api import train
from surrogate.errors import SpecError, TrainingError
from surrogate.events import Events
from surrogate.io import make_metadata, write_events
from surrogate.testing import plugin_registry, surrogate_checks
from surrogate_generators import student as student_module
from surrogate_generators.student import Student

QUICK = {"batch_size": 256, "lr": 3e-3, "progress": False}
AT = {"radius": 2.5}


@functools.cache
def events(n: int = 4000) -> Events:
    return surrogate.simulator("toy.gmm2d", conditional=True).sample(n, seed=0)


@functools.cache
def teacher_dir(tmp_path_factory_root: str) -> str:
    teacher = surrogate.surrogate("flow", hidden=32, transforms=4)
    teacher.fit(events(), seed=1, epochs=12, **QUICK)
    return str(teacher.save(f"{tmp_path_factory_root}/teacher"))


@pytest.fixture(scope="module")
def teacher(tmp_path_factory) -> str:
    return teacher_dir(str(tmp_path_factory.mktemp("student")))


@functools.cache
def trained(path: str, **options) -> Student:
    model = Student(teacher=path, hidden=64, teacher_samples=16_000, **options)
    return model.fit(events(), seed=2, epochs=25, **QUICK)


def moments(x: np.ndarray) -> np.ndarray:
    r = np.linalg.norm(x, axis=1)
    return np.array([*x.mean(0), *x.std(0), r.mean(), r.std()])


@pytest.mark.parametrize("name", [n for n, _ in surrogate_checks(lambda: None)])
def test_student_conformance(name, teacher):
    dict(surrogate_checks(lambda: trained(teacher)))[name]()


def test_the_students_draws_follow_its_teacher(teacher):
    """The regression target is the teacher's map, so the student's draws have the
    teacher's moments (to the sampling error of 20k draws), and its loss is small
    against the events' unit variance in model space."""
    model, ref = trained(teacher), surrogate.load(teacher)
    assert model.provenance["training"]["best_loss"] < 0.02
    got = moments(model.sample(20_000, AT, seed=3)["x"])
    want = moments(ref.sample(20_000, AT, seed=4)["x"])
    np.testing.assert_allclose(got, want, atol=0.06)
    assert model.hyperparameters["preprocessing"] == ref.hyperparameters["preprocessing"]


def test_bfloat16_sampling_stays_near_float32(teacher, tmp_path):
    model = trained(teacher)
    path = model.save(tmp_path / "student")
    half = Student.load(path)
    half.settings = half.settings_class(**{**half.hyperparameters, "sample_precision": "bfloat16"})
    a, b = model.sample(5000, AT, seed=7)["x"], half.sample(5000, AT, seed=7)["x"]
    assert not np.array_equal(a, b)  # it did run in bfloat16
    assert np.abs(a - b).max() < 0.1  # bfloat16 keeps ~3 significant digits


def test_a_twostage_teacher_is_distilled_stage_by_stage(tmp_path):
    with plugin_registry(("toy_split", ToyPlugin())):
        teacher = surrogate.surrogate("twostage", **HP).fit(events(), seed=0, **TS_QUICK)
        path = str(teacher.save(tmp_path / "teacher"))
        stages = {
            f"stage{i}_options": {"teacher": path, "part": f"stage{i}", "hidden": 16}
            for i in (1, 2)
        }
        student = surrogate.surrogate(
            "twostage", split=HP["split"], stage1="student", stage2="student", **stages
        ).fit(events(), seed=1, **{**TS_QUICK, "epochs": 10})
        assert student.density == "none"
        got = moments(student.sample(10_000, AT, seed=3)["x"])
        want = moments(teacher.sample(10_000, AT, seed=4)["x"])
    np.testing.assert_allclose(got, want, atol=0.15)


def _gan_dir(tmp_path) -> str:
    gan = surrogate.surrogate("gan", hidden=8)
    return str(gan.fit(events()[:512], seed=0, epochs=1, **QUICK).save(tmp_path / "gan"))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({}, r"^model 'student' needs teacher=DIR, a trained model$"),
        ({"teacher": "nowhere"}, r"^model 'student': teacher 'nowhere' is not a model directory$"),
        ({"teacher": "TEACHER", "part": "stage2"}, r"^model 'student': teacher .* has no part "),
        ({"teacher": "GAN"}, r"^model 'student': teacher 'gan' has no invertible latent space"),
    ],
)
def test_bad_teachers_are_one_line_errors(options, message, teacher, tmp_path):
    given = {k: teacher if v == "TEACHER" else v for k, v in options.items()}
    if given.get("teacher") == "GAN":
        given["teacher"] = _gan_dir(tmp_path)
    data = events()[:600]
    meta = make_metadata(data.spec, producer="toy.gmm2d", seed=0, options={"conditional": True})
    out = tmp_path / "student"
    with pytest.raises(TrainingError, match=message):
        train("student", write_events(tmp_path / "toy.h5", data, meta), out, hyperparameters=given)
    assert not out.exists()


def test_a_teacher_given_as_a_path_is_recorded_as_text(teacher):
    from pathlib import Path

    assert Student(teacher=Path(teacher)).hyperparameters["teacher"] == teacher
    with pytest.raises(SpecError, match=r"part must be text, not 2$"):
        Student(teacher=teacher, part=2)


def test_a_teacher_of_other_events_is_refused(teacher):
    other = surrogate.simulator("toy.gmm2d").sample(600, seed=0)  # unconditional: no radius
    with pytest.raises(SpecError, match=r"^model 'student': teacher .* other events"):
        Student(teacher=teacher).fit(other, seed=0, epochs=1, **QUICK)


def test_the_teachers_draws_count_against_max_time(teacher, monkeypatch):
    class Clock:  # the teacher's draws take 100 s
        now = iter([0.0, 100.0])

        @classmethod
        def perf_counter(cls):
            return next(cls.now)

    monkeypatch.setattr(student_module, "time", Clock)
    model = Student(teacher=teacher, teacher_samples=100)
    with pytest.raises(TrainingError, match=r"teacher_samples=100 took all of max_time$"):
        model.fit(events()[:600], seed=0, epochs=1, max_time=50, **QUICK)
