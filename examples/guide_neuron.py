"""The Hacker's guide's sigmoid neuron: its hand-written gates next to exprgrad's code.

Chapter 1 of Karpathy's guide builds sigmoid(a*x + b*y + c) from Unit, MultiplyGate,
AddGate and SigmoidGate objects, runs them forward and backward by hand at a = 1, b = 2,
c = -3, x = -1, y = 3, and takes one step of 0.01 along the gradient. This example
does that, then lets exprgrad write the same backward pass: it prints the generated
code and its trace (every line's value and gradient, the guide's table), and checks
that the numbers are the guide's to the last bit.

    python examples/guide_neuron.py
"""

import math

import exprgrad
from exprgrad.sugar import param, sigmoid

# --- the guide's gates, as in chapter 1 ---------------------------------------------------


class Unit:
    def __init__(self, value, grad=0.0):
        self.value = value
        self.grad = grad


class MultiplyGate:
    def forward(self, u0, u1):
        self.u0, self.u1 = u0, u1
        self.utop = Unit(u0.value * u1.value)
        return self.utop

    def backward(self):
        self.u0.grad += self.u1.value * self.utop.grad
        self.u1.grad += self.u0.value * self.utop.grad


class AddGate:
    def forward(self, u0, u1):
        self.u0, self.u1 = u0, u1
        self.utop = Unit(u0.value + u1.value)
        return self.utop

    def backward(self):
        self.u0.grad += 1 * self.utop.grad
        self.u1.grad += 1 * self.utop.grad


def sigmoid_fun(x):
    return 1 / (1 + math.exp(-x))


class SigmoidGate:
    def forward(self, u0):
        self.u0 = u0
        self.utop = Unit(sigmoid_fun(u0.value))
        return self.utop

    def backward(self):
        s = sigmoid_fun(self.u0.value)
        self.u0.grad += (s * (1 - s)) * self.utop.grad


POINT = {"a": 1.0, "b": 2.0, "c": -3.0, "x": -1.0, "y": 3.0}
STEP = 0.01
units = {name: Unit(value) for name, value in POINT.items()}
mulg0, mulg1 = MultiplyGate(), MultiplyGate()
addg0, addg1 = AddGate(), AddGate()
sg0 = SigmoidGate()


def forward_neuron(u):
    ax = mulg0.forward(u["a"], u["x"])
    by = mulg1.forward(u["b"], u["y"])
    axpby = addg0.forward(ax, by)
    axpbypc = addg1.forward(axpby, u["c"])
    return sg0.forward(axpbypc)


s = forward_neuron(units)
s.grad = 1.0
for gate in (sg0, addg1, addg0, mulg1, mulg0):  # backward, in reverse order
    gate.backward()
guide_value = s.value
guide_grads = {name: unit.grad for name, unit in units.items()}
for unit in units.values():
    unit.value += STEP * unit.grad
guide_after = forward_neuron(units).value
print("the guide's gates:")
print(f"  circuit output: {guide_value!r}, a.grad = {guide_grads['a']!r}")
print(f"  after one step of {STEP}: {guide_after!r}")

# The guide's numerical gradient, for comparison: h = 0.0001 on each input in turn.
h = 0.0001


def forward_fast_circuit(a, b, c, x, y):
    return 1 / (1 + math.exp(-(a * x + b * y + c)))


base = forward_fast_circuit(**POINT)
numerical = {
    name: (forward_fast_circuit(**{**POINT, name: POINT[name] + h}) - base) / h for name in POINT
}
print(f"  numerical gradient of a (h = {h}): {numerical['a']!r}")

# --- exprgrad: the same neuron as a formula -------------------------------------------------

neuron = exprgrad.compile("sigmoid(a*x + b*y + c)")
print("\nexprgrad writes the backward pass (exprgrad.compile('sigmoid(a*x + b*y + c)')):\n")
print(neuron.source)
value, grads = neuron.value_and_grad(**POINT)
print("its trace at the guide's point (each line's value, and d output / d line):\n")
print(neuron.trace(**POINT))
print(f"\ncircuit output: {value:.4f}")  # 0.8808
nudged = {name: POINT[name] + STEP * grads[name] for name in POINT}
print(f"circuit output after one backprop: {neuron(**nudged):.5f}")  # 0.88255

print("\ngradient  guide's gates          exprgrad               numerical (h = 0.0001)")
for name in POINT:
    print(f"d/d{name}     {guide_grads[name]!r:<22} {grads[name]!r:<22} {numerical[name]!r}")

# --- exprgrad's gates: the guide's objects, with the backward pass generated ---------------

a, b, c, x, y = param(*POINT.values(), names=list(POINT))
out = sigmoid(a * x + b * y + c)
gate_value = out.compute()
out.backprop(lr=STEP)  # the gradients, then every parameter moves by STEP * its gradient
gate_grads = {"a": a.grad, "b": b.grad, "c": c.grad, "x": x.grad, "y": y.grad}
gate_after = out.compute()
print(f"\nexprgrad.sugar: sigmoid(a*x + b*y + c).compute() = {gate_value!r}")
print(f"  after backprop(lr={STEP}): compute() = {gate_after!r}")

assert guide_value == value == gate_value == 0.8807970779778823
assert guide_grads == grads == gate_grads
assert guide_grads["a"] == -0.10499358540350662
assert guide_after == neuron(**nudged) == gate_after == 0.8825501816218984
assert all(abs(numerical[name] - grads[name]) < 1e-4 for name in POINT)
print("the guide's gates, exprgrad.compile and exprgrad.sugar agree to the last bit")
