"""The shared training loop: deterministic resume, NaN handling, early stopping, refusing
to resume with other settings, and batches streamed from an event file."""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest
import torch

import surrogate
from surrogate.errors import SpecError, TrainingError
from surrogate.events import Events
from surrogate.io import make_metadata, write_events
from surrogate.training import EventStream
from surrogate.training.loop import checkpoint_paths
from surrogate_generators.flow import Flow
from surrogate_generators.vae import VAE

HP = {"latent": 2, "hidden": 16, "blocks": 1}
OPTS = {"epochs": 4, "batch_size": 64, "lr": 3e-3, "ema": 0.9, "progress": False}


@pytest.fixture(scope="module")
def data():
    return surrogate.simulator("toy.gmm2d", conditional=True).sample(1200, seed=0)


class Killed(Exception):
    pass


def _kill_at(epoch, step):
    def cb(event, info):
        if event == "step_end" and info["epoch"] == epoch and info["step"] == step:
            raise Killed

    return cb


def _log_rows(path):
    with open(path) as fh:
        return [{k: v for k, v in row.items() if k != "seconds"} for row in csv.DictReader(fh)]


def test_resume_reaches_the_same_weights(tmp_path, data):
    """A run killed mid-epoch and resumed ends bit-identical to an uninterrupted run."""
    full = VAE(**HP).fit(data, seed=5, workdir=tmp_path / "a", **OPTS)
    killed = VAE(**HP)
    with pytest.raises(Killed):
        killed.fit(data, seed=5, workdir=tmp_path / "b", callbacks=[_kill_at(2, 3)], **OPTS)
    assert sorted(p.name for p in (tmp_path / "b" / "checkpoints").iterdir()) == [
        "epoch-0001.pt",
        "epoch-0002.pt",
    ]
    # a fresh process would not know the seed either: resume takes it from the checkpoint
    resumed = VAE(**HP).fit(data, workdir=tmp_path / "b", resume=True, **OPTS)
    a, b = full._state(), resumed._state()
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    assert _log_rows(tmp_path / "a" / "training_log.csv") == _log_rows(
        tmp_path / "b" / "training_log.csv"
    )
    assert (tmp_path / "b" / "loss.png").stat().st_size > 1000
    np.testing.assert_array_equal(full.sample(50, seed=1)["x"], resumed.sample(50, seed=1)["x"])


FAMILIES = {
    "vae": HP,
    "gan": {"latent": 2, "hidden": 16, "blocks": 1},
    "flow": {"hidden": 16, "blocks": 1, "transforms": 2},
    "diffusion": {"hidden": 16, "blocks": 1, "steps": 50, "sampling_steps": 4},
}


@pytest.mark.parametrize("family", list(FAMILIES))
def test_a_checkpoint_inside_an_epoch_resumes_to_the_same_weights(tmp_path, data, family):
    """``checkpoint_steps``: a run cut short between two epoch ends resumes from the step
    it last saved, skips the batches it trained on, and ends bit-identical, log included."""
    make = surrogate.surrogate_class(family)
    opts = {**OPTS, "epochs": 2, "checkpoint_steps": 5}
    full = make(**FAMILIES[family]).fit(data, seed=5, workdir=tmp_path / "a", **opts)
    # 17 steps an epoch: saved at run steps 20 and 25 (epoch 2, steps 3 and 8), cut at 27
    with pytest.raises(Killed):
        make(**FAMILIES[family]).fit(
            data, seed=5, workdir=tmp_path / "b", callbacks=[_kill_at(1, 9)], **opts
        )
    names = [p.name for p in checkpoint_paths(tmp_path / "b")]
    assert names[-1] == "epoch-0002-step-000008.pt", names
    resumed = make(**FAMILIES[family]).fit(data, workdir=tmp_path / "b", resume=True, **opts)
    a, b = full._state(), resumed._state()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    assert _log_rows(tmp_path / "a" / "training_log.csv") == _log_rows(
        tmp_path / "b" / "training_log.csv"
    )


