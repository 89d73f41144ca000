"""A scikit-learn classifier made of a deep belief network: greedy RBM pretraining on X, then
backpropagation (Hinton & Salakhutdinov 2006's recipe for MNIST)."""

from __future__ import annotations

import numbers

import numpy as np
import torch
from scipy import sparse
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from ..checks import number
from ..config import get_device
from ..models.dbn import DBN
from ..train import fit as _fit
from ..utils import batched_apply
from ._rbm import _seed_from


def _numpy(a):
    """Torch tensors as numpy arrays (so validate_data keeps float32); anything else unchanged."""
    return a.detach().cpu().numpy() if isinstance(a, torch.Tensor) else a


def _rng_devices(device: torch.device) -> list[int]:
    """The CUDA devices whose generators ``fork_rng`` must save and restore (none off CUDA)."""
    return list(range(torch.cuda.device_count())) if device.type == "cuda" else []


class DBNClassifier(ClassifierMixin, BaseEstimator):
    """Deep belief network classifier: greedy RBM pretraining on X, then backpropagation.

    ``fit`` first trains an unlabelled stack of Bernoulli RBMs,
    ``n_features -> hidden_layer_sizes[0] -> ... -> hidden_layer_sizes[-1]``,
    one layer at a time on X alone (CD-1, SGD with momentum 0.9, through
    :meth:`companion.models.DBN.pretrain`); it then unrolls the stack into a
    feed-forward network of logistic units, adds a randomly initialised
    softmax output layer (:meth:`companion.models.DBN.to_classifier`) and
    fine-tunes every weight by minimising the cross-entropy with Adam
    (:func:`companion.fit`). This is the classifier of Hinton & Salakhutdinov
    (2006): the labels are used only in the second stage.

    Parameters
    ----------
    hidden_layer_sizes : int or sequence of int, default=(500, 500, 2000)
        Widths of the hidden layers, bottom to top (the paper's MNIST net);
        one RBM is pretrained per layer. An int means one hidden layer.
    pretrain_epochs : int, default=30
        Epochs of CD-1 for each RBM. ``0`` skips pretraining: the same
        network then starts from PyTorch's random initialisation, which is
        the ablation that shows what pretraining buys.
    pretrain_lr : float, default=0.05
        SGD learning rate of the RBMs (momentum 0.9, weight cost 2e-4).
    finetune_epochs : int, default=30
        Epochs of backpropagation (passes over X; ``n_iter_``).
    learning_rate : float, default=1e-3
        Adam's learning rate for fine-tuning.
    batch_size : int, default=100
        Mini-batch size of both stages (all of X when X has fewer rows).
    weight_decay : float, default=0.0
        L2 penalty of fine-tuning (Adam's ``weight_decay``).
    input_dropout : float, default=0.2
        Fraction of the input features zeroed at random, afresh for every
        example, during fine-tuning (Hinton et al. 2012); ``0`` turns it off.
        Prediction uses every feature.
    dropout : float, default=0.2
        The same for the units of every hidden layer.
    random_state : int, RandomState or None, default=None
        Seeds the weights, the batch order and the RBMs' sampling. With an
        int, ``fit`` is repeatable (bit for bit on the CPU); ``None`` draws a
        seed from NumPy's global generator, as scikit-learn does. Torch's
        global generators are left as they were in every case.
    device : str, default="auto"
        Where to train and predict: "auto" (cuda, then mps, then cpu), "cpu",
        "cuda", ...
    verbose : int, default=0
        Show progress bars (one per RBM and one for fine-tuning) when non-zero.

    Attributes
    ----------
    classes_ : ndarray (n_classes,)
        The class labels seen in ``fit``, sorted; any labels numpy can sort
        (strings, integers with gaps, ...).
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when X had string column names (a DataFrame).
    input_min_, input_max_ : ndarray (n_features,)
        The per-feature interval mapped onto [0, 1]: ``min(0, min of X)`` and
        ``max(1, max of X)`` over the training rows (see Notes).
    dbn_ : companion.models.DBN
        The pretrained stack (``None`` when ``pretrain_epochs=0``).
    network_ : companion.models.Classifier
        The fine-tuned network (on ``device``), logistic hidden units and a
        linear output layer whose softmax gives ``predict_proba``.
    n_iter_ : int
        Fine-tuning epochs run.
    loss_curve_ : list of float
        Mean training cross-entropy of each fine-tuning epoch.
    pretrain_loss_curves_ : list of list of float
        Each RBM's training loss per epoch (empty when ``pretrain_epochs=0``).

    Notes
    -----
    **Inputs outside [0, 1].** The RBMs are Bernoulli: their visible units
    model values in [0, 1] (binary data, grey levels, probabilities).
    ``fit`` therefore learns, per feature, the interval
    ``[min(0, min x), max(1, max x)]`` and maps it linearly onto [0, 1];
    at ``predict`` time the same map is applied and the result clipped to
    [0, 1]. A feature that already lies in [0, 1] is left exactly as it is
    (so pixels keep their meaning and binary features stay binary), while
    arbitrary real features (counts, grey levels in 0..255, standardised
    values) still get a valid Bernoulli input instead of an error. Refusing
    such data would break scikit-learn's conventions (pipelines, the generic
    checks), and accepting it unscaled, like :class:`BernoulliRBM` does,
    would pretrain a model whose likelihood is meaningless. For a full
    min-max rescaling put a :class:`~sklearn.preprocessing.MinMaxScaler`
    in front.

    **Precision.** The network computes in float32 when X is float32 and in
    float64 otherwise (as :class:`~sklearn.neural_network.MLPClassifier`);
    pass float32 data for speed (torch's float64 kernels are slower).

    **Sparse X** (CSR, CSC, COO) is accepted and densified, since the
    network's layers are dense anyway; torch tensors are accepted too (on
    any device; they are read through numpy, keeping float32).

    References
    ----------
    Hinton, G. E. & Salakhutdinov, R. R. (2006). Reducing the dimensionality
    of data with neural networks. *Science* 313, 504-507.

    Hinton, G. E., Srivastava, N., Krizhevsky, A., Sutskever, I. &
    Salakhutdinov, R. R. (2012). Improving neural networks by preventing
    co-adaptation of feature detectors. arXiv:1207.0580.

    Examples
    --------
    >>> import companion as cp                                   # doctest: +SKIP
    >>> from companion.sklearn import DBNClassifier               # doctest: +SKIP
    >>> X, y = cp.data.mnist("train"); Xt, yt = cp.data.mnist("test")  # doctest: +SKIP
    >>> DBNClassifier(random_state=0).fit(X, y).score(Xt, yt)     # doctest: +SKIP
    """

    def __init__(self, hidden_layer_sizes=(500, 500, 2000), *, pretrain_epochs=30, pretrain_lr=0.05,
                 finetune_epochs=30, learning_rate=1e-3, batch_size=100, weight_decay=0.0, input_dropout=0.2,
                 dropout=0.2, random_state=None, device="auto", verbose=0):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.pretrain_epochs = pretrain_epochs
        self.pretrain_lr = pretrain_lr
        self.finetune_epochs = finetune_epochs
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.weight_decay = weight_decay
        self.input_dropout = input_dropout
        self.dropout = dropout
        self.random_state = random_state
        self.device = device
        self.verbose = verbose

    # ------------------------------------------------------------------ helpers
    def _check_params(self) -> tuple[int, ...]:
        """Validate the hyper-parameters; returns the hidden widths as a tuple of ints."""
        sizes = self.hidden_layer_sizes
        if isinstance(sizes, numbers.Integral):
            sizes = (sizes,)
        try:
            sizes = tuple(sizes)
        except TypeError:
            sizes = ()
        if not sizes or any(isinstance(s, bool) or not isinstance(s, numbers.Integral) or s < 1 for s in sizes):
            raise ValueError("hidden_layer_sizes must be a positive integer or a non-empty sequence of them, "
                             f"got {self.hidden_layer_sizes!r}.")
        checks = {"pretrain_epochs": 0, "finetune_epochs": 1, "batch_size": 1}
        for name, low in checks.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {value!r}.")
        for name in ("pretrain_lr", "learning_rate"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 < value < np.inf:
                raise ValueError(f"{name} must be a positive number, got {value!r}.")
        wd = self.weight_decay
        if isinstance(wd, bool) or not isinstance(wd, numbers.Real) or not 0 <= wd < np.inf:
            raise ValueError(f"weight_decay must be a number >= 0, got {wd!r}.")
        for name in ("input_dropout", "dropout"):  # checked before the pretraining, not after it
            number(getattr(self, name), name, 0, 1, high_open=True)
        return tuple(int(s) for s in sizes)

    def _validate(self, X, reset: bool) -> np.ndarray:
        X = validate_data(self, _numpy(X), accept_sparse=("csr", "csc", "coo"), dtype=(np.float64, np.float32),
                          reset=reset)
        return X.toarray() if sparse.issparse(X) else X

    def _scale(self, X: np.ndarray) -> np.ndarray:
        """The fitted map of each feature's interval onto [0, 1] (a new array; identity on [0, 1] features)."""
        lo = self.input_min_.astype(X.dtype, copy=False)
        span = (self.input_max_ - self.input_min_).astype(X.dtype, copy=False)
        return np.clip((X - lo) / span, 0, 1)

    def _logits(self, X) -> torch.Tensor:
        """Validated, scaled X through the network: (n_samples, n_classes) logits on the CPU."""
        check_is_fitted(self)
        X = self._scale(self._validate(X, reset=False))
        net = self.network_
        data = torch.as_tensor(X).to(net.dtype)
        with torch.no_grad():
            return batched_apply(net, net, data)

    # ------------------------------------------------------------------ API
    def fit(self, X, y):
        """Pretrain the RBM stack on ``X``, then fine-tune the network on ``(X, y)``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Finite values; features outside [0, 1] are rescaled (class Notes).
        y : array-like of shape (n_samples,)
            Class labels, at least two distinct ones.

        Returns
        -------
        self
        """
        sizes = self._check_params()
        X, y = validate_data(self, _numpy(X), _numpy(y), accept_sparse=("csr", "csc", "coo"), dtype=(np.float64, np.float32),
                             reset=True)
        if sparse.issparse(X):
            X = X.toarray()
        check_classification_targets(y)
        classes, codes = np.unique(y, return_inverse=True)
        if len(classes) < 2:
            raise ValueError(f"{type(self).__name__} needs samples of at least 2 classes in the data, but the "
                             f"data contains only one class: {classes[0]!r}.")
        self.classes_ = classes
        self.input_min_ = np.minimum(X.min(axis=0), 0).astype(np.float64)
        self.input_max_ = np.maximum(X.max(axis=0), 1).astype(np.float64)
        data = torch.as_tensor(self._scale(X))
        labels = torch.as_tensor(codes.reshape(-1), dtype=torch.int64)
        if self.random_state is None:
            seed = int(check_random_state(None).randint(np.iinfo(np.int32).max))
        else:
            seed = _seed_from(self.random_state)
        device = get_device(self.device)
        progress = bool(self.verbose)
        batch = int(self.batch_size)
        # the RBMs' chains draw from fit's generator, but dropout and nn.Linear's initialization take none:
        # fork, so that the caller's generators stay as they were
        with torch.random.fork_rng(devices=_rng_devices(device)):
            torch.manual_seed(seed)
            dbn = DBN((X.shape[1], *sizes)).to(device=device, dtype=data.dtype)
            pretrain = int(self.pretrain_epochs) > 0
            histories = []
            if pretrain:
                histories = dbn.pretrain(data, epochs=int(self.pretrain_epochs), lr=float(self.pretrain_lr),
                                         batch_size=batch, seed=seed, progress=progress, device=device)
            network = dbn.to_classifier(len(classes), pretrained=pretrain, dropout=float(self.dropout),
                                         input_dropout=float(self.input_dropout))
            history = _fit(network, (data, labels), epochs=int(self.finetune_epochs), batch_size=batch,
                           optimizer="adam", lr=float(self.learning_rate), weight_decay=float(self.weight_decay),
                           device=device, seed=seed + len(sizes), progress=progress)
        network.eval()
        self.dbn_ = dbn if pretrain else None
        self.network_ = network
        self.n_iter_ = history.epochs
        self.loss_curve_ = list(history["loss"])
        self.pretrain_loss_curves_ = [list(h["loss"]) for h in histories]
        return self

    def predict_proba(self, X):
        """Class probabilities, the softmax of the network's output.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
            Columns in the order of ``classes_``; every row sums to 1.
        """
        return torch.softmax(self._logits(X), 1).numpy()

    def predict_log_proba(self, X):
        """Log of :meth:`predict_proba`, computed stably (a log-softmax): (n_samples, n_classes)."""
        return torch.log_softmax(self._logits(X), 1).numpy()

    def predict(self, X):
        """The most probable class of each row: ndarray (n_samples,) of labels from ``classes_``."""
        best = self._logits(X).argmax(1).numpy()
        return self.classes_[best]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags
