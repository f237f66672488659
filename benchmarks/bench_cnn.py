"""exprgrad's numpy backend against a hand-written numpy CNN, jax.jit and PyTorch eager (CPU).

One training epoch of the digits CNN of examples/digits_cnn.py: 8x8 images of one channel
(NCHW), 16 3x3 filters with padding 1, a bias per filter, ReLU, 2x2 max pooling, a dense
layer 256 -> 10 and softmax cross-entropy; scikit-learn's digits, 1,347 training images,
batches of 64, SGD with momentum 0.9. Each step slices its batch, computes the loss and its
gradients and updates the parameters in place. The rows:

    exprgrad, loop       f.value_and_grad on the batch, the same update as by hand
    exprgrad, train.fit  train.fit(epochs=1): its shuffling, checks and optimiser included
    hand numpy           im2col forward and backward written by hand, as a careful person
                         would: the columns made once and kept for the filters' gradient,
                         one matmul for the whole batch, in-place updates
    PyTorch eager        autograd (loss.backward()), the update under torch.no_grad()
    jax.jit              the whole step (value_and_grad and update) jitted

Times are CPU time of the process (time.process_time; --wall for wall-clock time), the best
of --repeats runs, the implementations taking turns. Everything computes in float64 (jax
with jax_enable_x64), single-threaded (the BLAS thread variables are set to 1 before numpy
is imported; torch.set_num_threads(1)). Before timing, every implementation's loss and
gradients are checked against the hand-written ones (rel tol 1e-9) at the initial
parameters and at those after one epoch (whose pooling windows tie: the tied largest share
the gradient everywhere), and one epoch of each against the hand-written epoch. PyTorch
and jax are skipped, with a message, when they are not installed. Run by hand from the
repository root (it is not a test):

    python benchmarks/bench_cnn.py [--repeats 20] [--threads 1] [--wall] [--show-code]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time

for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")  # before numpy starts its BLAS (see --threads)
if "--threads" in sys.argv:  # the BLAS reads its thread count once, at import
    _count = sys.argv[sys.argv.index("--threads") + 1]
    for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[_variable] = _count

import numpy as np  # noqa: E402

import exprgrad  # noqa: E402
from exprgrad import datasets, train  # noqa: E402

REL_TOL = 1e-9
FILTERS, BATCH, LR, MOMENTUM = 16, 64, 0.05, 0.9
NETWORK = "h = maxpool2d(relu(conv2d(X, K, 1, 1) + c), 2)\nlogits = flatten(h) @ W + b"
CNN = NETWORK + "\nmean(logsumexp(logits, 1) - sum(Y * logits, 1))"
NAMES = ("K", "c", "W", "b")


# --- the digits CNN, written by hand -----------------------------------------------------------


def hand_value_and_grad(K, c, W, b, X, Y):
    """The loss and its gradients, as a careful person writes them with numpy: im2col with
    the pixels as rows (N*8*8, C*3*3), so that the convolution of the whole batch is one
    matmul and its output is channels-last (N, 8, 8, F), which pools by a reshape; the
    columns are kept for the filters' gradient."""
    n, channels, height, width = X.shape
    f = K.shape[0]
    padded = np.zeros((n, channels, height + 2, width + 2))
    padded[:, :, 1:-1, 1:-1] = X
    windows = np.lib.stride_tricks.sliding_window_view(padded, (3, 3), axis=(2, 3))
    columns = windows.transpose(0, 2, 3, 1, 4, 5).reshape(n * height * width, -1)  # one copy
    a = columns @ K.reshape(f, -1).T  # (N*H*W, F), channels last
    a += c.reshape(f)
    np.maximum(a, 0.0, out=a)  # relu in place: a is the activation from here on
    tiles = a.reshape(n, height // 2, 2, width // 2, 2, f)
    pooled = tiles.max(axis=(2, 4))  # (N, 4, 4, F)
    h = pooled.transpose(0, 3, 1, 2).reshape(n, -1)  # flatten as NCHW: (N, F*4*4)
    logits = h @ W
    logits += b
    top = logits.max(axis=1, keepdims=True)
    e = np.exp(logits - top)
    total = e.sum(axis=1, keepdims=True)
    loss = np.mean(np.log(total[:, 0]) + top[:, 0] - np.einsum("ij,ij->i", Y, logits))
    d_logits = e / total  # softmax
    d_logits -= Y
    d_logits /= n
    d_h = d_logits @ W.T
    d_pooled = d_h.reshape(n, f, height // 2, width // 2).transpose(0, 2, 3, 1)
    # a window's tied largest share its gradient (as exprgrad's and jnp.max's do: a
    # background window holds the same relu(c) four times); a window whose largest is 0 is
    # all relu zeros, whose gradient is 0
    winners = tiles == pooled[:, :, None, :, None, :]
    count = winners.sum(axis=(2, 4))
    share = np.divide(d_pooled, count, where=pooled > 0.0, out=np.zeros_like(pooled))
    d_a = (winners * share[:, :, None, :, None, :]).reshape(n * height * width, f)
    grads = {"K": (d_a.T @ columns).reshape(K.shape), "c": d_a.sum(axis=0).reshape(c.shape)}
    grads["W"] = h.T @ d_logits
    grads["b"] = d_logits.sum(axis=0)
    return loss, grads


def momentum_step(params, velocity, grads):
    """SGD with momentum, in place: v = momentum*v + g; p -= lr*v (train.SGD's rule)."""
    for name in NAMES:
        v = velocity[name]
        v *= MOMENTUM
        v += grads[name]
        params[name] -= LR * v


def fresh(params):
    return {name: value.copy() for name, value in params.items()}


def loop_epoch(value_and_grad, params, x, y, order):
    params, velocity = fresh(params), {n: np.zeros_like(v) for n, v in params.items()}
    for start in range(0, len(order), BATCH):
        batch = order[start : start + BATCH]
        _, grads = value_and_grad(**params, X=x[batch], Y=y[batch])
        momentum_step(params, velocity, grads)
    return params


# --- PyTorch and jax, when installed --------------------------------------------------------


def torch_case(params, x, y, order):
    try:
        import torch
    except ImportError:
        print("PyTorch is not installed: no PyTorch row (pip install torch)")
        return None
    torch.set_num_threads(1)
    functional = torch.nn.functional

    def loss_of(K, c, W, b, X, Y):
        a = torch.relu(functional.conv2d(X, K, padding=1) + c)
        n, f, height, width = a.shape  # max pooling as amax, whose ties share the gradient
        h = a.reshape(n, f, height // 2, 2, width // 2, 2).amax(dim=(3, 5))
        logits = h.flatten(1) @ W + b
        return torch.mean(torch.logsumexp(logits, 1) - torch.sum(Y * logits, 1))

    def value_and_grad(**arrays):
        tensors = {n: torch.tensor(arrays[n], requires_grad=True) for n in NAMES}
        loss = loss_of(**tensors, X=torch.from_numpy(arrays["X"]), Y=torch.from_numpy(arrays["Y"]))
        loss.backward()
        return loss.item(), {n: tensors[n].grad.numpy() for n in NAMES}

    x_t, y_t, order_t = torch.from_numpy(x), torch.from_numpy(y), torch.from_numpy(order)

    def epoch():
        p = {n: torch.tensor(params[n], requires_grad=True) for n in NAMES}
        velocity = {n: torch.zeros_like(p[n]) for n in NAMES}
        for start in range(0, len(order_t), BATCH):
            batch = order_t[start : start + BATCH]
            loss = loss_of(**p, X=x_t[batch], Y=y_t[batch])
            loss.backward()
            with torch.no_grad():
                for n in NAMES:
                    velocity[n].mul_(MOMENTUM).add_(p[n].grad)
                    p[n].sub_(LR * velocity[n])
                    p[n].grad = None
        return {n: p[n].detach().numpy() for n in NAMES}

    return f"PyTorch {torch.__version__} eager", value_and_grad, epoch


def jax_case(params, x, y, order):
    try:
        import jax
    except ImportError:
        print("jax is not installed: no jax row (pip install jax)")
        return None
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    def loss_of(p, X, Y):
        layout = ("NCHW", "OIHW", "NCHW")
        padding = ((1, 1), (1, 1))
        a = jax.lax.conv_general_dilated(X, p["K"], (1, 1), padding, dimension_numbers=layout)
        a = jax.nn.relu(a + p["c"])
        n, f, height, width = a.shape  # max pooling as jnp.max, whose ties share the gradient
        h = jnp.max(a.reshape(n, f, height // 2, 2, width // 2, 2), axis=(3, 5))
        logits = h.reshape(n, -1) @ p["W"] + p["b"]
        return jnp.mean(jax.nn.logsumexp(logits, 1) - jnp.sum(Y * logits, 1))

    grad_fn = jax.jit(jax.value_and_grad(loss_of))

    @jax.jit
    def step(p, velocity, X, Y):
        loss, grads = jax.value_and_grad(loss_of)(p, X, Y)
        velocity = {n: MOMENTUM * velocity[n] + grads[n] for n in NAMES}
        return {n: p[n] - LR * velocity[n] for n in NAMES}, velocity

    def value_and_grad(X, Y, **p):
        loss, grads = grad_fn(p, X, Y)
        return float(loss), {n: np.asarray(grads[n]) for n in NAMES}

    batches = [order[s : s + BATCH] for s in range(0, len(order), BATCH)]

    def epoch():
        p = {n: jnp.asarray(params[n]) for n in NAMES}
        velocity = {n: jnp.zeros_like(p[n]) for n in NAMES}
        for batch in batches:
            p, velocity = step(p, velocity, x[batch], y[batch])
        jax.block_until_ready(p)
        return {n: np.asarray(p[n]) for n in NAMES}

    epoch()  # compile both batch shapes (64 and the last, 3) before timing
    return f"jax {jax.__version__} jit", value_and_grad, epoch


# --- helpers ----------------------------------------------------------------------------------


def agree(what, value, grads, ref_value, ref_grads, tol=REL_TOL):
    if not np.isclose(value, ref_value, rtol=tol, atol=0):
        raise SystemExit(f"{what}: loss {value!r} but the hand-written one is {ref_value!r}")
    for name, ref in ref_grads.items():
        if not np.allclose(grads[name], ref, rtol=tol, atol=tol * np.abs(ref).max()):
            error = np.abs(np.asarray(grads[name]) - ref).max()
            raise SystemExit(f"{what}: the gradient of {name} is off by up to {error:.3g}")


CLOCK = time.process_time  # CPU time of the process (all its threads); --wall: perf_counter


def best_times(functions, repeats):
    """name -> the best of repeats times, the functions taking turns."""
    best = dict.fromkeys(functions, float("inf"))
    for _ in range(repeats):
        for name, function in functions.items():
            start = CLOCK()
            function()
            best[name] = min(best[name], CLOCK() - start)
    return best


def table(title, times, reference):
    print(f"\n{title}")
    width = max(map(len, times))
    for name, seconds in times.items():
        ratio = seconds / times[reference]
        print(f"  {name:<{width}}  {seconds * 1e3:9.3f} ms  {ratio:6.2f}x {reference}")


# --- the benchmark ----------------------------------------------------------------------------


def bench_cnn(repeats, show_code):
    images, labels = datasets.load_digits()
    images = images.reshape(-1, 1, 8, 8)
    x, _, labels, _ = datasets.train_test_split(images, labels, test_size=0.25, seed=0)
    y = datasets.one_hot(labels, 10)
    params = train.init({"K": (FILTERS, 1, 3, 3), "W": (FILTERS * 16, 10)}, "he_normal", seed=0)
    params |= train.init({"c": (FILTERS, 1, 1), "b": (10,)}, "zeros")
    order = np.random.default_rng(0).permutation(len(x))
    f = exprgrad.compile(CNN, wrt=NAMES, backend="numpy")
    steps = -(-len(x) // BATCH)
    print(
        f"digits CNN: {len(x)} images 1x8x8, conv {FILTERS}x3x3 (padding 1), relu, maxpool 2, "
        f"dense {FILTERS * 16}-10, batches of {BATCH} ({steps} steps)"
    )
    first = order[:BATCH]
    if show_code:
        print(f.source_for(**params, X=x[first], Y=y[first]))

    # checked at the initial parameters and after an epoch by hand, whose positive filter
    # biases make pooling windows of background pixels tie
    trained = loop_epoch(hand_value_and_grad, params, x, y, order)
    points = [{**p, "X": x[first], "Y": y[first]} for p in (params, trained)]
    references = [hand_value_and_grad(**point) for point in points]

    def check(name, value_and_grad):
        for point, (ref_value, ref_grads) in zip(points, references, strict=True):
            agree(name, *value_and_grad(**point), ref_value, ref_grads)

    check("exprgrad", f.value_and_grad)
    epochs = {
        "exprgrad, loop": lambda: loop_epoch(f.value_and_grad, params, x, y, order),
        "exprgrad, train.fit": lambda: train.fit(
            f,
            params,
            {"X": x, "Y": y},
            epochs=1,
            batch_size=BATCH,
            optimizer=train.SGD(LR, momentum=MOMENTUM),
            progress=False,
        ),  # fmt: skip
        "hand numpy": lambda: loop_epoch(hand_value_and_grad, params, x, y, order),
    }
    for make in (torch_case, jax_case):
        case = make(params, x, y, order)
        if case is None:
            continue
        name, value_and_grad, epoch = case
        check(name, value_and_grad)
        epochs[name] = epoch
    # one epoch each way ends at the same parameters (jax's fused update rounds differently)
    for name, epoch in epochs.items():
        if name != "exprgrad, train.fit":  # it shuffles with its own generator
            after = epoch()
            agree(f"{name} after an epoch", 0.0, after, 0.0, trained, tol=1e-7)
    print(
        "all agree on the loss and gradients (rel 1e-9; at the start and after an epoch), "
        "and on the parameters after an epoch"
    )
    table(f"one epoch (best of {repeats})", best_times(epochs, repeats), "hand numpy")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20, help="timed runs of each")
    parser.add_argument("--threads", type=int, default=1, help="BLAS threads (default 1)")
    parser.add_argument("--wall", action="store_true", help="wall-clock time, not CPU time")
    parser.add_argument("--show-code", action="store_true", help="print exprgrad's code")
    options = parser.parse_args()
    if options.wall:
        global CLOCK
        CLOCK = time.perf_counter
    print(f"Python {platform.python_version()}, numpy {np.__version__}, {platform.machine()}")
    bench_cnn(options.repeats, options.show_code)


if __name__ == "__main__":
    main()