def test_a_resumed_run_streams_as_the_run_it_resumes(tmp_path, data, monkeypatch):
    """A run resumed in a process with less memory (an rlimit, a busy node) would cut
    smaller windows, so other batches: it takes the window the checkpoint recorded."""
    opts = {**OPTS, "in_memory": False, "window_events": 256}
    full = VAE(**HP).fit(data, seed=5, workdir=tmp_path / "a", **opts)
    with pytest.raises(Killed):
        VAE(**HP).fit(data, seed=5, workdir=tmp_path / "b", callbacks=[_kill_at(2, 3)], **opts)
    import surrogate.training.data as stream_module

    monkeypatch.setattr(stream_module, "memory_budget", lambda limit, what: 1e4)
    resumed = VAE(**HP).fit(data, workdir=tmp_path / "b", resume=True, **opts)
    a, b = full._state(), resumed._state()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    # a fresh run in that process does cut smaller windows
    assert (
        EventStream(
            data, lambda e: (e["x"],), batch_size=64, seed=0, window_events=256, in_memory=False
        ).window_events
        == 64
    )


def test_checkpoint_names_sort_by_epoch_then_step(tmp_path, data):
    """A time interval of ~0 checkpoints after every step; the end of an epoch sorts after
    its steps, so resume and pruning take the newest."""
    VAE(**HP).fit(
        data, seed=5, workdir=tmp_path, checkpoint_interval=1e-9, keep_checkpoints=3, **OPTS
    )
    steps = math.ceil(1080 / 64)
    assert [p.name for p in checkpoint_paths(tmp_path)] == [
        f"epoch-0004-step-{steps - 1:06d}.pt",
        f"epoch-0004-step-{steps:06d}.pt",
        "epoch-0004.pt",
    ]
    (tmp_path / "checkpoints" / "epoch-notes.pt").write_text("not a checkpoint")
    assert checkpoint_paths(tmp_path)[-1].name == "epoch-0004.pt"


def test_resume_refuses_other_settings_and_keeps_checkpoints(tmp_path, data):
    VAE(**HP).fit(data, seed=5, workdir=tmp_path, **{**OPTS, "epochs": 1})
    ckpts = sorted((tmp_path / "checkpoints").iterdir())
    before = {p.name: p.read_bytes() for p in ckpts}
    with pytest.raises(TrainingError, match=r"hidden: 16 -> 32"):
        VAE(**{**HP, "hidden": 32}).fit(data, workdir=tmp_path, resume=True, **OPTS)
    with pytest.raises(TrainingError, match=r"batch_size: 64 -> 32"):
        VAE(**HP).fit(data, workdir=tmp_path, resume=True, **{**OPTS, "batch_size": 32})
    with pytest.raises(TrainingError, match=r"seed: 5 -> 6"):
        VAE(**HP).fit(data, seed=6, workdir=tmp_path, resume=True, **OPTS)
    with pytest.raises(TrainingError, match="earlier run: resume it"):
        VAE(**HP).fit(data, seed=5, workdir=tmp_path, **OPTS)
    assert {p.name: p.read_bytes() for p in sorted((tmp_path / "checkpoints").iterdir())} == before
    # more epochs is a legitimate resume; the checkpoint says how to rebuild the model
    from surrogate.training.loop import checkpoint_settings

    settings = checkpoint_settings(tmp_path)
    assert settings["family"] == "vae" and settings["seed"] == 5
    rebuilt = VAE(**settings["hyperparameters"])
    rebuilt.fit(data, workdir=tmp_path, resume=True, **{**OPTS, "epochs": 2})
    assert rebuilt.training_result.epochs_run == 2
    with pytest.raises(TrainingError, match="nothing to resume"):
        VAE(**HP).fit(data, workdir=tmp_path / "empty", resume=True, **OPTS)


class NaNVAE(VAE):
    def training_loss(self, batch, optimizer, ctx):
        losses = super().training_loss(batch, optimizer, ctx)
        if ctx.epoch == 2 and ctx.step == 4:
            losses["loss"] = losses["loss"] * float("nan")
        return losses


def test_nan_loss_stops_clearly_and_keeps_last_good_checkpoint(tmp_path, data):
    from surrogate.training.loop import read_checkpoint

    model = NaNVAE(**HP)
    with pytest.raises(TrainingError, match=r"loss became nan at epoch 3, step 5.*epoch-0002\.pt"):
        model.fit(data, seed=1, workdir=tmp_path, **OPTS)
    ckpt = read_checkpoint(tmp_path / "checkpoints" / "epoch-0002.pt")
    assert ckpt["epoch"] == 2
    # the model keeps the weights of the last completed epoch, finite and usable
    for name, net in model.networks().items():
        for k, v in net.state_dict().items():
            np.testing.assert_array_equal(v.numpy(), ckpt["networks"][name][k].numpy())
    assert np.isfinite(model.sample(10, seed=0)["x"]).all()
    rows = _log_rows(tmp_path / "training_log.csv")
    assert rows[-1]["failed"] == "1.0"


