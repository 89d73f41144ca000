import math

import numpy as np
import pytest
import torch
from torch import nn

import companion as cp
from companion.train import TrainingDiverged, Trainable, evaluate, fit


class MeanModel(nn.Module):
    """loss = (p - mean(batch))^2: training pulls p to the data mean."""

    def __init__(self, start=1.0):
        super().__init__()
        self.p = nn.Parameter(torch.tensor(float(start)))

    def loss(self, batch):
        (x,) = batch  # fit and evaluate always pass a tuple
        loss = (self.p - x.mean()) ** 2
        return loss, {"p": self.p.detach()}


def small_ae():
    return cp.models.DenseAutoencoder((64, 16, 4))


def test_loss_falls_on_a_small_problem():
    X, _ = cp.data.digits()
    cp.seed_everything(0)
    model = small_ae()
    history = fit(model, X, epochs=8, batch_size=64, lr=3e-3, seed=0, progress=False)
    assert history.epochs == 8
    assert history["loss"][-1] < 0.7 * history["loss"][0]
    assert set(history.history) == {"loss", "sse"}
    assert history.device == "cpu" and history.seconds > 0


def test_same_seed_same_history_on_cpu():
    X, _ = cp.data.digits()
    runs = []
    for _ in range(2):
        cp.seed_everything(7)
        runs.append(fit(small_ae(), X, epochs=3, seed=7, progress=False).history)
    assert runs[0] == runs[1]
    cp.seed_everything(8)
    assert fit(small_ae(), X, epochs=3, seed=8, progress=False).history != runs[0]


def test_validation_data_and_split():
    X = torch.zeros(100, 1)
    X[80:] = 1.0
    model = MeanModel(start=0.0)
    history = fit(model, X, epochs=2, lr=0.0, optimizer="sgd", validation_split=0.2, progress=False)
    # the last 20 rows (all ones) are held out, so val loss is (0 - 1)^2 and train loss 0
    assert history["val_loss"] == [1.0, 1.0] and history["loss"] == [0.0, 0.0]
    history = fit(model, X[:10], epochs=1, lr=0.0, optimizer="sgd", validation_data=X[80:], progress=False)
    assert history["val_loss"] == [1.0]


def test_early_stopping_restores_the_best_weights():
    train = torch.zeros(64, 1)
    val = torch.ones(16, 1)
    model = MeanModel(start=1.0)  # training moves p from 1 towards 0: validation only gets worse
    seen = []
    history = fit(model, train, epochs=50, batch_size=64, optimizer="sgd", lr=0.1,
                  validation_data=val, patience=3, progress=False,
                  callback=lambda epoch, m, h: seen.append(m.p.item()))
    assert history.stopped_early and history.epochs == 4 and history.best_epoch == 0
    assert model.p.item() == pytest.approx(seen[0])
    assert model.p.item() != pytest.approx(seen[-1])


def test_patience_without_improvement_stops():
    model = MeanModel()
    history = fit(model, torch.zeros(10, 1), epochs=20, lr=0.0, optimizer="sgd", patience=2, progress=False)
    assert history.epochs == 3 and history.stopped_early


def test_callback_can_stop_training():
    history = fit(MeanModel(), torch.zeros(10, 1), epochs=10, progress=False,
                  callback=lambda epoch, m, h: epoch == 1)
    assert history.epochs == 2


class ExplodingModel(MeanModel):
    def __init__(self, explode_at):
        super().__init__()
        self.calls, self.explode_at = 0, explode_at

    def loss(self, batch):
        self.calls += 1
        loss, metrics = super().loss(batch)
        return (loss * math.nan if self.calls >= self.explode_at else loss), metrics


