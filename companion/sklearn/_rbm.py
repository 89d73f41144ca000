"""A drop-in replacement for :class:`sklearn.neural_network.BernoulliRBM`, on torch.

Same constructor parameters (``n_components``, ``learning_rate``,
``batch_size``, ``n_iter``, ``verbose``, ``random_state``) plus ``device``,
same methods (``fit``, ``partial_fit``, ``transform``, ``fit_transform``,
``score_samples``, ``gibbs``) and the same fitted attributes
(``components_``, ``intercept_hidden_``, ``intercept_visible_``,
``h_samples_``, ``n_features_in_``). Training is persistent contrastive
divergence with one Gibbs step per update and plain SGD, as in scikit-learn,
driven by :func:`companion.fit` on :class:`companion.models.BernoulliRBM`.

Three deliberate differences:

- ``score_samples`` is the exact pseudo-log-likelihood (every visible unit
  flipped in turn), so it is deterministic; scikit-learn flips one random unit
  per row and scales by n_features, an unbiased but random estimate of the
  same sum, which is why its own estimator fails two of ``check_estimator``'s
  invariance checks.
- like scikit-learn's, it accepts any finite X; values outside [0, 1] are
  not a Bernoulli likelihood any more, and
  :class:`companion.models.BernoulliRBM` itself refuses them;
- random numbers come from torch, seeded by ``random_state``, so results
  differ from scikit-learn's bit for bit (not in distribution).
"""

from __future__ import annotations

import numbers
import time

import numpy as np
import torch
from scipy import sparse
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from ..checks import number
from ..config import get_device
from ..models.rbm import BernoulliRBM as _TorchRBM
from ..train import fit as _fit

_DTYPES = {np.dtype(np.float32): torch.float32, np.dtype(np.float64): torch.float64}


class _LenientRBM(_TorchRBM):
    """The torch RBM without the [0, 1] check: scikit-learn's estimator accepts any real X.

    The equations still run on such data (they are no longer a Bernoulli
    likelihood); the shape and finiteness were checked by ``validate_data``.
    """

    def check_batch(self, v, values=None):
        pass

    # one random stream whatever the dtype: float32 uniforms, compared in the model's dtype, so that
    # float32 and float64 fits of the same data and seed agree to float32 rounding (as scikit-learn's do)
    def _hidden_sample(self, mean, generator=None):
        return _sample32(mean, generator)

    def _visible_sample(self, p, generator=None):
        return _sample32(p, generator)

    def _negative_hidden(self, p_h):
        # p(h | chains) at the last update, under the parameters before it: the next update's chains go on from it
        self.chain_hidden = p_h

    def negative_chain(self, v0, h0=None, generator=None):
        """scikit-learn's PCD-1: each chain goes on from a hidden sample drawn from ``p(h | v)`` as computed
        for the last update's gradient, which saves a matrix product per update over a sweep from the
        visible chains (whose hidden units the update has not seen yet)."""
        p = getattr(self, "chain_hidden", None)
        if p is None or p.shape != (len(self.chains), self.n_hidden) or p.dtype != v0.dtype or p.device != v0.device:
            return super().negative_chain(v0, h0, generator)  # the first update: from the random chains
        self.chains, _ = self._gibbs_step(self.chains, generator, self._hidden_sample(p, generator))
        return self.chains, None

    def _chain_start(self, n, like, generator=None):
        return _sample32(like.new_full((n, self.n_visible), 0.5), generator)


def _sample32(p: torch.Tensor, generator=None) -> torch.Tensor:
    u = torch.rand(p.shape, generator=generator, device=p.device, dtype=torch.float32)
    if p.dtype == torch.float32:  # compare into the uniforms' own buffer, as companion.models.rbm.bernoulli
        return torch.lt(u, p, out=u)
    return (u.to(p.dtype) < p).to(p.dtype)


def _seed_from(random_state) -> int | None:
    """A torch seed from sklearn's ``random_state`` conventions (None, int, RandomState)."""
    if random_state is None:
        return None
    if isinstance(random_state, numbers.Integral):
        return int(random_state)
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(np.iinfo(np.int32).max))
    raise ValueError(f"random_state={random_state!r}: use None, an int or a numpy RandomState.")


