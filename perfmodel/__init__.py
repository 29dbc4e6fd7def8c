"""perfmodel: an analytical performance model and autotuner for LLM serving.

Python API (keyword-only, same names as the CLI options):
    perfmodel.estimate(model=..., hardware=..., tp=..., batch_size=..., isl=..., osl=..., quant=...)
    perfmodel.serve(model=..., hardware=..., workload="sharegpt", rate=10.0, ...)
    perfmodel.bound(model=spec, system=system, plan=Plan(...), isl=..., osl=...)
    perfmodel.tune(model=..., hardware=..., devices=8, workload="fixed:4000:500", ...)
Each returns a typed result with `to_dict()` (the `--json` document of the matching command).
"""

import os as _os

from perfmodel.version import __version__

# The repository keeps each layer in its own top-level folder (common/, specs/, hardware/, search/,
# cli/); the wheel maps them under this package (pyproject.toml, [tool.setuptools] package-dir), so
# an installed perfmodel exposes only `perfmodel` at top level. In a source checkout the same
# names resolve from the folders beside this one (docs/architecture.md, "One namespace").
_HERE = _os.path.dirname(_os.path.abspath(__file__))
_CHECKOUT = _os.path.dirname(_HERE)
if not _os.path.isdir(_os.path.join(_HERE, "hardware")) and _os.path.isdir(_os.path.join(_CHECKOUT, "hardware")):
    __path__.append(_CHECKOUT)  # noqa: F821 (a package's __path__)


def estimate(**kwargs):
    """Static-batch estimate; see `perfmodel.estimator.estimate`."""
    from perfmodel.estimator import estimate as _estimate

    return _estimate(**kwargs)


def serve(**kwargs):
    """Serving simulation / analytic steady state; see `perfmodel.serve_api.serve`."""
    from perfmodel.serve_api import serve as _serve

    return _serve(**kwargs)


def bound(**kwargs):
    """Per-resource throughput bounds; see `perfmodel.bounds.compute_bounds`."""
    from perfmodel.bounds import compute_bounds

    return compute_bounds(**kwargs)


def tune(**kwargs):
    """Search for the best plan; see `perfmodel.search.tune.tune` (the search package sits above perfmodel,
    so it is imported only when called)."""
    from perfmodel.search.tune import tune as _tune

    return _tune(**kwargs)


__all__ = ["__version__", "bound", "estimate", "serve", "tune"]