def test_nan_loss_stops_with_a_clear_error_and_restores_parameters():
    model = ExplodingModel(explode_at=7)  # 2 batches per epoch: explodes in epoch 4
    states = []
    with pytest.raises(TrainingDiverged, match=r"became nan at epoch 4, batch 1.*Lower the learning rate"):
        fit(model, torch.randn(20, 1), epochs=10, batch_size=10, optimizer="sgd", lr=0.1, progress=False,
            callback=lambda e, m, h: states.append(m.p.item()))
    assert torch.isfinite(model.p)
    assert model.p.item() == pytest.approx(states[-1])  # parameters at the start of epoch 4


@pytest.mark.parametrize("optimizer", ["adam", "SGD", torch.optim.RMSprop, lambda params: torch.optim.Adam(params, lr=0.1)])
def test_optimizer_forms(optimizer):
    model = MeanModel(start=3.0)
    fit(model, torch.zeros(32, 1), epochs=30, optimizer=optimizer, lr=0.1, progress=False)
    assert abs(model.p.item()) < 1.0


def test_optimizer_instance_is_used_as_is():
    model = MeanModel(start=3.0)
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    fit(model, torch.zeros(8, 1), epochs=1, batch_size=8, optimizer=opt, progress=False)
    assert model.p.item() == pytest.approx(0.0)  # one step of lr 0.5 on (p - 0)^2 from 3


def test_gradient_clipping_bounds_the_step():
    model = MeanModel(start=100.0)
    fit(model, torch.zeros(4, 1), epochs=1, batch_size=4, optimizer="sgd", lr=1.0, clip_grad_norm=0.5, progress=False)
    assert model.p.item() == pytest.approx(99.5)


def test_tuple_data_reaches_the_model_as_a_tuple():
    class Pairs(MeanModel):
        def loss(self, batch):
            assert isinstance(batch, tuple) and len(batch) == 2
            x, y = batch
            return (self.p - (x.mean() + y.float().mean())) ** 2, {}

    fit(Pairs(), (torch.zeros(10, 2), torch.ones(10, dtype=torch.long)), epochs=1, progress=False)


def test_a_single_tensor_reaches_the_model_as_a_one_tuple():
    seen = []

    class Recorder(MeanModel):
        def loss(self, batch):
            seen.append(type(batch).__name__ + str(len(batch)))
            return super().loss(batch)

    model = Recorder()
    assert isinstance(model, Trainable)
    fit(model, torch.zeros(6, 1), epochs=1, batch_size=4, validation_data=torch.ones(2, 1), progress=False)
    evaluate(model, torch.zeros(3, 1))
    assert seen == ["tuple1"] * 4


def test_evaluate_weights_batches_by_size():
    class Mean(MeanModel):
        def loss(self, batch):
            return batch[0].mean() + 0 * self.p, {}

    X = torch.arange(10.0).reshape(10, 1)
    assert evaluate(Mean(), X, batch_size=3)["loss"] == pytest.approx(4.5)


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (dict(epochs=0), ValueError, "epochs must be an integer >= 1"),
        (dict(batch_size=0), ValueError, "batch_size must be an integer >= 1"),
        (dict(validation_split=1.0), ValueError, "validation_split must be in"),
        (dict(optimizer="lbfgs2"), ValueError, "optimizer='lbfgs2': use one of"),
        (dict(optimizer=3), TypeError, "not an optimizer"),
        (dict(amp=True), ValueError, "amp=True needs a CUDA device"),
        (dict(device="cuda:7"), cp.config.ConfigError, "cuda"),
    ],
)
def test_bad_arguments(kwargs, error, message):
    with pytest.raises(error, match=message):
        fit(MeanModel(), torch.zeros(10, 1), progress=False, **kwargs)


def test_bad_data():
    with pytest.raises(ValueError, match="NaN or infinite"):
        fit(MeanModel(), torch.tensor([[1.0], [math.nan]]), progress=False)
    with pytest.raises(ValueError, match="differ in length"):
        fit(MeanModel(), (torch.zeros(3, 1), torch.zeros(4)), progress=False)
    with pytest.raises(ValueError, match="empty"):
        fit(MeanModel(), torch.zeros(0, 1), progress=False)
    with pytest.raises(TypeError, match="has no loss"):
        fit(nn.Linear(1, 1), torch.zeros(3, 1), progress=False)


def test_numpy_input_is_accepted():
    import numpy as np

    fit(MeanModel(), np.zeros((6, 1), dtype=np.float32), epochs=1, progress=False)


def test_fit_validates_the_whole_data_set_once_before_training():
    bce = cp.models.DenseAutoencoder((4, 2), loss="bce")
    before = {k: v.clone() for k, v in bce.state_dict().items()}
    X = torch.rand(50, 4)
    X[37, 2] = 1.5
    with pytest.raises(ValueError, match=r"DenseAutoencoder data: values must lie in \[0, 1\]"):
        fit(bce, X, epochs=1, progress=False)
    with pytest.raises(ValueError, match=r"values must lie in \[0, 1\]"):
        fit(bce, torch.rand(10, 4), validation_data=X, epochs=1, progress=False)
    assert all(torch.equal(before[k], v) for k, v in bce.state_dict().items())  # nothing was trained


def test_named_adam_uses_the_fused_kernel_unless_told_otherwise():
    from companion.train import _make_optimizer

    params = [torch.nn.Parameter(torch.zeros(3))]
    cpu = torch.device("cpu")
    assert _make_optimizer("adam", params, 1e-3, 0.0, {}, cpu).defaults["fused"] is True
    assert not _make_optimizer("adam", params, 1e-3, 0.0, {"foreach": True}, cpu).defaults["fused"]
    assert not _make_optimizer(torch.optim.Adam, params, 1e-3, 0.0, {}, cpu).defaults["fused"]


# ---------------------------------------------------------------------- training cannot silently go wrong
@pytest.mark.parametrize("kwargs, words", [
    (dict(clip_grad_norm=-1.0), "clip_grad_norm must be a positive number"),
    (dict(clip_grad_norm=0), "clip_grad_norm must be a positive number"),
    (dict(clip_grad_norm=float("nan")), "clip_grad_norm must be a positive number"),
    (dict(patience=0), "patience must be an integer >= 1"),
    (dict(patience=1.5), "patience must be an integer >= 1"),
    (dict(epochs=True), "epochs must be an integer >= 1"),
    (dict(epochs=2.7), "epochs must be an integer >= 1"),
    (dict(batch_size=False), "batch_size must be an integer >= 1"),
])
def test_bad_training_settings_are_refused(kwargs, words):
    model = MeanModel(start=3.0)
    with pytest.raises(ValueError, match=words):
        fit(model, torch.zeros(8, 1), progress=False, **kwargs)
    assert model.p.item() == 3.0


def test_numpy_integers_are_integers():
    import numpy as np

    history = fit(MeanModel(), torch.zeros(8, 1), epochs=np.int64(2), batch_size=np.int32(4), progress=False)
    assert history.epochs == 2


def test_an_optimizer_of_another_model_is_refused():
    model, other = MeanModel(start=3.0), MeanModel()
    with pytest.raises(ValueError, match="updates none of MeanModel's parameters"):
        fit(model, torch.zeros(8, 1), optimizer=torch.optim.SGD(other.parameters(), lr=0.1), progress=False)


def test_exploding_but_finite_parameters_are_caught_and_restored():
    cp.seed_everything(0)
    X = torch.bernoulli(torch.full((200, 16), 0.3))
    rbm = cp.models.BernoulliRBM(16, 8)
    fit(rbm, X, epochs=1, optimizer="sgd", lr=0.05, progress=False)
    before = {k: v.clone() for k, v in rbm.state_dict().items()}
    with pytest.raises(TrainingDiverged, match=r"parameter '.' reached .* limit is 1e\+06.*learning rate 1e\+30 is large"):
        fit(rbm, X, epochs=3, optimizer="sgd", lr=1e30, progress=False)
    assert all(torch.equal(before[k], v) for k, v in rbm.state_dict().items())


def test_divergence_names_unscaled_data_as_the_cause():
    model = MeanModel(start=0.0)
    with pytest.raises(TrainingDiverged, match=r"data reach 2\.55e\+07 in magnitude: standardize"):
        fit(model, torch.full((8, 1), 2.55e7), epochs=2, optimizer="sgd", lr=0.5, progress=False)


def test_keyboard_interrupt_restores_the_last_completed_epoch():
    class Interrupting(MeanModel):
        calls = 0

        def loss(self, batch):
            Interrupting.calls += 1
            if Interrupting.calls == 7:  # 2 batches per epoch: in epoch 4
                raise KeyboardInterrupt
            return super().loss(batch)

    model, states = Interrupting(start=3.0), []
    with pytest.raises(KeyboardInterrupt, match=r"interrupted in epoch 4; the model was restored to its parameters "
                                                r"after epoch 3"):
        fit(model, torch.zeros(20, 1), epochs=10, batch_size=10, optimizer="sgd", lr=0.1, progress=False,
            callback=lambda e, m, h: states.append(m.p.item()))
    assert model.p.item() == pytest.approx(states[-1])


def test_a_named_eval_loss_is_recorded_and_monitored_under_its_name():
    class Penalized(MeanModel):
        eval_loss_name = "err"  # validation measures the error alone, training adds a penalty

        def loss(self, batch):
            (x,) = batch
            err = (self.p - x.mean()) ** 2
            return (err + (0.0 if not self.training else 1.0)), {"err": err.detach()}

    h = fit(Penalized(start=3.0), torch.zeros(8, 1), epochs=3, batch_size=4, validation_data=torch.zeros(4, 1),
            optimizer="sgd", lr=0.1, patience=1, progress=False)
    assert "val_loss" not in h and len(h["val_err"]) == h.epochs and len(h["loss"]) == h.epochs
    assert h["loss"][0] > h["err"][0] + 0.5  # the training loss is the penalized one
    assert h.best_epoch == int(np.argmin(h["val_err"]))
    assert evaluate(Penalized(start=1.0), torch.zeros(4, 1)) == {"err": pytest.approx(1.0)}


def test_a_metric_given_as_a_callable_is_measured_on_the_monitored_batches_only():
    from companion.train import MONITOR_EVERY

    calls, seen = [], []

    class Costly(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(1))

        def loss(self, batch):
            x = batch[0]
            seen.append(self.w.item())

            def extra():  # stands for a metric that costs work of its own
                calls.append((len(seen) - 1, self.w.item()))
                return torch.tensor(float(len(calls)))

            return ((x - self.w) ** 2).mean(), {"extra": extra}

    n_batches = 2 * MONITOR_EVERY + 5
    history = cp.fit(Costly(), torch.randn(10 * n_batches, 1), epochs=2, batch_size=10, optimizer="sgd", lr=0.1,
                     progress=False, seed=0)
    assert [i for i, _ in calls] == [5, 15, 30, 40]  # batches 5 and 15 of each epoch of 25
    assert history["extra"] == [1.5, 3.5]  # each epoch's mean over the batches that measured it
    assert all(w == seen[i] for i, w in calls)  # measured before the update of its batch


@pytest.mark.parametrize("n_batches, expected", [
    (1, [0]), (2, [0]), (3, [1]), (7, [3]), (10, [4]), (12, [5]), (40, [5, 15, 25, 35]), (45, [5, 15, 25, 35])])
def test_the_monitored_batches_stand_for_the_ten_around_them(n_batches, expected):
    from companion.monitor import monitored_batches

    assert list(monitored_batches(n_batches)) == expected


class _Skips(torch.nn.Module):
    """A model whose loss value costs work of its own: unmonitored, it returns NaN and no metrics."""

    def __init__(self, blow_up_at=None):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))
        self.flags, self.blow_up_at = [], blow_up_at

    def loss(self, batch, monitor=True):
        self.flags.append(monitor)
        x = batch[0]
        loss = ((x - self.w) ** 2).mean()
        if len(self.flags) == self.blow_up_at:
            loss = loss * float("inf")  # an update that sends w to infinity
        if not monitor:
            return loss + (float("nan") - loss.detach()), {}  # the gradient, but no value
        return loss, {"mean": x.mean()}


def test_a_model_that_takes_monitor_is_measured_on_the_monitored_batches_only():
    from companion.train import MONITOR_EVERY

    n_batches = 2 * MONITOR_EVERY + 5
    model = _Skips()
    history = cp.fit(model, torch.randn(10 * n_batches, 1), epochs=2, batch_size=10, optimizer="sgd", lr=0.1,
                     progress=False, seed=0)
    monitored = [i in (5, 15) for i in range(n_batches)]
    assert model.flags == monitored * 2  # True on batches 5 and 15 of each epoch of 25
    assert all(math.isfinite(v) for v in history["loss"] + history["mean"])  # the NaN values were not recorded
    assert model.w.item() != 0.0  # and every batch's gradient was applied


def test_a_divergence_on_an_unmonitored_batch_is_still_caught_and_the_model_restored():
    model = _Skips(blow_up_at=3)  # batch 3 is not monitored: its loss is not checked
    with pytest.raises(TrainingDiverged, match="epoch 1"):
        cp.fit(model, torch.randn(200, 1), epochs=2, batch_size=10, optimizer="sgd", lr=0.1, progress=False)
    assert model.w.item() == 0.0  # restored to the start of the epoch


def test_an_error_inside_an_epoch_restores_the_model_and_names_a_divergence_as_one():
    class FailsAt(_Skips):
        def __init__(self, blow_up_at=None, fail_at=None):
            super().__init__(blow_up_at)
            self.fail_at = fail_at
            self.register_buffer("running", torch.zeros(1), persistent=False)  # state outside the state_dict

        def loss(self, batch, monitor=True):
            self.running += 1
            if len(self.flags) + 1 == self.fail_at:
                # what a sampler does when handed the probabilities of diverged parameters
                torch.multinomial(torch.full((1, 2), float("nan")) * self.w.detach(), 1)
            return super().loss(batch, monitor)

    X = torch.randn(200, 1)
    model = FailsAt(fail_at=7)  # a plain error, parameters fine: it is raised as it is, the model restored
    cp.fit(model, X[:20], epochs=1, batch_size=10, optimizer="sgd", lr=0.1, progress=False)
    w, running = model.w.item(), model.running.item()
    model.flags.clear()
    with pytest.raises(RuntimeError):
        cp.fit(model, X, epochs=1, batch_size=10, optimizer="sgd", lr=0.1, progress=False)
    assert (model.w.item(), model.running.item()) == (w, running)
    model = FailsAt(blow_up_at=2, fail_at=4)  # w went to infinity on batch 2, unmeasured; batch 4 fails
    with pytest.raises(TrainingDiverged, match="parameter 'w'") as caught:
        cp.fit(model, X, epochs=1, batch_size=10, optimizer="sgd", lr=0.1, progress=False)
    assert isinstance(caught.value.__cause__, RuntimeError) and model.w.item() == 0.0


def test_a_model_that_samples_gets_fit_s_generator_and_the_global_one_is_left_alone():
    from companion.models import BernoulliRBM

    X = torch.bernoulli(torch.full((200, 12), 0.3), generator=torch.Generator().manual_seed(0))
    runs = []
    for _ in range(2):
        torch.manual_seed(123)
        rbm = BernoulliRBM(12, 5, persistent=True)
        before = torch.get_rng_state()
        fit(rbm, X, epochs=2, batch_size=20, optimizer="sgd", lr=0.1, seed=7, progress=False, device="cpu")
        assert torch.equal(torch.get_rng_state(), before)  # the caller's generator did not move
        runs.append(rbm.W.detach().clone())
    assert torch.equal(*runs)  # and the same seed gives the same model
