import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from companion import viz  # noqa: E402
from companion.train import History  # noqa: E402


def test_figures_have_titles_and_labels():
    X = torch.rand(12, 784)
    fig = viz.image_grid(X, nrow=6, title="grid", labels=list(range(12)))
    assert fig._suptitle.get_text() == "grid"
    fig = viz.reconstructions(X[:5], [X[:5], X[:5]], n=5, row_labels=["a", "b", "c"], title="rec")
    assert len(fig.axes) == 15 and fig.axes[0].get_ylabel() == "a"
    h = History()
    h.append({"loss": 1.0, "val_loss": 2.0})
    h.append({"loss": 0.5, "val_loss": 1.5})
    ax = viz.history(h, title="curves").axes[0]
    assert ax.get_title() == "curves" and ax.get_xlabel() == "epoch" and ax.get_ylabel() == "loss"
    assert len(ax.get_lines()) == 2
    for dims in (2, 3):
        ax = viz.latent_scatter(torch.randn(30, dims), torch.randint(0, 10, (30,)), title="z").axes[0]
        assert ax.get_title() == "z" and ax.get_xlabel() == "$z_1$"
    plt.close("all")


def test_image_shapes():
    viz.image_grid(torch.rand(3, 1, 8, 8))
    viz.image_grid(torch.rand(3, 64))
    with pytest.raises(ValueError, match="pass shape="):
        viz.image_grid(torch.rand(3, 10))
    with pytest.raises(ValueError, match=r"codes of shape \(n, 2\) or \(n, 3\)"):
        viz.latent_scatter(torch.rand(5, 4))
    plt.close("all")
