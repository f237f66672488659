"""exprgrad's numpy backend against hand-written numpy, PyTorch eager and jax.jit, on the CPU.

Table 1: one training epoch of the digits MLP of examples/digits_mlp.py (64 -> 128 ReLU ->
10, softmax cross-entropy; scikit-learn's digits, 1,347 training images, batches of 64,
SGD with momentum 0.9), each step slicing its batch, computing the loss and its
gradients and updating the parameters in place. The rows:

    exprgrad, loop       f.value_and_grad on the batch, the same update as by hand
    exprgrad, train.fit  train.fit(epochs=1): its shuffling, checks and optimiser included
    hand numpy           forward and backward written by hand, as a careful person would
    PyTorch eager        autograd (loss.backward()), the update under torch.no_grad()
    jax.jit              the whole step (value_and_grad and update) jitted

Table 2: value_and_grad of a logistic loss on 10,000 rows of 20 features,
mean(log1p(exp(-y * (X @ w + b)))), exprgrad against hand-written numpy.

Table 3: what the first call of a new shape costs: exprgrad.compile (once per formula;
the process's first compile also builds the Lark parser), then the shape pass, code
generation and compilation of the first value_and_grad call for those shapes (once per
shape), against a later call.

Times are CPU time of the process (time.process_time: all its threads, but not the time
other processes hold the CPU; --wall for wall-clock time), the best of --repeats runs, the
implementations taking turns. Everything computes in float64 (jax with jax_enable_x64),
single-threaded (the BLAS thread variables are set to 1 before numpy is imported;
torch.set_num_threads(1)), so the ratios compare the code, not the thread pools. Before
timing, every implementation's loss and gradients are checked against the hand-written
ones (rel tol 1e-9), so no ratio is against a wrong reference. PyTorch and jax are
skipped, with a message, when they are not installed. Run by hand from the repository
root (it is not a test):

    python benchmarks/bench_arrays.py [--repeats 30] [--threads 1] [--hidden 128] [--profile]

--profile splits the time of one f.value_and_grad call of the MLP (argument checks,
generated code, finiteness check), times each generated line alone, and times the
generated code with each change of CHANGES applied by hand alone and all together, every
variant taking turns with the others a few calls at a time in one process.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
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
from exprgrad.backends.numpy import helpers as numpy_helpers  # noqa: E402

REL_TOL = 1e-9
HIDDEN, BATCH, LR, MOMENTUM = 128, 64, 0.1, 0.9
NETWORK = "h = relu(X @ W1 + b1)\nlogits = h @ W2 + b2"
MLP = NETWORK + "\nmean(logsumexp(logits, 1) - sum(Y * logits, 1))"
NAMES = ("W1", "b1", "W2", "b2")
LOGISTIC = "mean(log1p(exp(-y * (X @ w + b))))"


# --- the digits MLP, written by hand ----------------------------------------------------------


def hand_value_and_grad(W1, b1, W2, b2, X, Y):
    """The loss and its gradients, as a careful person writes them with numpy."""
    n = len(X)
    a = X @ W1
    a += b1
    h = np.maximum(a, 0.0)
    logits = h @ W2
    logits += b2
    top = logits.max(axis=1, keepdims=True)
    e = np.exp(logits - top)
    total = e.sum(axis=1, keepdims=True)
    loss = np.mean(np.log(total[:, 0]) + top[:, 0] - np.einsum("ij,ij->i", Y, logits))
    d_logits = e / total  # softmax
    d_logits -= Y
    d_logits /= n
    d_h = d_logits @ W2.T
    d_h[a <= 0] = 0.0
    grads = {"W1": X.T @ d_h, "b1": d_h.sum(axis=0), "W2": h.T @ d_logits}
    grads["b2"] = d_logits.sum(axis=0)
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

    def loss_of(W1, b1, W2, b2, X, Y):
        logits = torch.relu(X @ W1 + b1) @ W2 + b2
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
        logits = jax.nn.relu(X @ p["W1"] + p["b1"]) @ p["W2"] + p["b2"]
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


# --- the benchmarks ---------------------------------------------------------------------------


def bench_mlp(repeats):
    images, labels = datasets.load_digits()
    x, _, labels, _ = datasets.train_test_split(images, labels, test_size=0.25, seed=0)
    y = datasets.one_hot(labels, 10)
    params = train.init({"W1": (64, HIDDEN), "W2": (HIDDEN, 10)}, "he_normal", seed=0)
    params |= train.init({"b1": (HIDDEN,), "b2": (10,)}, "zeros")
    order = np.random.default_rng(0).permutation(len(x))
    f = exprgrad.compile(MLP, wrt=NAMES, backend="numpy")
    steps = -(-len(x) // BATCH)
    print(f"digits MLP: {len(x)} images, 64-{HIDDEN}-10, batches of {BATCH} ({steps} steps)")

    first = order[:BATCH]
    ref_value, ref_grads = hand_value_and_grad(**params, X=x[first], Y=y[first])
    value, grads = f.value_and_grad(**params, X=x[first], Y=y[first])
    agree("exprgrad", value, grads, ref_value, ref_grads)
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
        value, grads = value_and_grad(**params, X=x[first], Y=y[first])
        agree(name, value, grads, ref_value, ref_grads)
        epochs[name] = epoch
    # one epoch each way ends at the same parameters (jax's fused update rounds differently)
    by_hand = epochs["hand numpy"]()
    for name, epoch in epochs.items():
        if name != "exprgrad, train.fit":  # it shuffles with its own generator
            after = epoch()
            agree(f"{name} after an epoch", 0.0, after, 0.0, by_hand, tol=1e-7)
    print("all agree on the loss and gradients (rel 1e-9), and on the parameters after an epoch")
    table(f"one epoch (best of {repeats})", best_times(epochs, repeats), "hand numpy")
    return f, params, x[first], y[first]


def hand_logistic(w, b, X, y):
    n = len(X)
    m = X @ w
    m += b
    m *= -y
    e = np.exp(m)
    loss = np.mean(np.log1p(e))
    d_z = e / (1.0 + e)  # sigmoid(m), d loss / d m times n
    d_z *= -y
    d_z /= n
    return loss, {"w": X.T @ d_z, "b": d_z.sum()}


def bench_logistic(repeats):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(10_000, 20))
    y = np.where(X @ rng.normal(size=20) + rng.normal(size=10_000) > 0, 1.0, -1.0)
    point = {"w": rng.normal(scale=0.1, size=20), "b": 0.1, "X": X, "y": y}
    f = exprgrad.compile(LOGISTIC, wrt="w,b", backend="numpy")
    agree("exprgrad", *f.value_and_grad(**point), *hand_logistic(**point))
    calls = {
        "exprgrad": lambda: f.value_and_grad(**point),
        "hand numpy": lambda: hand_logistic(**point),
    }
    best = best_times({k: lambda c=c: [c() for _ in range(10)] for k, c in calls.items()}, repeats)
    best = {k: v / 10 for k, v in best.items()}
    table(f"logistic loss value_and_grad, 10,000 x 20 (best of {repeats})", best, "hand numpy")
    return f, point


def bench_first_call(mlp_point, logistic_point, first_compile):
    print("\nfirst calls: compile once per formula, specialise once per shape")
    print(f"  the process's first compile (it builds the parser) {first_compile * 1e3:.1f} ms")
    for title, formula, wrt, point in (
        ("digits MLP", MLP, NAMES, mlp_point),
        ("logistic loss", LOGISTIC, ("w", "b"), logistic_point),
    ):
        start = time.perf_counter()
        f = exprgrad.compile(formula, wrt=wrt, backend="numpy")
        compiled = time.perf_counter() - start
        start = time.perf_counter()
        f.value_and_grad(**point)
        first = time.perf_counter() - start
        later = min(
            best_times({"call": lambda f=f, point=point: f.value_and_grad(**point)}, 20).values()
        )
        print(
            f"  {title:<14} compile {compiled * 1e3:7.1f} ms, first value_and_grad "
            f"{first * 1e3:6.1f} ms, later calls {later * 1e3:7.3f} ms"
        )


def generated(f, point):
    """The generated value_and_grad alone, and the arguments it takes (exprgrad's private
    API, to tell the cost of the generated code from that of the checks around it)."""
    arrays = f._arrays((), point)
    special = f._for(arrays)
    return f._function(special, "value_and_grad"), arrays, special


def profile(f, point, repeats, runs=20):
    """Where exprgrad's time goes on one batch: the parts of one call, each generated line
    alone, and the generated code with each change of CHANGES applied alone and all
    together. Everything that is compared is timed in one process, taking turns a few
    calls at a time (runs), best of 3 * repeats turns: memory that one variant leaves to
    the allocator shifts another's time when each runs hundreds of calls in a row."""
    function, arrays, special = generated(f, point)
    value, grads = function(*arrays)
    parts = {
        "f.value_and_grad(**point)": lambda: f.value_and_grad(**point),
        "  its argument binding (_arrays)": lambda: f._arrays((), point),
        "  its signature look-up (_for)": lambda: f._for(arrays),
        "  the generated value_and_grad": lambda: function(*arrays),
        "  its finiteness check (_check_finite)": lambda: f._check_finite(
            special, "value_and_grad", arrays, value, grads
        ),
        "hand_value_and_grad": lambda: hand_value_and_grad(**point),
    }
    times = _per_call(parts, 3 * repeats, runs)
    print(f"\nprofile: one batch of {BATCH}, in us a call (best of {3 * repeats} x {runs} calls)")
    for name, seconds in times.items():
        print(f"  {name:<40} {seconds * 1e6:8.1f} us")
    source = special.sources["value_and_grad"]
    _lines_alone(source, f, arrays, times["  the generated value_and_grad"], repeats, runs)

    variants = {"as generated": source}
    for name, (pattern, replacement) in CHANGES.items():
        changed = pattern.sub(replacement, source)
        if changed == source:
            print(f"  (not applicable now: {name})")
        else:
            variants[name] = changed
    if len(variants) > 2:
        every = source
        for pattern, replacement in CHANGES.values():
            every = pattern.sub(replacement, every)
        variants["all of them"] = every
    functions = {}
    for name, text in variants.items():
        namespace = numpy_helpers.namespace()
        exec(compile(text, "<variant>", "exec"), namespace)  # noqa: S102
        variant = namespace["value_and_grad"]
        agree(name, *variant(*arrays), value, grads, tol=1e-12)
        functions[name] = lambda v=variant: v(*arrays)
    functions["hand numpy"] = lambda: hand_value_and_grad(**point)
    times = _per_call(functions, 3 * repeats, runs)
    base = times["as generated"]
    print("\nthe generated code changed by hand, each change alone, timed taking turns:")
    width = max(map(len, times))
    for name, seconds in times.items():
        gain = "" if name == "as generated" else f"  {(base - seconds) * 1e6:+6.1f} us"
        print(f"  {name:<{width}} {seconds * 1e6:8.1f} us{gain}")
    alone = [base - times[n] for n in variants if n not in ("as generated", "all of them")]
    if "all of them" in times:
        print(
            f"  the gains alone add up to {sum(alone) * 1e6:.1f} us, "
            f"all of them together gain {(base - times['all of them']) * 1e6:.1f} us"
        )


