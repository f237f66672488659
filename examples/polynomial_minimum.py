"""The minimum of f(x) = 3x^2 - 2x + 1 by gradient descent on exprgrad's gates.

The program of exprgrad's origin, as it was written (in Python 3, with an f-string): a parameter x
starting at 1, the polynomial built from it with Python operators, and 16 steps
downhill. backprop(grad=-1, lr=0.1) sends the gradient of -f back, so each step moves
x by -0.1 * f'(x); x goes 1.0, 0.6, 0.44, ... to 1/3, and f to its minimum 2/3.

    python examples/polynomial_minimum.py
"""

from exprgrad.sugar import param

x = param(1)  # starting solution
f = 3 * x**2 - 2 * x + 1

for _ in range(16):
    print(f"f({x.val:.5}) = {f.compute():.5}")
    f.backprop(grad=-1, lr=0.1)
