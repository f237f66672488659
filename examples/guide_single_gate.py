"""The Hacker's guide's single gate f(x, y) = x*y, by its three strategies and by exprgrad.

Chapter 1 of Karpathy's Hacker's guide to Neural Networks asks how to nudge x = -2 and
y = 3 so that x*y grows. It tries random local search (tweaks of 0.01), the numerical
gradient (h = 0.0001) and the analytic gradient, stepping 0.01 along each; then the same
gradient from exprgrad.compile and from exprgrad.sugar's gates. All agree: the gradient
is (3, -2), and one step takes the output from -6 to -5.8706.

    python examples/guide_single_gate.py
"""

import random

import exprgrad
from exprgrad.sugar import param


def forward_multiply_gate(x, y):
    return x * y


X, Y = -2.0, 3.0
STEP = 0.01  # the guide's step_size
print(f"f(x, y) = x*y at x = {X}, y = {Y}: {forward_multiply_gate(X, Y)}")

# Strategy 1: random local search. Tweak x and y a little, keep the best.
random.seed(1)
tweak_amount = 0.01
best_out, best_x, best_y = -float("inf"), X, Y
for _ in range(100):
    x_try = X + tweak_amount * (random.random() * 2 - 1)
    y_try = Y + tweak_amount * (random.random() * 2 - 1)
    out = forward_multiply_gate(x_try, y_try)
    if out > best_out:
        best_out, best_x, best_y = out, x_try, y_try
print(f"1. random local search: best x = {best_x:.5f}, y = {best_y:.5f}, out = {best_out:.5f}")

# Strategy 2: the numerical gradient, a small step h in each input.
h = 0.0001
out = forward_multiply_gate(X, Y)
x_derivative = (forward_multiply_gate(X + h, Y) - out) / h
y_derivative = (forward_multiply_gate(X, Y + h) - out) / h
numerical_out = forward_multiply_gate(X + STEP * x_derivative, Y + STEP * y_derivative)
print(
    f"2. numerical gradient: dx = {x_derivative:.6f}, dy = {y_derivative:.6f}; "
    f"one step: {numerical_out:.6f}"
)

# Strategy 3: the analytic gradient. d(x*y)/dx = y and d(x*y)/dy = x.
x_gradient, y_gradient = Y, X
analytic_out = forward_multiply_gate(X + STEP * x_gradient, Y + STEP * y_gradient)
print(f"3. analytic gradient: dx = {x_gradient}, dy = {y_gradient}; one step: {analytic_out:.6f}")

# exprgrad writes strategy 3 for us: the generated code returns {'x': y, 'y': x}.
f = exprgrad.compile("x*y")
value, grads = f.value_and_grad(x=X, y=Y)
compiled_out = f(x=X + STEP * grads["x"], y=Y + STEP * grads["y"])
print(f"exprgrad.compile: value = {value}, gradient = {grads}; one step: {compiled_out:.6f}")

# ... and so do the gates: backprop(lr) moves every parameter by lr * its gradient.
x, y = param(X, Y, names="x y")
product = x * y
product.compute()
product.backprop(lr=STEP)
print(
    f"exprgrad.sugar gates: x.grad = {x.grad}, y.grad = {y.grad}; one step: {product.compute():.6f}"
)

assert grads == {"x": x_gradient, "y": y_gradient} == {"x": x.grad, "y": y.grad}
assert abs(x_derivative - x_gradient) < 1e-6 and abs(y_derivative - y_gradient) < 1e-6
assert compiled_out == analytic_out == product.val
print(f"all agree: the gradient is ({x_gradient}, {y_gradient}); one step gives {analytic_out:.4f}")
