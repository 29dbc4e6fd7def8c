"""perfmodel: an analytical performance model and autotuner for LLM serving.

Python API (keyword-only, same names as the CLI options):
    perfmodel.estimate(model=..., hardware=..., tp=..., batch_size=..., isl=..., osl=..., quant=...)
    perfmodel.serve(model=..., hardware=..., workload="sharegpt", rate=10.0, ...)
    perfmodel.bound(model=spec, system=system, plan=Plan(...), isl=..., osl=...)
    perfmodel.tune(model=..., hardware=..., devices=8, workload="fixed:4000:500", ...)
Each returns a typed result with `to_dict()` (the `--json` document of the matching command).
"""

__version__ = "0.1.0"


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
    """Search for the best plan; see `search.tune.tune` (the search package sits above perfmodel,
    so it is imported only when called)."""
    from search.tune import tune as _tune

    return _tune(**kwargs)


__all__ = ["__version__", "bound", "estimate", "serve", "tune"]
