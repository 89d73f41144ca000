"""AutoRec: the masked objective by hand, its zero gradient at unrated entries, clipping and the errors."""

import math

import numpy as np
import pytest
import torch

import companion as cp
from companion.data import RatingMatrix
from companion.models import AutoRec
from companion.models.autorec import masked_squared_error
from companion.recommend import cross_validate, precision_at_k, top_n

R = torch.tensor([[5.0, 0.0, 1.0, 4.0], [0.0, 2.0, 0.0, 5.0], [3.0, 0.0, 4.0, 0.0]])  # 3 users x 4 items


def two_tastes(n_users=60, n_items=40, seed=0):
    g = torch.Generator().manual_seed(seed)
    likes = (torch.arange(n_items)[None, :] < n_items // 2) ^ (torch.arange(n_users)[:, None] % 2).bool()
    full = torch.where(likes, 5.0, 1.0)
    observed = torch.rand(n_users, n_items, generator=g) < 0.5
    held = (torch.rand(n_users, n_items, generator=g) < 0.3) & observed
    return full * (observed & ~held), full * held


@pytest.mark.parametrize("item_based", [True, False])
def test_objective_by_hand_and_no_gradient_at_unrated_entries(item_based):
    torch.manual_seed(0)
    model = AutoRec(3, 4, 5, item_based=item_based, reg=0.7).double()
    cases = (R.t() if item_based else R).double()
    out = model(cases)
    V, W = model.encoder.weight, model.decoder.weight
    by_hand = torch.stack([W @ torch.sigmoid(V @ r + model.encoder.bias) + model.decoder.bias for r in cases])
    torch.testing.assert_close(out, by_hand)
    loss, metrics = model.loss((cases,))
    observed = cases > 0
    data = sum(((cases[i] - out[i])[observed[i]] ** 2).sum() for i in range(len(cases)))
    penalty = (V**2).sum() + (W**2).sum()
    torch.testing.assert_close(loss, data / len(cases) + 0.7 / (2 * len(cases)) * penalty)
    # a mini-batch of two cases: the data term is its mean, the penalty still divided by all the cases
    part, _ = model.loss((cases[:2],))
    data_2 = sum(((cases[i] - out[i])[observed[i]] ** 2).sum() for i in range(2))
    torch.testing.assert_close(part, data_2 / 2 + 0.7 / (2 * len(cases)) * penalty)
    assert math.isclose(float(metrics["mse"]), float(data.detach() / observed.sum()), rel_tol=1e-9)
    # the masked error: its gradient with respect to the reconstruction vanishes wherever nothing was rated
    recon = out.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(masked_squared_error(recon, cases).sum(), recon)
    assert torch.count_nonzero(grad[~observed]) == 0 and torch.count_nonzero(grad[observed]) == observed.sum()


def test_unrated_entries_do_not_move_the_decoder():
    """A user nobody's item vector rates (I-AutoRec) gets no data gradient on their output unit."""
    torch.manual_seed(0)
    model = AutoRec(3, 4, 5, reg=0.0)
    ratings = R.clone()
    ratings[1] = 0  # user 1 rated nothing
    loss, _ = model.loss((ratings.t(),))
    loss.backward()
    assert model.decoder.bias.grad[1] == 0 and torch.count_nonzero(model.decoder.weight.grad[1]) == 0
    assert torch.count_nonzero(model.decoder.bias.grad[[0, 2]]) == 2


@pytest.mark.parametrize("item_based", [True, False])
def test_autorec_learns_two_tastes_and_predicts_on_the_rating_scale(item_based, tmp_path):
    train, test = two_tastes()
    cp.seed_everything(0)
    model = AutoRec(60, 40, 16, item_based=item_based, reg=0.1)
    history = model.fit(train, validation=test, epochs=150, lr=1e-2, batch_size=8, progress=False, seed=0)
    pred = model.predict(train)
    assert pred.shape == (60, 40) and pred.min() >= 1 and pred.max() <= 5, "clipped to the rating scale"
    mask = test > 0
    rmse = ((pred - test)[mask] ** 2).mean().sqrt()
    assert rmse < 0.5, rmse  # the mean rating of every row and column is 3: an error near 2
    assert math.isclose(history["val_mse"][-1], float(rmse**2), rel_tol=1e-4)
    cp.save(model, tmp_path / "autorec.pt")
    torch.testing.assert_close(cp.load(tmp_path / "autorec.pt").predict(train), pred)


def test_autorec_works_with_the_recommender_tools():
    train, test = two_tastes()
    users, items = np.arange(60), np.arange(40)
    R_train, R_test = RatingMatrix(train, users, items), RatingMatrix(test, users, items)
    model = AutoRec(60, 40, 8, reg=0.1)
    model.fit(R_train, validation=R_test, epochs=60, lr=1e-2, batch_size=8, progress=False, seed=0)
    scores = model.predict(R_train)
    top = top_n(scores, R_train, n=3)
    assert top.shape == (60, 3) and not R_train.mask.gather(1, top).any(), "a seen item is never recommended"
    assert 0 <= precision_at_k(scores, R_train, R_test, k=3) <= 1

    def frame(M):
        rows, cols = M.nonzero(as_tuple=True)
        import pandas as pd

        return pd.DataFrame({"user_id": rows.numpy(), "item_id": cols.numpy(), "rating": M[rows, cols].long().numpy(),
                             "timestamp": 0})

    def make(R_tr, R_te):
        m = AutoRec(60, 40, 8, reg=0.1)
        m.fit(R_tr, epochs=30, lr=1e-2, batch_size=8, progress=False, seed=0)
        return m.predict

    table = cross_validate(make, [(frame(train), frame(test))], users=users, items=items)
    assert list(table["fold"]) == [1] and table["rmse"].iloc[0] < 2


@pytest.mark.parametrize("bad, match", [
    (torch.tensor([[6.0, 0, 0, 0]] * 3), "integers 0..5"),
    (torch.tensor([[2.5, 0, 0, 0]] * 3), "integers 0..5"),
    (torch.tensor([[float("nan"), 0, 0, 0]] * 3), "NaN"),
    (torch.zeros(2, 4), r"shape \(3, 4\), one row per user"),
    (torch.zeros(3, 5), "shape"),
])
def test_bad_ratings_get_clear_errors(bad, match):
    with pytest.raises(ValueError, match=match):
        AutoRec(3, 4, 2).fit(bad, epochs=1, progress=False)


def test_predict_before_fit_and_misaligned_validation_are_refused():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError, match="AutoRec is not fitted yet"):
        AutoRec(3, 4, 2).predict(R)
    train = RatingMatrix(R, np.arange(3), np.arange(4))
    test = RatingMatrix(R, np.arange(3), np.array([0, 1, 2, 9]))
    with pytest.raises(ValueError, match="do not line up"):
        AutoRec(3, 4, 2).fit(train, validation=test, epochs=1, progress=False)
    with pytest.raises(ValueError, match="reg"):
        AutoRec(3, 4, 2, reg=-1.0)


def test_validation_error_is_a_mean_over_ratings_whatever_the_batches():
    """evaluate weighs each batch by the ratings it scores, so batches of sparse and dense items agree."""
    from companion.train import evaluate

    train, test = two_tastes()
    test[:, :30] = 0  # the first 30 items have no test rating: batches of them score nothing
    model = AutoRec(60, 40, 8, reg=0.1)
    model.fit(train, epochs=5, lr=1e-2, batch_size=8, progress=False, seed=0)
    pred = model.predict(train)
    mask = test > 0
    expected = float(((pred - test)[mask] ** 2).mean())
    for batch_size in (3, 7, 40):
        got = evaluate(model, (train.t().contiguous(), test.t().contiguous()), batch_size=batch_size)["mse"]
        assert math.isclose(got, expected, rel_tol=1e-5), (batch_size, got, expected)
