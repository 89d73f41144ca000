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


def _saved_width_px(fig) -> int:
    """Width of the PNG the notebook's inline backend saves (100 dpi, tight bounding box)."""
    import io

    from PIL import Image

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    buf.seek(0)
    return Image.open(buf).size[0]


def test_figures_fit_the_books_column_with_readable_text():
    X = torch.rand(50, 784)
    h = History()
    for v in (1.0, 0.5, 0.25):
        h.append({"loss": v, "val_loss": v + 0.1})
    figures = [
        viz.image_grid(X, nrow=10, title="fifty digits in rows of ten", labels=list(range(50))),
        viz.image_grid(X[:20], nrow=20, title="twenty digits in one row"),
        viz.reconstructions(X[:10], [X[:10]] * 3, n=10, row_labels=["original", "epoch 1", "epoch 5", "epoch 50"],
                            title="reconstructions as training proceeds"),
        viz.history(h, title="training curves"),
        viz.latent_scatter(torch.randn(30, 2), torch.randint(0, 10, (30,)), title="codes"),
    ]
    for fig in figures:
        assert fig.get_size_inches()[0] <= viz.MAX_WIDTH
        assert _saved_width_px(fig) <= 700
        sizes = [t.get_fontsize() for t in fig.findobj(matplotlib.text.Text) if t.get_text()]
        assert min(sizes) >= 7  # 7 pt is 9.7 px at 100 dpi
    plt.close("all")
