"""The examples on the numpy backend run and reach what they promise: "digits_mlp.py",
"digits_cnn.py", "joelnet_xor.py", "fizzbuzz.py", "loy_network.py" and "mnist_mlp.py" (on a
tiny MNIST written here)."""

from __future__ import annotations

import gzip
import io
import re
import runpy
import subprocess
import sys
import types
from pathlib import Path

import pytest

np = pytest.importorskip("numpy")

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
PNG = b"\x89PNG\r\n\x1a\n"


def run(name: str, capsys, monkeypatch, *args: str) -> str:
    monkeypatch.setattr(sys, "argv", [name, *args])
    runpy.run_path(str(EXAMPLES / name), run_name="__main__")
    return capsys.readouterr().out


def numbers(line: str) -> list[float]:
    return [float(n) for n in re.findall(r"[-+]?\d+\.?\d*(?:e[-+]?\d+)?", line)]


def assert_pictures(out: str, pictures: list, matplotlib: bool) -> None:
    """With matplotlib each picture is saved as a PNG and named; without, none is."""
    if matplotlib:
        for picture in pictures:
            assert f" to {picture}" in out and picture.read_bytes().startswith(PNG)
    else:
        assert "matplotlib is not installed: no picture" in out
        assert not any(picture.exists() for picture in pictures)


def line_with(out: str, text: str) -> str:
    (line,) = [line for line in out.splitlines() if text in line]
    return line


@pytest.fixture(params=["without matplotlib", "with matplotlib"])
def matplotlib(request, monkeypatch):
    """Run once as if matplotlib were not installed, once with it (skipped where it is not
    installed). True when it is there."""
    if request.param == "without matplotlib":
        monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib: ImportError
        return False
    pytest.importorskip("matplotlib")
    return True


# --- scikit-learn's digits: a two-layer network as one formula ----------------------------


def trained_30_epochs(out: str) -> str:
    """A digits example's 30 epoch lines, the loss falling tenfold; its final line, whose
    test accuracy is the last epoch's, reported again."""
    epochs = [line for line in out.splitlines() if line.startswith("epoch ")]
    assert len(epochs) == 30 and epochs[0].startswith("epoch  1/30: loss ")
    losses = [numbers(line)[2] for line in epochs]
    assert losses[-1] < losses[0] / 10
    final = line_with(out, "wrong)")
    assert final.startswith("test accuracy ")
    assert numbers(epochs[-1])[-1] == numbers(final)[0]
    return final


def test_digits_mlp(capsys, monkeypatch, tmp_path, matplotlib):
    pytest.importorskip("sklearn")
    out = run("digits_mlp.py", capsys, monkeypatch, "--picture-dir", str(tmp_path))
    assert out.startswith("1347 training and 450 test digits, 8x8 pixels each\n")
    assert numbers(trained_30_epochs(out))[0] >= 0.96
    pictures = [tmp_path / "digits_mlp_training.png", tmp_path / "digits_mlp_misclassified.png"]
    assert_pictures(out, pictures, matplotlib)


