import pytest

import tests._hyp  # noqa: F401  (registers and loads the hypothesis profile: ci or deep)

from perfmodel import hardware
from perfmodel import specs


@pytest.fixture(scope="session")
def h100():
    return hardware.resolve("h100-sxm")


@pytest.fixture(scope="session")
def llama8b():
    return specs.load_model("llama-3.1-8b")
