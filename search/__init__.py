"""search: spaces, searchers (grid, Optuna, integer programs), Pareto fronts and exporters.

    from perfmodel.search import tune
    result = tune(model="llama-3.1-70b", hardware="h100-sxm", devices=8, workload="4000/500",
                  ttft_slo=1000, tpot_slo=50, space={"quant": "bf16"})
"""

from perfmodel.search._base import SearchResult, Searcher, get_searcher, register, searcher_names
from perfmodel.search.evaluate import evaluate
from perfmodel.search.problem import SLO, Problem
from perfmodel.search.plan_file import PlanFile, load_plan_file
from perfmodel.search.space import PlanTable, SearchSpace
from perfmodel.search.tune import NoPlanMeetsSLO, TuneResult, tune

__all__ = ["NoPlanMeetsSLO", "PlanFile", "PlanTable", "Problem", "SLO", "SearchResult", "SearchSpace", "Searcher",
           "TuneResult", "evaluate", "get_searcher", "load_plan_file", "register", "searcher_names", "tune"]