def test_digits_cnn(capsys, monkeypatch, tmp_path, matplotlib):
    pytest.importorskip("sklearn")
    out = run("digits_cnn.py", capsys, monkeypatch, "--picture-dir", str(tmp_path))
    assert out.startswith("1347 training and 450 test digits, 1x8x8 pixels each\n")
    accuracy, wrong = numbers(trained_30_epochs(out))[:2]
    assert accuracy >= 0.98
    lines = out.splitlines()
    # the loss curve: one column per epoch, the first epoch's the tallest
    curve = lines[lines.index(line_with(out, "training loss, log scale:")) + 1 :][:9]
    assert curve[-1] == "+-" + "-" * 30 + " epoch"
    assert all(row.startswith("| #") for row in curve[:-1])
    # the 16 filters, 3 rows of 3 two-character pixels each, 8 to a row, then their numbers
    at = lines.index(line_with(out, "learned 3x3 filters"))
    assert lines[at + 4].split() == [str(n) for n in range(8)]
    assert lines[at + 8].split() == [str(n) for n in range(8, 16)]
    for line in lines[at + 1 : at + 4] + lines[at + 5 : at + 8]:
        assert len(line) <= 8 * 8 and set(line) <= set(" .:-=+*#%@")
    # the misclassified digits as 8x8 pictures with "true as predicted" under them
    at = lines.index(line_with(out, "misclassified test digits, true as predicted"))
    shown = min(12, int(wrong))
    captions = [line for line in lines[at:] if re.fullmatch(r"(\d as \d\s*)+", line)]
    assert sum(len(re.findall(r"\d as \d", line)) for line in captions) == shown
    assert f"({shown} of {int(wrong)} shown)" in lines[at]
    pictures = [
        tmp_path / f"digits_cnn_{name}.png" for name in ("training", "filters", "misclassified")
    ]
    assert_pictures(out, pictures, matplotlib)


def test_digits_cnn_shows_the_code(capsys, monkeypatch):
    pytest.importorskip("sklearn")
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    out = run("digits_cnn.py", capsys, monkeypatch, "--epochs", "1", "--show-code")
    assert "def value_and_grad(X, K, c, W, b, Y):" in out
    assert "_conv2d(X, K, 1, 1)" in out and "_conv2d_dw(" in out and "_maxpool2d_dx(" in out


class FakeTqdm:
    """tqdm's bar and tqdm.write, recording what they are given."""

    written: list[str] = []

    def __init__(self, **kwargs):
        self.kwargs = kwargs

    def update(self, n):
        pass

    def set_postfix(self, postfix, refresh=True):
        pass

    def close(self):
        pass

    @classmethod
    def write(cls, line):
        cls.written.append(line)


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_digits_mlp_shows_a_bar_and_the_code(capsys, monkeypatch, tmp_path):
    pytest.importorskip("sklearn")
    FakeTqdm.written = []
    monkeypatch.setitem(sys.modules, "tqdm", types.SimpleNamespace(tqdm=FakeTqdm))
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setattr(sys, "stderr", Terminal())
    out = run("digits_mlp.py", capsys, monkeypatch, "--epochs", "2", "--show-code")
    # the numpy code generated for a batch of 32, then the epochs written above the bar
    assert "def value_and_grad(X, W1, b1, W2, b2, Y):" in out
    assert re.search(r"h = np\.maximum\(t\d+, 0\.0\) +# relu\(X @ W1 \+ b1\)  \[32x128\]", out)
    assert [line[:13] for line in FakeTqdm.written] == ["epoch  1/2: l", "epoch  2/2: l"]
    assert "epoch  1/2" not in out


# --- the project's other learning resources -----------------------------------------------


def test_joelnet_xor(capsys, monkeypatch):
    out = run("joelnet_xor.py", capsys, monkeypatch)
    outputs = {}
    for line in out.splitlines():
        if " XOR " in line:
            x1, x2, target, output = numbers(line)
            outputs[x1, x2] = output
            assert (output > 0.5) == (target == 1) == (x1 != x2)
    assert len(outputs) == 4
    assert out.endswith("4 of 4 outputs on the right side of 0.5\n")
    errors = [numbers(line)[-1] for line in out.splitlines() if "total squared error" in line]
    assert len(errors) == 5 and errors[-1] < 1e-6


def fizz_buzz(n: int) -> str:
    return "fizzbuzz" if n % 15 == 0 else "buzz" if n % 5 == 0 else "fizz" if n % 3 == 0 else str(n)


def test_fizzbuzz(capsys, monkeypatch):
    out = run("fizzbuzz.py", capsys, monkeypatch)
    accuracy = numbers(line_with(out, "test accuracy on 1-100:"))[-1]
    assert accuracy >= 0.9
    (answers,) = [line for line in out.splitlines() if line.startswith("1 ")]
    words = answers.split()
    assert len(words) == 100
    right = sum(word == fizz_buzz(n) for n, word in enumerate(words, 1))
    assert right / 100 == accuracy


