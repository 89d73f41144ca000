"""The user x item rating matrix: alignment, round trip and clear errors."""

import pandas as pd
import pytest
import torch

from companion.data import RatingMatrix, fold_matrices, rating_matrix


def frame(rows):
    return pd.DataFrame(rows, columns=["user_id", "item_id", "rating"])


def test_matrix_holds_each_rating_at_its_row_and_column():
    R = rating_matrix(frame([(7, 30, 4), (2, 10, 5), (7, 10, 1)]))
    assert R.shape == (2, 2)
    assert list(R.user_ids) == [2, 7] and list(R.item_ids) == [10, 30]
    assert torch.equal(R.values, torch.tensor([[5.0, 0.0], [1.0, 4.0]]))
    assert torch.equal(R.mask, torch.tensor([[True, False], [True, True]]))
    assert R.n_ratings == 3 and R.density == 0.75


def test_explicit_ids_fix_the_order_and_round_trip_to_a_frame():
    f = frame([(1, 2, 3), (3, 1, 5)])
    R = rating_matrix(f, users=[3, 2, 1], items=[1, 2, 9])
    assert R.values[0, 0] == 5 and R.values[2, 1] == 3 and R.values[1].sum() == 0
    back = R.to_frame().sort_values(["user_id", "item_id"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(back, f.astype("int64"))


def test_fold_matrices_line_up_train_and_test():
    train = frame([(1, 1, 4), (2, 2, 3)])
    test = frame([(1, 3, 5)])  # item 3 appears only in the test set
    R_train, R_test = fold_matrices(train, test)
    assert R_train.shape == R_test.shape == (2, 3)
    assert R_test.values[0, 2] == 5 and R_train.values[:, 2].sum() == 0
    rows, cols, ratings = R_train.entries()
    assert rows.tolist() == [0, 1] and cols.tolist() == [0, 1] and ratings.tolist() == [4.0, 3.0]


def test_repr_names_the_size():
    R = rating_matrix(frame([(1, 1, 4)]))
    assert "1 users x 1 items, 1 ratings" in repr(R) and isinstance(R, RatingMatrix)


@pytest.mark.parametrize("rows, kwargs, match", [
    ([(1, 1, 0)], {}, "positive"),
    ([(1, 1, -2)], {}, "positive"),
    ([(1, 1, float("nan"))], {}, "positive"),
    ([(1, 1, 3), (1, 1, 4)], {}, "more than once"),
    ([(5, 1, 3)], {"users": [1, 2]}, "user id"),
    ([(1, 9, 3)], {"items": [1, 2]}, "item id"),
    ([(1, 1, 3)], {"users": [1, 1]}, "repeated"),
])
def test_bad_tables_get_clear_errors(rows, kwargs, match):
    with pytest.raises(ValueError, match=match):
        rating_matrix(frame(rows), **kwargs)


def test_ids_must_be_integers():
    with pytest.raises(ValueError, match="integers"):
        rating_matrix(pd.DataFrame({"user_id": [1.5], "item_id": [1], "rating": [3]}))


def test_missing_column_is_named():
    with pytest.raises(ValueError, match=r"\['rating'\]"):
        rating_matrix(pd.DataFrame({"user_id": [1], "item_id": [1]}))