def test_early_stopping(tmp_path, data):
    """With lr = 0 the validation loss never improves: patience 1 stops after 2 epochs."""
    model = Flow(hidden=8, blocks=1, transforms=2).fit(
        data,
        seed=0,
        workdir=tmp_path,
        epochs=10,
        lr=0.0,
        schedule="constant",
        patience=1,
        batch_size=128,
        progress=False,
    )
    result = model.training_result
    assert result.stopped_early and result.epochs_run == 2 and result.best_epoch == 1
    assert model.provenance["training"]["stopped_early"] is True


def test_options_are_checked(data):
    with pytest.raises(TrainingError, match="did you mean 'batch_size'"):
        VAE(**HP).fit(data, seed=0, batchsize=3)
    with pytest.raises(TrainingError, match="CUDA is not available"):
        import torch

        if torch.cuda.is_available():
            pytest.skip("CUDA present")
        VAE(**HP).fit(data, seed=0, device="cuda", epochs=1)
    other = surrogate.simulator("toy.gmm2d").sample(100, seed=0)  # no 'radius' condition
    model = VAE(**HP).fit(data, seed=0, epochs=1, batch_size=256)
    with pytest.raises(SpecError, match="does not match"):
        model.fit(other, seed=0)


def test_event_stream_epochs_cover_the_training_set_once(data):
    def prepare(ev):
        return (ev["x"].astype(np.float64), ev["radius"])

    for in_memory in (True, False):
        stream = EventStream(
            data,
            prepare,
            batch_size=50,
            seed=3,
            val_fraction=0.2,
            block_events=40,
            window_events=200,
            in_memory=in_memory,
        )
        assert stream.n_train + stream.n_val == len(data)
        val = np.concatenate([b[1] for b in stream.val_batches()])
        epochs = []
        for epoch in (0, 1):
            batches = list(stream.train_batches(epoch))
            assert len(batches) == stream.steps_per_epoch
            assert all(len(b[0]) == 50 for b in batches[:-1])
            seen = np.concatenate([b[1] for b in batches])
            assert len(seen) == stream.n_train
            assert len(np.intersect1d(seen, val)) == 0
            np.testing.assert_array_equal(
                np.sort(np.concatenate([seen, val])), np.sort(data["radius"])
            )
            epochs.append(seen)
        assert not np.array_equal(epochs[0], epochs[1])  # reshuffled
        again = np.concatenate([b[1] for b in stream.train_batches(1)])
        np.testing.assert_array_equal(again, epochs[1])  # (seed, epoch) fixes the order


def test_fit_streams_from_an_event_file(tmp_path, data):
    path = write_events(
        tmp_path / "toy.h5", data, make_metadata(data.spec, producer="toy.gmm2d", seed=0)
    )
    opts = {**OPTS, "epochs": 2, "ema": None}
    streamed = VAE(**HP).fit(
        path, seed=2, in_memory=False, block_events=100, window_events=300, **opts
    )
    assert streamed.provenance["n_events"] == len(data)
    assert streamed.provenance["training"]["n_train"] + streamed.provenance["training"][
        "n_val"
    ] == len(data)
    ev = streamed.sample(20, {"radius": 2.5}, seed=0)
    assert isinstance(ev, Events) and np.isfinite(ev["x"]).all()


def test_event_stream_respects_the_memory_budget(data):
    """Data over ``memory_limit`` are streamed, and a shuffle window holds at most a
    quarter of the budget (never less than one batch)."""
    stream = EventStream(data, lambda ev: (ev["x"],), batch_size=32, seed=0, memory_limit=4800)
    assert not stream.in_memory and stream.window_events == 32
    roomy = EventStream(data, lambda ev: (ev["x"],), batch_size=32, seed=0)
    assert roomy.in_memory and roomy.window_events == 262_144


