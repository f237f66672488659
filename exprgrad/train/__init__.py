"""Training on top of compiled formulas: initialisers, optimisers, schedules and fit().

Written against exprgrad's public API only (compile, Function.value_and_grad, .inputs,
.wrt, EvaluationError), as a user's code would be. Pure Python: numpy is used only when
the parameters or the data are numpy arrays, and then it is already imported, or for a
loss compiled with backend="numpy"; the lists backend trains without it.

>>> import exprgrad
>>> from exprgrad import train
>>> loss = exprgrad.compile("(w*x + b - y)**2", wrt="w,b")
>>> data = [{"x": x / 10, "y": 3 * x / 10 + 1} for x in range(-10, 11)]
>>> history = train.fit(loss, {"w": 0.0, "b": 0.0}, data, epochs=60, batch_size=7,
...                     optimizer=train.SGD(lr=0.2, momentum=0.5))
>>> round(history.params["w"], 6), round(history.params["b"], 6)
(3.0, 1.0)

With the numpy backend the formula is the loss of a whole batch, a scalar: the data are
columns (first axis: the examples), each step is one value_and_grad call on a slice of
them, and mean(...) makes the loss the batch's mean, as above:

>>> import numpy as np
>>> loss = exprgrad.compile("mean((x @ w + b - y)**2)", wrt="w,b", backend="numpy")
>>> x = np.random.default_rng(0).uniform(-1, 1, size=(40, 2))
>>> columns = {"x": x, "y": x @ [3.0, -2.0] + 1}
>>> history = train.fit(loss, {"w": np.zeros(2), "b": 0.0}, columns, epochs=60,
...                     batch_size=8, optimizer=train.SGD(lr=0.2, momentum=0.5))
>>> history.params["w"].round(6), round(history.params["b"], 6)
(array([ 3., -2.]), 1.0)

With the Python backend an array formula computes on nested lists, numpy or not: the
data are columns of lists, and the parameters nested lists of floats (init(...,
lists=True) draws them), updated in place:

>>> loss = exprgrad.compile("mean((x @ w + b - y)**2)", wrt="w,b", backend="python")
>>> x = [[a / 2 - 1, b / 2 - 1] for a in range(5) for b in range(5)]
>>> columns = {"x": x, "y": [3 * x1 - 2 * x2 + 1 for x1, x2 in x]}
>>> history = train.fit(loss, {"w": [0.0, 0.0], "b": 0.0}, columns, epochs=60,
...                     batch_size=5, optimizer=train.SGD(lr=0.2, momentum=0.5))
>>> [round(w, 6) for w in history.params["w"]], round(history.params["b"], 6)
([3.0, -2.0], 1.0)

L2 regularisation is a term of the loss formula, not the optimiser's job; a
hyperparameter such as its weight is an input held fixed, the same for every example:

>>> loss = exprgrad.compile("(w*x + b - y)**2 + lam*w**2", wrt="w,b")
>>> data = [{"x": x / 10, "y": 3 * x / 10 + 1} for x in range(-10, 11)]
>>> history = train.fit(loss, {"w": 0.0, "b": 0.0}, data, epochs=100, batch_size=21,
...                     optimizer=train.SGD(lr=0.5, momentum=0.5), fixed={"lam": 0.1})
>>> round(history.params["w"], 6)  # ridge: 3 * mean(x*x) / (mean(x*x) + lam) = 1.1 / (7/15)
2.357143
>>> history
<History: 100 epochs; last train loss 0.707143; params w, b>

Decoupled weight decay (AdamW, SGDW) is the optimisers' weight_decay instead.
Epochs and steps count from 0.

Modules, each imported here so that exprgrad.train.X keeps working:
    initialisers.py   init() and the Xavier and He schemes
    optimisers.py     SGD, Adam, AdamW
    schedules.py      Constant, StepDecay, Cosine
    fitting.py        fit(): its checks and the epoch loop
    history.py        History, what fit() returns
    engine.py         NonFiniteLossError, the engine interface and its data checks
    python_engine.py  one value_and_grad call per example (Python backend)
    numpy_engine.py   one value_and_grad call per batch (numpy backend)
    lists_engine.py   one value_and_grad call per batch on nested lists (lists backend)
    nested.py         nested lists of floats: shapes, copies, rows for the optimisers
    progress.py       the tqdm bar or a line per epoch
    checks.py         argument checks the modules share
    dask_fit.py       minimize() (full batch, L-BFGS or an optimiser) and fit_chunks()
                      (a step per chunk) for losses summed over the rows of Dask arrays
"""

from .dask_fit import fit_chunks, minimize
from .engine import NonFiniteLossError
from .fitting import fit
from .history import History
from .initialisers import he_normal, he_uniform, init, xavier_normal, xavier_uniform
from .optimisers import SGD, Adam, AdamW
from .schedules import Constant, Cosine, StepDecay

__all__ = [
    "SGD",
    "Adam",
    "AdamW",
    "Constant",
    "Cosine",
    "History",
    "NonFiniteLossError",
    "StepDecay",
    "fit",
    "fit_chunks",
    "he_normal",
    "he_uniform",
    "init",
    "minimize",
    "xavier_normal",
    "xavier_uniform",
]
