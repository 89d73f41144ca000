"""Recommender metrics against cases computed by hand."""

import math

import numpy as np
import pandas as pd
import pytest
import torch

from companion.data import RatingMatrix
from companion.recommend import cross_validate, like_accuracy, mae, precision_at_k, rmse, score, summarize, top_n


def matrix(values):
    values = torch.tensor(values, dtype=torch.float32)
    return RatingMatrix(values, np.arange(values.shape[0]), np.arange(values.shape[1]))


def test_rmse_and_mae_by_hand():
    pred = torch.tensor([[3.0, 4.0], [2.0, 5.0]])
    test = matrix([[4, 0], [0, 1]])  # errors -1 and +4 on the two rated entries
    assert math.isclose(rmse(pred, test), math.sqrt((1 + 16) / 2))
    assert math.isclose(mae(pred, test), 2.5)


def test_like_accuracy_rounds_predicted_ratings_and_cuts_probabilities():
    test = matrix([[4, 2, 3]])
    assert like_accuracy(torch.tensor([[2.6, 2.4, 2.4]]), test) == pytest.approx(2 / 3)
    assert like_accuracy(torch.tensor([[0.9, 0.2, 0.6]]), test, cut=0.5) == 1.0


def test_top_n_skips_what_the_user_already_rated():
    scores = torch.tensor([[5.0, 4.0, 3.0, 2.0]])
    seen = matrix([[1, 0, 0, 0]])
    assert top_n(scores, seen, 2).tolist() == [[1, 2]]


def test_precision_at_k_by_hand():
    scores = torch.tensor([[4.0, 3.0, 2.0, 1.0], [1.0, 2.0, 3.0, 4.0], [1.0, 1.0, 1.0, 1.0]])
    train = matrix([[5, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]])
    # user 0: top-2 of items 1..3 is [1, 2]; relevant in test: item 2 -> 1/2
    # user 1: top-2 is [3, 2]; relevant: items 3 and 2 -> 2/2; user 2 has no relevant item: left out
    test = matrix([[0, 3, 4, 0], [0, 0, 5, 4], [2, 0, 0, 0]])
    assert precision_at_k(scores, train, test, k=2) == pytest.approx((0.5 + 1.0) / 2)


def test_score_and_cross_validate_give_one_row_per_fold():
    train = pd.DataFrame({"user_id": [1, 1, 2, 2], "item_id": [1, 2, 1, 3], "rating": [5, 3, 4, 2]})
    test = pd.DataFrame({"user_id": [1, 2], "item_id": [3, 2], "rating": [4, 5]})
    table = cross_validate(lambda R, _: (lambda R: torch.full(R.shape, 4.0)), [(train, test), (train, test)], k=1)
    assert list(table["fold"]) == [1, 2]
    assert table["rmse"].iloc[0] == pytest.approx(math.sqrt((0 + 1) / 2))
    summary = summarize({"constant": table})
    assert summary.loc["constant", "rmse"].startswith("0.7071 ± 0.0000")
    assert score(torch.full((2, 3), 0.9), *[matrix([[1, 0, 0], [0, 0, 0]]), matrix([[0, 4, 0], [0, 0, 2]])],
                 ratings=False, k=1)["like_acc"] == 0.5


@pytest.mark.parametrize("pred, match", [
    (torch.zeros(3, 2), "shape"),
    (torch.tensor([[float("nan"), 0.0], [0.0, 0.0]]), "NaN"),
])
def test_bad_predictions_get_clear_errors(pred, match):
    with pytest.raises(ValueError, match=match):
        rmse(pred, matrix([[4, 0], [0, 0]]))


def test_an_empty_test_matrix_is_an_error():
    with pytest.raises(ValueError, match="no ratings"):
        rmse(torch.zeros(1, 2), matrix([[0, 0]]))


def test_candidates_restrict_the_lists():
    scores = torch.tensor([[5.0, 4.0, 3.0, 2.0]])
    seen = matrix([[0, 0, 0, 0]])
    assert top_n(scores, seen, 2, candidates=torch.tensor([False, True, False, True])).tolist() == [[1, 3]]
    test = matrix([[5, 0, 0, 4]])
    assert precision_at_k(scores, seen, test, k=1) == 1.0
    assert precision_at_k(scores, seen, test, k=1, candidates=torch.tensor([False, True, True, True])) == 0.0
    with pytest.raises(ValueError, match="only 1 candidate"):
        top_n(scores, seen, 2, candidates=torch.tensor([True, False, False, False]))


def test_cross_validate_numbers_a_subset_of_folds():
    train = pd.DataFrame({"user_id": [1, 2], "item_id": [1, 2], "rating": [5, 4]})
    test = pd.DataFrame({"user_id": [1, 2], "item_id": [2, 1], "rating": [4, 5]})
    table = cross_validate(lambda R, _: (lambda R: torch.full(R.shape, 4.0)), [(train, test)], k=1, first_fold=3)
    assert list(table["fold"]) == [3]


def test_ties_are_broken_at_random_not_by_item_id():
    scores = torch.zeros(1, 50)
    seen = matrix([[0] * 50])
    picks = top_n(scores, seen, 10)
    assert picks.tolist() != [list(range(10))]
    assert torch.equal(picks, top_n(scores, seen, 10))  # fixed by the seed
    assert not torch.equal(picks, top_n(scores, seen, 10, seed=1))


def test_short_lists_are_padded_and_count_as_misses():
    scores = torch.tensor([[3.0, 2.0, 1.0]])
    seen = matrix([[1, 1, 0]])
    assert top_n(scores, seen, 2).tolist() == [[2, -1]]
    test = matrix([[0, 0, 5]])
    assert precision_at_k(scores, seen, test, k=2) == 0.5


def test_misaligned_matrices_are_refused():
    train = matrix([[1, 0]])
    test = RatingMatrix(torch.tensor([[0.0, 4.0]]), np.arange(1), np.array([5, 6]))
    with pytest.raises(ValueError, match="do not line up"):
        precision_at_k(torch.zeros(1, 2), train, test, k=1)