def test_ema_warm_up_forgets_the_initial_weights():
    """With live weights held at w after initial w0, the average after t updates is
    w + (w0 - w) * prod_i min(decay, (1 + i) / (10 + i)); at decay 0.999 and t = 100 the
    initial weight's share is ~1e-9 (it would be 0.999**100 = 0.90 without the warm-up)."""
    import math

    import torch

    from surrogate.training.loop import EMA

    net = torch.nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        net.weight.fill_(5.0)  # w0
    ema = EMA({"net": net}, decay=0.999)
    with torch.no_grad():
        net.weight.fill_(2.0)  # w
    for step in range(100):
        ema.update(step)
    share = math.prod(min(0.999, (1 + i) / (10 + i)) for i in range(100))
    assert share < 1e-8
    got = float(ema.shadow["net"]["weight"])
    assert got == pytest.approx(2.0 + 3.0 * share, rel=1e-6)
    # late in a run the configured decay rules
    assert ema.decay_at(10**6) == 0.999


def test_max_time_stops_at_an_epoch_boundary_and_a_resume_gets_a_new_budget(tmp_path, data, clock):
    """Epochs of 10 s in a 25 s budget: after two epochs a third would end at 30 s, so the
    run stops there with the best weights, saved loadable; a resumed run has 25 s again
    and ends bit-identical to an uninterrupted run."""
    full = VAE(**HP).fit(data, seed=5, workdir=tmp_path / "a", **OPTS)
    timed = {**OPTS, "max_time": 25, "callbacks": [clock.tick]}
    cut = VAE(**HP).fit(data, seed=5, workdir=tmp_path / "b", **timed)
    result = cut.training_result
    assert (result.stopped, result.epochs_run, result.stopped_early) == ("max_time", 2, False)
    assert result.history[-1]["stopped_max_time"] == 1.0
    assert cut.provenance["training"]["stopped"] == "max_time"
    best = read_best_networks(tmp_path / "b" / "checkpoints" / "epoch-0002.pt")
    for name, net in cut.networks().items():
        for k, v in net.state_dict().items():
            np.testing.assert_array_equal(v.numpy(), best[name][k].numpy())
    loaded = VAE.load(cut.save(tmp_path / "model"))
    np.testing.assert_array_equal(cut.sample(20, seed=1)["x"], loaded.sample(20, seed=1)["x"])

    resumed = VAE(**HP).fit(data, workdir=tmp_path / "b", resume=True, **timed)
    assert (resumed.training_result.stopped, resumed.training_result.epochs_run) == ("epochs", 4)
    a, b = full._state(), resumed._state()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def read_best_networks(path):
    from surrogate.training.loop import read_checkpoint

    return read_checkpoint(path)["best"]["networks"]


def test_max_time_shorter_than_the_first_epoch_is_a_one_line_error(tmp_path, data, clock):
    path = write_events(
        tmp_path / "toy.h5", data, make_metadata(data.spec, producer="toy.gmm2d", seed=0)
    )
    out = tmp_path / "model"
    with pytest.raises(TrainingError) as info:
        surrogate.train(
            "vae", path, out, hyperparameters=HP, max_time=5, callbacks=[clock.tick], **OPTS
        )
    assert str(info.value) == "max_time=5s is shorter than one epoch (the first took 10s)"
    assert not out.exists()  # no model directory, no checkpoint of the refused run


def test_resume_on_events_of_another_spec_names_the_difference(tmp_path, data):
    VAE(**HP).fit(data, seed=5, workdir=tmp_path, **{**OPTS, "epochs": 1})
    other = surrogate.simulator("toy.gmm2d").sample(300, seed=0)  # no 'radius' condition
    with pytest.raises(SpecError, match=r"another spec .*conditions: \['radius'\] vs \[\]"):
        VAE(**HP).fit(other, workdir=tmp_path, resume=True, **OPTS)


def test_amp_on_a_cpu_trains_in_bfloat16(data):
    """``amp`` was honoured on CUDA only; on a CPU it now runs the step under bfloat16
    autocast: the networks see bfloat16, and the run still trains to finite losses."""
    seen = set()

    def record(module, inputs, output):
        if isinstance(module, torch.nn.Linear):
            seen.add(output.dtype)

    handle = torch.nn.modules.module.register_module_forward_hook(record)
    try:
        model = VAE(**HP).fit(data, seed=0, epochs=1, batch_size=256, progress=False, amp=True)
    finally:
        handle.remove()
    assert torch.bfloat16 in seen
    assert all(math.isfinite(row["val_loss"]) for row in model.training_result.history)
