"""The Hacker's guide's single neuron: forward, backward, and one step uphill.

python examples/sigmoid_neuron.py
"""

import exprgrad

neuron = exprgrad.compile("sigmoid(a*x + b*y + c)")
print(neuron.source)

point = dict(a=1.0, b=2.0, c=-3.0, x=-1.0, y=3.0)
value, grads = neuron.value_and_grad(**point)
print(f"circuit output: {value:.4f}")  # 0.8808

# Nudge every input along its gradient, as the guide does, and the output rises.
step = 0.01
nudged = {name: point[name] + step * grads[name] for name in point}
print(f"circuit output after one backprop: {neuron(**nudged):.5f}")  # 0.88255