def _per_call(functions, repeats, runs):
    """name -> seconds a call, the best of repeats turns of runs calls each."""
    loops = {k: lambda c=c: [c() for _ in range(runs)] for k, c in functions.items()}
    return {k: v / runs for k, v in best_times(loops, repeats).items()}


def _lines_alone(source, f, arrays, whole, repeats, runs):
    """Each line of the generated code timed alone, after the lines before it have run.
    A line that writes into an array (`t2 += b1`, out=t18) runs on a fresh copy of it each
    time, the copy's own time taken off, so that no value drifts (to a denormal, say)."""
    namespace = {**numpy_helpers.namespace(), "__builtins__": __builtins__}
    namespace.update(zip(f.inputs, arrays, strict=True))
    rows = []
    for line in source.splitlines():
        statement = line.split("  #")[0].strip()
        if not re.match(r"(\w+ [-+*/]?= |np\.\w+\(.*out=\w+\)$)", statement):
            continue
        code = compile(statement, "<line>", "exec")
        written = IN_PLACE.search(statement)
        if written is None:
            exec(code, namespace)  # noqa: S102 (a generated line), sets its variable
            timed = {"line": lambda code=code: exec(code, namespace)}  # noqa: S102
        else:
            target = written.group(1) or written.group(2)
            namespace["_saved"] = namespace[target].copy()
            fresh = compile(f"{target} = _saved.copy()", "<copy>", "exec")
            exec(fresh, namespace)  # noqa: S102
            exec(code, namespace)  # noqa: S102
            both = compile(f"{target} = _saved.copy()\n{statement}", "<line>", "exec")
            timed = {
                "line": lambda both=both: exec(both, namespace),  # noqa: S102
                "copy": lambda fresh=fresh: exec(fresh, namespace),  # noqa: S102
            }
            exec(code, namespace)  # noqa: S102 (the value the next lines read)
        best = _per_call(timed, repeats, runs)
        rows.append((best["line"] - best.get("copy", 0.0), statement))
        if written is not None:
            exec(fresh, namespace)  # noqa: S102
            exec(code, namespace)  # noqa: S102
    total = sum(seconds for seconds, _ in rows)
    print(f"\neach generated line alone, in us (sum {total * 1e6:.1f} us; the whole function")
    print(f"{whole * 1e6:.1f} us: the rest is the call and its frame)")
    for seconds, line in rows:
        print(f"  {seconds * 1e6:6.2f} {seconds / total:6.1%}  {line[:100]}")