class BernoulliRBM(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Bernoulli RBM with scikit-learn's interface, trained by PCD-1 in torch.

    Parameters
    ----------
    n_components : int, default=256
        Number of hidden units.
    learning_rate : float, default=0.1
        SGD step on the batch-mean gradient (scikit-learn's convention).
    batch_size : int, default=10
        Examples per update; also the number of persistent chains.
    n_iter : int, default=10
        Epochs.
    verbose : int, default=0
        Show a progress bar when non-zero.
    random_state : int, RandomState or None
        Seeds the weights, the batch order and the sampling.
    device : str, default="auto"
        Where to train: "auto" (cuda, then mps, then cpu), "cpu", "cuda", ...

    Attributes
    ----------
    components_ : ndarray (n_components, n_features)
        Weights, i.e. ``W.T`` of the torch model.
    intercept_hidden_ : ndarray (n_components,)
    intercept_visible_ : ndarray (n_features,)
    h_samples_ : ndarray (batch_size, n_components)
        Hidden probabilities of the persistent chains.
    model_ : companion.models.BernoulliRBM
        The fitted torch module (on ``device``).
    """

    def __init__(self, n_components=256, *, learning_rate=0.1, batch_size=10, n_iter=10, verbose=0,
                 random_state=None, device="auto"):
        self.n_components = n_components
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.n_iter = n_iter
        self.verbose = verbose
        self.random_state = random_state
        self.device = device

    # ------------------------------------------------------------------ helpers
    def _validate(self, X, reset: bool) -> np.ndarray:
        X = validate_data(self, X, accept_sparse=("csr", "csc", "coo"), dtype=(np.float64, np.float32),
                          reset=reset)
        if sparse.issparse(X):
            X = X.toarray()
        return X

    def _tensor(self, X: np.ndarray) -> torch.Tensor:
        """X in the fitted model's dtype (a float32 X after a float64 fit, or the reverse, is converted)."""
        if not X.flags.writeable:  # torch cannot wrap read-only memory safely
            X = X.copy()
        return torch.as_tensor(X, device=self.model_.W.device).to(self.model_.W.dtype)

    def _check_params(self) -> None:
        for name in ("n_components", "batch_size", "n_iter"):
            value = getattr(self, name)
            if not isinstance(value, numbers.Integral) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}.")
        if not isinstance(self.learning_rate, numbers.Real) or self.learning_rate <= 0:
            raise ValueError(f"learning_rate must be a positive number, got {self.learning_rate!r}.")

    def _init_model(self, X: np.ndarray, seed: int | None) -> None:
        # built on the meta device, so that the constructor draws nothing from torch's global generator;
        # the weights then come from a generator of their own, as the chain's samples do (fit's)
        with torch.device("meta"):
            model = _LenientRBM(X.shape[1], int(self.n_components), persistent=True, n_chains=int(self.batch_size))
        model = model.to_empty(device="cpu")
        generator = torch.Generator()
        generator.seed() if seed is None else generator.manual_seed(seed)
        model.reset_parameters(generator)
        self.model_ = model.to(device=get_device(self.device), dtype=_DTYPES[X.dtype])
        self._gibbs_generator = None
        self._n_features_out = int(self.n_components)

    def _export(self) -> None:
        m = self.model_
        self.components_ = m.W.detach().T.cpu().numpy().copy()
        self.intercept_hidden_ = m.c.detach().cpu().numpy().copy()
        self.intercept_visible_ = m.b.detach().cpu().numpy().copy()
        if m.chains.numel():
            self.h_samples_ = m.p_h_given_v(m.chains).detach().cpu().numpy()
        else:
            self.h_samples_ = np.zeros((int(self.batch_size), int(self.n_components)), dtype=self.components_.dtype)

    # ------------------------------------------------------------------ API
    def fit(self, X, y=None):
        """Fit to ``X`` (n_samples, n_features) with values in [0, 1] for ``n_iter`` epochs."""
        self._check_params()
        X = self._validate(X, reset=True)
        seed = self._seed = _seed_from(self.random_state)
        self._steps = 0
        self._init_model(X, seed)
        data = self._tensor(X)
        start = time.perf_counter()

        def report(epoch, model, history):  # scikit-learn's verbose line, on standard output
            nonlocal start
            if self.verbose:
                pl = model.pseudo_log_likelihood(data).mean().item()
                print(f"[{type(self).__name__}] Iteration {epoch + 1}, pseudo-likelihood = {pl:.2f}, "
                      f"time = {time.perf_counter() - start:.2f}s", flush=True)
                start = time.perf_counter()
            return False

        # the chain samples from fit's own generator, seeded with `seed`: the caller's global RNG stays as it was
        _fit(self.model_, data, epochs=int(self.n_iter), batch_size=int(self.batch_size), optimizer="sgd",
             lr=float(self.learning_rate), device=self.model_.W.device, seed=seed, progress=False, callback=report)
        self._export()
        return self

    def partial_fit(self, X, y=None):
        """One PCD update with all of ``X`` as the mini-batch (as scikit-learn does)."""
        self._check_params()
        first = not hasattr(self, "model_")
        X = self._validate(X, reset=first)
        if first:
            self._seed = _seed_from(self.random_state)
            self._init_model(X, self._seed)
            self._steps = 0
        data = self._tensor(X)
        _fit(self.model_, data, epochs=1, batch_size=len(data), optimizer="sgd", lr=float(self.learning_rate),
             device=self.model_.W.device, seed=None if self._seed is None else self._seed + self._steps,
             shuffle=False, progress=False)
        self._steps += 1
        self._export()
        return self

    @torch.no_grad()
    def transform(self, X):
        """Hidden probabilities ``p(h = 1 | v)``: (n_samples, n_components), in X's float dtype."""
        check_is_fitted(self)
        X = self._validate(X, reset=False)
        return self.model_.transform(self._tensor(X)).cpu().numpy().astype(X.dtype, copy=False)

    @torch.no_grad()
    def score_samples(self, X):
        """Exact pseudo-log-likelihood per row, summed over the visible units (nats): (n_samples,)."""
        check_is_fitted(self)
        X = self._validate(X, reset=False)
        return self.model_.pseudo_log_likelihood(self._tensor(X)).cpu().numpy().astype(X.dtype, copy=False)

    @torch.no_grad()
    def gibbs(self, v):
        """One Gibbs step v -> h -> v; returns a binary sample of the visible units (n_samples, n_features)."""
        check_is_fitted(self)
        v = self._validate(v, reset=False)
        m = self.model_
        if getattr(self, "_gibbs_generator", None) is None or self._gibbs_generator.device != m.W.device:
            # one generator per fitted model, seeded once: repeated calls draw new samples, as the
            # advancing RandomState of scikit-learn's estimator does
            seed = _seed_from(self.random_state)
            self._gibbs_generator = torch.Generator(device=m.W.device)
            if seed is None:
                self._gibbs_generator.seed()
            else:
                self._gibbs_generator.manual_seed(seed)
        x = self._tensor(v)
        h = _sample32(m.p_h_given_v(x), self._gibbs_generator)
        return _sample32(m.p_v_given_h(h), self._gibbs_generator).cpu().numpy().astype(v.dtype, copy=False)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags
