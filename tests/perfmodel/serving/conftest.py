"""Pools built on the real step model (Llama-3.1-8B on one H100) for the serving tests."""

import pytest

from perfmodel import hardware
from perfmodel import specs
from perfmodel.plan import Plan
from perfmodel.serving.deployment import build_pool
from perfmodel.serving.engine_profiles import get_engine


@pytest.fixture(scope="session")
def llama8b_h100():
    return specs.load_model("llama-3.1-8b"), hardware.resolve("h100-sxm")


@pytest.fixture(scope="session")
def make_pool(llama8b_h100):
    model, system = llama8b_h100

    def make(engine="ideal", scheduler=None, **kw):
        plan_kw = {k: kw.pop(k) for k in ("tp", "dp", "quant", "max_batch", "token_budget") if k in kw}
        return build_pool(model=model, system=system, engine=get_engine(engine), plan=Plan(**plan_kw),
                          scheduler=scheduler, **kw)
    return make