IN_PLACE = re.compile(r"^(\w+) [-+*/]= |out=(\w+)\)$")
# changes to try on the generated code: a name -> (pattern, replacement)
CHANGES = {
    "relu' as an in-place mask multiply (not bit for bit)": (
        re.compile(r"(\w+) = np\.where\((\w+) > 0\.0, (\w+), \w+\)"),
        r"\1 = \3; \1 *= \2 > 0.0",
    ),
    "the reductions as np.sum and np.max": (
        re.compile(r"np\.(add|maximum)\.reduce\((\w+), ([^()]*|\([^()]*\))\)"),
        lambda m: f"np.{'sum' if m[1] == 'add' else 'max'}({m[2]}, axis={m[3]})",
    ),
    "no np.errstate": (re.compile(r"with np\.errstate\(all='ignore'\):"), "if True:"),
}


def main() -> None:
    global CLOCK, HIDDEN
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30, help="timed runs of each")
    parser.add_argument("--threads", type=int, default=1, help="BLAS threads (default 1)")
    parser.add_argument("--profile", action="store_true", help="where exprgrad's time goes")
    parser.add_argument("--wall", action="store_true", help="wall-clock time, not CPU time")
    parser.add_argument("--hidden", type=int, default=HIDDEN, help="the MLP's hidden units")
    options = parser.parse_args()
    HIDDEN = options.hidden
    if options.wall:
        CLOCK = time.perf_counter
    print(f"Python {platform.python_version()}, numpy {np.__version__}, {platform.machine()}")
    start = time.perf_counter()
    exprgrad.compile(MLP, wrt=NAMES, backend="numpy")
    first_compile = time.perf_counter() - start
    f, params, xb, yb = bench_mlp(options.repeats)
    _, logistic_point = bench_logistic(options.repeats)
    bench_first_call({**params, "X": xb, "Y": yb}, logistic_point, first_compile)
    if options.profile:
        profile(f, {**params, "X": xb, "Y": yb}, options.repeats)


if __name__ == "__main__":
    main()
