"""perfmodel: an analytical performance model and autotuner for LLM serving."""

__version__ = "0.1.0"
