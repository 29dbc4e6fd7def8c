"""The user-facing error types, defined in `common.errors` (the bottom layer) and re-exported
here for perfmodel's own modules and the API."""

from perfmodel.common.errors import PerfModelError, UnknownNameError, pydantic_message

__all__ = ["PerfModelError", "UnknownNameError", "pydantic_message"]
