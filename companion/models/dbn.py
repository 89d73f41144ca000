"""Deep belief networks: a stack of RBMs, greedy pretraining and up-down fine-tuning.

A DBN with layers :math:`x_0 = v, x_1, \\dots, x_L` is a directed sigmoid
belief net below an undirected top RBM (Hinton, Osindero & Teh 2006):

.. math:: p(v, x_1, \\dots, x_L) = \\Big[\\prod_{l=0}^{L-2} p(x_l \\mid x_{l+1})\\Big]\\,
          p_{\\text{top}}(x_{L-1}, x_L),
          \\qquad p(x_{l,i} = 1 \\mid x_{l+1}) = \\sigma(b_{l,i} + (G_l x_{l+1})_i).

Each layer also has recognition weights :math:`R_l` for the approximate
posterior :math:`Q(x_{l+1,j} = 1 \\mid x_l) = \\sigma(c_{l,j} + (x_l^\\top R_l)_j)`.
After greedy pretraining both are copies of the layer's RBM weights
(:math:`G_l = R_l = W_l`, "tied"); :meth:`DBN.up_down` unties them. With
``n_labels`` the top RBM also sees a one-of-K label group, so the network can
classify (by the top RBM's free energy) and generate a chosen class.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..checks import as_data, check_batch
from ..likelihood import binary_states, check_enumerable
from ..train import History, fit
from ..utils import ConstructorConfig, batched_apply
from .autoencoders import DeepAutoencoder
from .classifier import Classifier, check_labels, one_hot
from .rbm import BernoulliRBM, GaussianHiddenRBM, bernoulli
from .updown import UpDown


class LabelledRBM(BernoulliRBM):
    """The top RBM of a labelled DBN: binary features plus a softmax label group on the visible side.

    The visible vector is ``[x, y]`` with ``x`` (n_features binary units) and
    ``y`` a one-of-K group; the energy is the Bernoulli RBM's, but ``y`` is
    sampled from :math:`p(y = k \\mid h) \\propto e^{b_{y,k} + (W_y h)_k}` rather
    than unit by unit. With the label unknown, summing it out of
    :math:`e^{-F([x, e_k])}` gives :math:`p(y \\mid x)` exactly (:meth:`label_logits`).
    """

    visible_type = "bernoulli+softmax"  # keeps the binary-only estimators away

    def __init__(self, n_features: int, n_labels: int, n_hidden: int, **kwargs):
        if not isinstance(n_labels, int) or n_labels < 2:
            raise ValueError(f"n_labels must be an integer >= 2, got {n_labels!r}.")
        super().__init__(n_features + n_labels, n_hidden, **kwargs)
        self.n_features, self.n_labels = n_features, n_labels

    def p_v_given_h(self, h: torch.Tensor) -> torch.Tensor:
        """``[sigmoid(x input), softmax(label input)]``, shape (N, n_features + n_labels)."""
        a = self.visible_input(h)
        return torch.cat([torch.sigmoid(a[:, : self.n_features]), torch.softmax(a[:, self.n_features:], 1)], 1)

    def _visible_sample(self, p: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        x = bernoulli(p[:, : self.n_features], generator)
        y = torch.multinomial(p[:, self.n_features:], 1, generator=generator).squeeze(1)
        return torch.cat([x, one_hot(y, self.n_labels, p.dtype)], 1)

    def label_logits(self, x: torch.Tensor, chunk: int = 256) -> torch.Tensor:
        """:math:`\\log p(y = k \\mid x) + \\text{const} = b_{y,k} + \\sum_j \\operatorname{softplus}(c_j + (x^\\top W_x)_j + W_{y,kj})`.

        Parameters
        ----------
        x : (N, n_features)

        Returns
        -------
        (N, n_labels) logits; their softmax is the exact p(y | x) of the RBM.
        """
        Wx, Wy = self.W[: self.n_features], self.W[self.n_features:]
        by = self.b[self.n_features:]
        out = []
        for xb in torch.split(x, chunk):
            pre = torch.addmm(self.c, xb, Wx)  # (n, H)
            out.append(by + self._hidden_log_partition(pre[:, None, :] + Wy[None]).sum(2))
        return torch.cat(out)


class DBN(ConstructorConfig, nn.Module):
    """Deep belief network built from companion RBMs.

    Parameters
    ----------
    layer_sizes : sequence of int
        Widths from the visible layer to the top, e.g. ``(784, 500, 500, 2000)``:
        one RBM per consecutive pair, the last pair being the top RBM.
    n_labels : int, optional
        Number of classes; the top RBM then sees ``layer_sizes[-2] + n_labels``
        visible units (the paper's 500 + 10 -> 2000).
    k : int
        Gibbs steps of CD-k in greedy pretraining.
    weight_cost : float
        L2 weight cost of every RBM (Hinton 2012 suggests 1e-4 to 1e-3... 2e-4 here).
    top_hidden : {"bernoulli", "gaussian"}
        Linear Gaussian top units (:class:`GaussianHiddenRBM`) make the stack a
        pretrained encoder for :class:`DeepAutoencoder`'s linear code.
    init_std : float
        Initial weight scale of every RBM.

    Attributes
    ----------
    rbms : nn.ModuleList
        The RBMs of greedy pretraining, bottom to top.
    rec_W, rec_c, gen_W, gen_b : nn.ParameterList
        Recognition (``rec_W[l]``: n_l x n_{l+1}) and generative (``gen_W[l]``,
        same shape, used transposed) weights of the directed layers below the
        top RBM, with their biases.
    """

    def __init__(self, layer_sizes: Sequence[int], n_labels: int | None = None, *, k: int = 1,
                 weight_cost: float = 2e-4, top_hidden: str = "bernoulli", init_std: float = 0.01):
        super().__init__()
        try:
            sizes = [int(s) for s in layer_sizes]
        except (TypeError, ValueError):
            raise ValueError(f"layer_sizes must be a sequence of positive integers, got {layer_sizes!r}.") from None
        if len(sizes) < 2 or any(s < 1 for s in sizes) or any(s != t for s, t in zip(sizes, layer_sizes)):
            raise ValueError(f"layer_sizes={list(layer_sizes)}: need at least two positive integer widths "
                             "(visible, hidden, ...).")
        if n_labels is not None and (not isinstance(n_labels, int) or n_labels < 2):
            raise ValueError(f"n_labels must be None or an integer >= 2, got {n_labels!r}.")
        if top_hidden not in ("bernoulli", "gaussian"):
            raise ValueError(f"top_hidden={top_hidden!r}: use 'bernoulli' or 'gaussian'.")
        if top_hidden == "gaussian" and n_labels is not None:
            raise ValueError("a labelled DBN needs a binary top layer; use top_hidden='bernoulli'.")
        # the constructor's arguments as attributes: `config` reads them back (ConstructorConfig)
        self.layer_sizes, self.n_labels, self.k, self.weight_cost = sizes, n_labels, k, weight_cost
        self.top_hidden, self.init_std = top_hidden, init_std
        kw = dict(k=k, weight_cost=weight_cost, init_std=init_std)
        rbms: list[BernoulliRBM] = [BernoulliRBM(a, b, **kw) for a, b in zip(sizes[:-2], sizes[1:-1])]
        if n_labels is not None:
            rbms.append(LabelledRBM(sizes[-2], n_labels, sizes[-1], **kw))
        elif top_hidden == "gaussian":
            rbms.append(GaussianHiddenRBM(sizes[-2], sizes[-1], **kw))
        else:
            rbms.append(BernoulliRBM(sizes[-2], sizes[-1], **kw))
        self.rbms = nn.ModuleList(rbms)
        below = list(zip(sizes[:-2], sizes[1:-1]))
        self.rec_W = nn.ParameterList([nn.Parameter(r.W.detach().clone()) for r in rbms[:-1]])
        self.rec_c = nn.ParameterList([nn.Parameter(torch.zeros(b)) for _, b in below])
        self.gen_W = nn.ParameterList([nn.Parameter(r.W.detach().clone()) for r in rbms[:-1]])
        self.gen_b = nn.ParameterList([nn.Parameter(torch.zeros(a)) for a, _ in below])

    @property
    def top(self) -> BernoulliRBM:
        return self.rbms[-1]

    # ------------------------------------------------------------------ checks
    def check_data(self, X: torch.Tensor) -> None:
        """Shape (N, layer_sizes[0]), finite, values in [0, 1] (binary pixels or their probabilities)."""
        check_batch(X, self.layer_sizes[0], type(self).__name__, unit_interval=True, values=True)

    def _as_data(self, X) -> torch.Tensor:
        X = as_data(X, self.top.W.dtype, type(self).__name__)
        self.check_data(X)
        return X

    def _prepare(self, X, y=None):
        X = self._as_data(X)
        if y is None:
            if self.n_labels is not None:
                raise ValueError("this DBN has n_labels set; pass the labels y as well.")
            return X, None
        if self.n_labels is None:
            raise ValueError("labels were given but this DBN has n_labels=None; build DBN(..., n_labels=K).")
        return X, check_labels(y, self.n_labels, len(X))

    # ------------------------------------------------------------------ greedy pretraining
    def pretrain(self, X, y=None, *, epochs: int | Sequence[int] = 10, lr: float | Sequence[float] = 0.05,
                 batch_size: int = 100, momentum: float = 0.9, seed: int | None = None,
                 progress: bool = True, device="auto", fit_fn=None, **fit_kwargs) -> list[History]:
        """Greedy layer-wise pretraining: each RBM is fit on the hidden probabilities of the one below.

        Parameters
        ----------
        X : (N, layer_sizes[0]) values in [0, 1]
        y : (N,) integer labels, required when ``n_labels`` is set (they join the top RBM's input)
        epochs, lr : int/float or one per RBM
            The paper's recipe is SGD with momentum; ``GaussianHiddenRBM`` wants a
            learning rate about 100 times smaller.
        fit_fn : callable, optional
            Stands in for :func:`companion.fit` (same signature), e.g. a
            checkpointing wrapper such as ``companion.reproduce``'s.
        **fit_kwargs
            Passed to :func:`companion.fit` for every layer.

        Returns
        -------
        list of History, one per RBM. Afterwards the recognition and generative
        weights of every directed layer are tied copies of its RBM's.
        """
        X, y = self._prepare(X, y)
        n = len(self.rbms)
        epochs = [epochs] * n if isinstance(epochs, int) else list(epochs)
        lrs = [lr] * n if isinstance(lr, (int, float)) else list(lr)
        if len(epochs) != n or len(lrs) != n:
            raise ValueError(f"epochs and lr need one value per RBM ({n}), got {epochs} and {lrs}.")
        histories, data, fit_fn = [], X, fit_fn or fit
        for i, rbm in enumerate(self.rbms):
            if i == n - 1 and y is not None:
                data = torch.cat([data, one_hot(y, self.n_labels, data.dtype)], 1)
            if i == 0:
                rbm.init_visible_bias(data)
            histories.append(fit_fn(rbm, data, epochs=epochs[i], lr=lrs[i], batch_size=batch_size, optimizer="sgd",
                                 optimizer_kwargs={"momentum": momentum}, seed=None if seed is None else seed + i,
                                 progress=progress, device=device, **fit_kwargs))
            if i < n - 1:
                # the next RBM learns the aggregated posterior: this layer's hidden probabilities
                data = batched_apply(rbm, rbm.transform, data)
        self.to(self.top.W.device)  # fit moved only the RBMs; keep the directed weights beside them
        self.tie_weights()
        return histories

    @torch.no_grad()
    def tie_weights(self) -> "DBN":
        """Copy every directed layer's RBM into its recognition and generative weights (R = G = W)."""
        for l, rbm in enumerate(self.rbms[:-1]):
            self.rec_W[l].copy_(rbm.W)
            self.gen_W[l].copy_(rbm.W)
            self.rec_c[l].copy_(rbm.c)
            self.gen_b[l].copy_(rbm.b)
        return self

    @property
    def tied(self) -> bool:
        """True while recognition and generative weights are equal (after pretraining, before up-down)."""
        return all(torch.equal(r, g) for r, g in zip(self.rec_W, self.gen_W))

    # ------------------------------------------------------------------ passes
    def up(self, l: int, x: torch.Tensor) -> torch.Tensor:
        """:math:`Q(x_{l+1} = 1 \\mid x_l) = \\sigma(c_l + x_l R_l)`: (N, n_l) -> (N, n_{l+1})."""
        return torch.sigmoid(torch.addmm(self.rec_c[l], x, self.rec_W[l]))

    def down(self, l: int, x: torch.Tensor) -> torch.Tensor:
        """:math:`p(x_l = 1 \\mid x_{l+1}) = \\sigma(b_l + G_l x_{l+1})`: (N, n_{l+1}) -> (N, n_l)."""
        return torch.sigmoid(torch.addmm(self.gen_b[l], x, self.gen_W[l].t()))

    @torch.no_grad()
    def transform(self, X) -> torch.Tensor:
        """Deterministic up pass to the top RBM's visible layer, then its hidden probabilities.

        Returns (N, layer_sizes[-1]) features on the CPU (the label, if any, is left out).
        """
        return batched_apply(self, lambda x: self._features(x, top=True), self._as_data(X))

    def _features(self, x: torch.Tensor, top: bool = False) -> torch.Tensor:
        for l in range(len(self.rec_W)):
            x = self.up(l, x)
        if not top:
            return x
        W = self.top.W[: x.shape[1]]
        return self.top._hidden_mean(torch.addmm(self.top.c, x, W))

    # ------------------------------------------------------------------ labels
    @torch.no_grad()
    def predict_proba(self, X) -> torch.Tensor:
        """:math:`p(y \\mid x_{L-1})` of the top RBM after a deterministic up pass: (N, n_labels), CPU."""
        self._need_labels()
        logits = lambda x: self.top.label_logits(self._features(x))  # noqa: E731
        return batched_apply(self, lambda x: torch.softmax(logits(x), 1), self._as_data(X))

    def predict(self, X) -> torch.Tensor:
        """The label of lowest top-level free energy for each row: (N,)."""
        return self.predict_proba(X).argmax(1)

    def error_rate(self, X, y) -> float:
        """Fraction of rows of X whose predicted label differs from y."""
        self._need_labels()
        return (self.predict(X) != check_labels(y, self.n_labels, len(X))).float().mean().item()

    def _need_labels(self):
        if self.n_labels is None:
            raise ValueError("this DBN has no label units (n_labels=None); use to_classifier(n_classes=...).")

    @torch.no_grad()
    def generate(self, labels=None, n: int | None = None, steps: int = 1000,
                 generator: torch.Generator | None = None, mean_field: bool = True) -> torch.Tensor:
        """Samples from the generative model: Gibbs in the top RBM, then one down pass.

        Parameters
        ----------
        labels : (n,) integers, optional
            Clamped on the top RBM's label units for the whole chain (class-conditional
            "dreams"); needs ``n_labels``. Without labels give ``n``.
        steps : int
            Alternating Gibbs steps in the top RBM.
        mean_field : bool
            Return the bottom layer's probabilities (smooth images) instead of binary samples.

        Returns
        -------
        (n, layer_sizes[0]) tensor on the model's device.
        """
        top, dev, dt = self.top, self.top.W.device, self.top.W.dtype
        nf = self.layer_sizes[-2]
        if labels is not None:
            self._need_labels()
            y = one_hot(check_labels(labels, self.n_labels).to(dev), self.n_labels, dt)
            n = len(y)
        elif n is None or self.n_labels is not None:
            raise ValueError("give labels (for a labelled DBN) or n (the number of samples).")
        x = bernoulli(torch.full((n, nf), 0.5, device=dev, dtype=dt), generator)
        Wx, bx = top.W[:nf], top.b[:nf]
        extra = top.c if labels is None else torch.addmm(top.c, y, top.W[nf:])
        for _ in range(steps):
            h = top._hidden_sample(top._hidden_mean(torch.addmm(extra, x, Wx)), generator)
            x = bernoulli(torch.sigmoid(torch.addmm(bx, h, Wx.t())), generator)
        for l in reversed(range(len(self.gen_W))):
            p = self.down(l, x)
            x = p if (l == 0 and mean_field) else bernoulli(p, generator)
        return x

    # ------------------------------------------------------------------ up-down fine-tuning
    def up_down(self, X, y=None, *, epochs: int = 10, lr: float = 0.01, batch_size: int = 100,
                top_k: int = 3, momentum: float = 0.0, seed: int | None = None, progress: bool = True,
                device="auto", fit_fn=None, **fit_kwargs) -> History:
        """Contrastive wake-sleep fine-tuning (Hinton, Osindero & Teh 2006, appendix B).

        For each batch: a stochastic *up* pass with the recognition weights; the
        top RBM's update by CD-``top_k`` started from that pass; a *down* pass
        from the top RBM's negative sample with the generative weights. The
        generative weights learn to reconstruct each layer of the up pass from
        the one above (wake), the recognition weights to recover each layer of
        the down pass from the one below (sleep):

        .. math:: \\Delta G_l \\propto (x_l - \\sigma(b_l + G_l x_{l+1}))\\, x_{l+1}^\\top, \\qquad
                  \\Delta R_l \\propto \\tilde x_l\\, (\\tilde x_{l+1} - \\sigma(c_l + \\tilde x_l^\\top R_l))^\\top .

        Afterwards ``tied`` is False; the RBMs in ``rbms`` keep their pretrained
        weights (used by :meth:`to_autoencoder`). Metrics: ``recon`` (squared
        error per example of the bottom layer predicted from the up pass) and
        ``sleep_error`` (the same for the top hidden layer recovered from the fantasy).
        ``fit_fn`` stands in for :func:`companion.fit`, as in :meth:`pretrain`.
        """
        X, y = self._prepare(X, y)
        if not isinstance(top_k, int) or top_k < 1:
            raise ValueError(f"top_k must be a positive integer, got {top_k!r}.")
        data = X if y is None else (X, y)
        return (fit_fn or fit)(UpDown(self, top_k), data, epochs=epochs, lr=lr, batch_size=batch_size, optimizer="sgd",
                   optimizer_kwargs={"momentum": momentum}, seed=seed, progress=progress, device=device,
                   **fit_kwargs)

    # ------------------------------------------------------------------ exports
    def to_classifier(self, n_classes: int | None = None, pretrained: bool = True, dropout: float = 0.0,
                      input_dropout: float = 0.0) -> Classifier:
        """A feed-forward net ``n_0 -> ... -> n_L -> classes`` for backprop fine-tuning with ``fit``.

        With ``pretrained`` its hidden layers start from the recognition weights
        and the top RBM's feature weights; with label units the output layer
        starts from the top RBM's label weights (their softmax is p(y | top) of
        the RBM). ``pretrained=False`` gives the same architecture from a random
        start (the ablation). ``dropout`` and ``input_dropout`` add dropout
        layers for fine-tuning (:meth:`Classifier.mlp`). The returned module is
        independent of the DBN.
        """
        n_classes = n_classes or self.n_labels
        if n_classes is None:
            raise ValueError("this DBN has no label units: pass n_classes.")
        if self.top_hidden != "bernoulli":
            raise ValueError("to_classifier needs logistic hidden units (top_hidden='bernoulli').")
        net = Classifier.mlp(self.layer_sizes, n_classes, "sigmoid", dropout, input_dropout).to(self.top.W.device, self.top.W.dtype)
        if not pretrained:
            return net
        linears = [m for m in net if isinstance(m, nn.Linear)]
        nf = self.layer_sizes[-2]
        with torch.no_grad():
            for l in range(len(self.rec_W)):
                linears[l].weight.copy_(self.rec_W[l].t())
                linears[l].bias.copy_(self.rec_c[l])
            linears[-2].weight.copy_(self.top.W[:nf].t())
            linears[-2].bias.copy_(self.top.c)
            if self.n_labels == n_classes:
                linears[-1].weight.copy_(self.top.W[nf:])
                linears[-1].bias.copy_(self.top.b[nf:])
        return net

    def to_autoencoder(self, **kwargs) -> DeepAutoencoder:
        """Unroll the pretrained RBMs into an encoder and a mirrored decoder (Hinton & Salakhutdinov 2006).

        The code is linear when ``top_hidden="gaussian"`` (the paper's choice),
        logistic otherwise; ``kwargs`` go to :class:`DeepAutoencoder`.
        """
        if self.n_labels is not None:
            raise ValueError("to_autoencoder needs an unlabelled DBN (n_labels=None).")
        code = "linear" if self.top_hidden == "gaussian" else "sigmoid"
        kwargs.setdefault("code_activation", code)
        ae = DeepAutoencoder(self.layer_sizes, **kwargs).to(self.top.W.device, self.top.W.dtype)
        return ae.load_rbm_stack([(r.W.detach(), r.b.detach(), r.c.detach()) for r in self.rbms])

    # ------------------------------------------------------------------ the variational bound
    @torch.no_grad()
    def variational_bound(self, v: torch.Tensor, log_z_top: float | None = None) -> torch.Tensor:
        """Exact variational lower bound on :math:`\\log p(v)` in nats, for tiny unlabelled DBNs: (N,).

        Recursively, with :math:`Q` the recognition distribution of each layer,

        .. math:: \\log p(x_l) \\ge \\sum_{x_{l+1}} Q(x_{l+1} \\mid x_l)
                  \\big[\\log p(x_l \\mid x_{l+1}) + B(x_{l+1}) - \\log Q(x_{l+1} \\mid x_l)\\big],

        ending with :math:`B(x_{L-1}) = -F_{\\text{top}}(x_{L-1}) - \\log Z_{\\text{top}}`.
        Every directed hidden layer is enumerated (:func:`companion.likelihood.check_enumerable`) and
        ``log_z_top`` is computed exactly when not given. For a single RBM it
        is the exact log-likelihood; with tied weights and a second RBM
        initialised as the transpose of the first, it equals the first RBM's
        log-likelihood, and training the second RBM raises it (Hinton et al. 2006).
        """
        if self.n_labels is not None or self.top_hidden != "bernoulli":
            raise ValueError("variational_bound is for unlabelled DBNs with binary units.")
        for n in self.layer_sizes[1:-1]:
            check_enumerable(n, f"the bound over a hidden layer of {n} units", "The bound is for tiny models")
        v = torch.as_tensor(v).to(self.top.W.dtype)
        self.check_data(v)
        log_z = self.top.log_partition() if log_z_top is None else log_z_top
        return self._bound(0, v, log_z)

    def _bound(self, l: int, x: torch.Tensor, log_z: float) -> torch.Tensor:
        if l == len(self.rec_W):
            return -self.top.free_energy(x) - log_z
        n = self.layer_sizes[l + 1]
        states = binary_states(n, device=x.device, dtype=x.dtype)
        pre_q = torch.addmm(self.rec_c[l], x, self.rec_W[l])  # (N, n)
        log_q = states @ F.logsigmoid(pre_q).t() + (1 - states) @ F.logsigmoid(-pre_q).t()  # (S, N)
        pre_p = torch.addmm(self.gen_b[l], states, self.gen_W[l].t())  # (S, n_l)
        log_p = pre_p @ x.t() - F.softplus(pre_p).sum(1, keepdim=True)  # log p(x | state): (S, N)
        above = self._bound(l + 1, states, log_z)[:, None]  # (S, 1), shared by every row
        return (log_q.exp() * (log_p + above - log_q)).sum(0)
