"""perfmodel: an analytical performance model and autotuner for LLM serving.

Python API (keyword-only, same names as the CLI options):
    perfmodel.estimate(model=..., hardware=..., tp=..., batch_size=..., isl=..., osl=..., quant=...)
"""

__version__ = "0.1.0"


def estimate(**kwargs):
    """Static-batch estimate; see `perfmodel.estimator.estimate`."""
    from perfmodel.estimator import estimate as _estimate

    return _estimate(**kwargs)


__all__ = ["__version__", "estimate"]
