"""`random:ISL:OSL:RATIO`: lengths uniform on [RATIO x len, len], as the benchmark clients draw them."""

import pytest

from perfmodel.errors import PerfModelError
from perfmodel.specs.workload import load_workload


def test_random_lengths_span_the_ratio():
    r = load_workload("random:1000:200:0.8").sample(4000, offline=True, seed=1)
    assert r.input_tokens.min() >= 800 and r.input_tokens.max() <= 1000
    assert r.output_tokens.min() >= 160 and r.output_tokens.max() <= 200
    assert r.input_tokens.mean() == pytest.approx(900, rel=0.01)
    one = load_workload("random:64:8:1").sample(10, offline=True)
    assert (one.input_tokens == 64).all() and (one.output_tokens == 8).all()


@pytest.mark.parametrize("spec", ["random:1000:200", "random:1000:200:0", "random:1000:200:1.5", "random:x:2:0.5"])
def test_bad_random_specs_name_the_form(spec):
    with pytest.raises(PerfModelError, match="expected random:ISL:OSL:RATIO"):
        load_workload(spec)
