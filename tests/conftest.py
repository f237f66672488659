"""Hypothesis profiles, and a summary of what the gradient references verified.

    python -m pytest -q                          "ci": derandomized, every run the same
    EXPRGRAD_FUZZ=long python -m pytest -q       "long": random examples, ten times as many

`--hypothesis-profile=NAME` on the command line wins over both. A test's own
@settings(...) inherits every field it does not name from the profile loaded
here (this file is imported before any test module), so it is derandomized in
"ci" too; in "long" its max_examples is multiplied as well.
"""

from __future__ import annotations

import os
import sys

from hypothesis import HealthCheck, settings

LONG_FACTOR = 10

settings.register_profile(
    "ci",
    derandomize=True,  # reproducible: a failure shows on every run, not one in three
    database=None,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "long",  # max_examples is multiplied per test below
    derandomize=False,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
PROFILE = os.environ.get("EXPRGRAD_FUZZ", "ci")
settings.load_profile(PROFILE)


def pytest_collection_modifyitems(items):
    if settings.get_current_profile_name() != "long":
        return
    done = set()
    for item in items:
        test = getattr(item, "obj", None)
        # @given keeps the settings in force on the test (its own @settings, or the
        # profile); a test's own max_examples would override the profile's anyway.
        own = getattr(test, "_hypothesis_internal_use_settings", None)
        if own is None or id(test) in done:
            continue
        done.add(id(test))
        test._hypothesis_internal_use_settings = settings(
            own, max_examples=own.max_examples * LONG_FACTOR
        )


def pytest_terminal_summary(terminalreporter):
    write = terminalreporter.write_line
    against_jax = sys.modules.get("test_against_jax")
    if against_jax is not None and against_jax.RANDOM_PROGRAMS:
        write("random array programs per category:")
        for category, counts in against_jax.RANDOM_PROGRAMS.items():
            write(f"  {category}: " + ", ".join(f"{k} {n}" for k, n in counts.items()))
    reference = sys.modules.get("reference")
    if reference is None or not reference.VERIFIED:
        return
    write(f"hypothesis profile: {settings.get_current_profile_name()}")
    verified = ", ".join(f"{name} {reference.VERIFIED[name]}" for name in reference.REFERENCES)
    write(f"gradient references verified (values and components): {verified}")
    for why, count in sorted(reference.SKIPPED.items()):
        write(f"  skipped {count}: {why}")