def test_loy_network(capsys, monkeypatch):
    out = run("loy_network.py", capsys, monkeypatch)
    assert numbers(line_with(out, "Loy's backprop differ by at most"))[-1] < 1e-12
    outputs = [numbers(line)[-2:] for line in out.splitlines() if line.startswith("input ")]
    assert len(outputs) == 4
    assert all(abs(output - target) < 0.1 for target, output in outputs)
    assert [target for target, _ in outputs] == [0, 1, 1, 0]


# --- MNIST, on a tiny data set of two easy classes written here ----------------------------


def idx_gz(path: Path, array) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(n.to_bytes(4, "big") for n in array.shape)
    path.write_bytes(gzip.compress(header + array.astype(np.uint8).tobytes()))


def write_tiny_mnist(directory: Path, train: int = 200, test: int = 50) -> None:
    """Noisy 28x28 images: a horizontal bar for the label 0, a vertical one for 7."""
    rng = np.random.default_rng(0)
    for prefix, count in (("train", train), ("t10k", test)):
        labels = np.where(np.arange(count) % 2 == 0, 0, 7)
        images = rng.integers(0, 60, size=(count, 28, 28))
        for image, label in zip(images, labels, strict=True):
            at = rng.integers(6, 22)
            if label == 0:
                image[at - 2 : at + 2, 4:24] = 255
            else:
                image[4:24, at - 2 : at + 2] = 255
        idx_gz(directory / f"{prefix}-images-idx3-ubyte.gz", images)
        idx_gz(directory / f"{prefix}-labels-idx1-ubyte.gz", labels)


def test_mnist_mlp_on_a_tiny_mnist(capsys, monkeypatch, tmp_path):
    write_tiny_mnist(tmp_path)
    out = run("mnist_mlp.py", capsys, monkeypatch, str(tmp_path), "--batch-size", "16")
    assert out.startswith("200 training and 50 test images, 784 pixels each\n")
    epochs = [line for line in out.splitlines() if line.startswith("epoch ")]
    assert [line[:10] for line in epochs] == ["epoch 1/3:", "epoch 2/3:", "epoch 3/3:"]
    final = out.splitlines()[-1]
    assert final.startswith("test accuracy ") and numbers(final)[0] >= 0.9
    # the directory from the environment
    monkeypatch.setenv("MNIST_DIR", str(tmp_path))
    again = run("mnist_mlp.py", capsys, monkeypatch, "--epochs", "1")
    assert again.splitlines()[-1].startswith("test accuracy ")


@pytest.mark.parametrize("where", ["missing directory", "empty directory", "no directory"])
def test_mnist_mlp_without_the_files_says_where_to_get_them(capsys, monkeypatch, tmp_path, where):
    monkeypatch.delenv("MNIST_DIR", raising=False)
    args = {"missing directory": [str(tmp_path / "mnist")], "empty directory": [str(tmp_path)]}
    with pytest.raises(SystemExit) as exited:
        run("mnist_mlp.py", capsys, monkeypatch, *args.get(where, []))
    assert exited.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "Traceback" not in captured.err
    first = captured.err.splitlines()[0]
    expected = {
        "missing directory": f"{tmp_path / 'mnist'}: no such directory",
        "empty directory": f"{tmp_path}: no MNIST train file found",
        "no directory": "no directory given, and MNIST_DIR is not set",
    }
    assert first.startswith(f"mnist_mlp.py: error: {expected[where]}")
    assert "https://ossci-datasets.s3.amazonaws.com/mnist/" in captured.err
    assert "train-images-idx3-ubyte.gz" in captured.err


def test_mnist_mlp_as_a_process(tmp_path):
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "mnist_mlp.py"), str(tmp_path / "nowhere")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith(f"mnist_mlp.py: error: {tmp_path / 'nowhere'}: no such directory")
    assert "Traceback" not in done.stderr
