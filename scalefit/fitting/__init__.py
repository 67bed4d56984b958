"""The fitting engine: data sets, objectives, multi-start optimisation, bootstrap, backtests.

>>> import scalefit
>>> res = scalefit.fit("data/chinchilla.csv", law="chinchilla", bootstrap=200)  # doctest: +SKIP
>>> res.params_["alpha"], res.ci_["alpha"]  # doctest: +SKIP
"""

from scalefit.fitting.api import fit, fit_dataset, prepare
from scalefit.fitting.backtest import backtest, compare, parse_holdout
from scalefit.fitting.bootstrap import bootstrap, delta_method, resample_weights
from scalefit.fitting.dataset import Dataset, build_dataset, choose_metric
from scalefit.fitting.objective import OBJECTIVES, Objective, make_objective
from scalefit.fitting.optimize import Problem, batched_lbfgs, make_parameters, multistart

__all__ = [
    "OBJECTIVES",
    "Dataset",
    "Objective",
    "Problem",
    "backtest",
    "batched_lbfgs",
    "bootstrap",
    "build_dataset",
    "choose_metric",
    "compare",
    "delta_method",
    "fit",
    "fit_dataset",
    "make_objective",
    "make_parameters",
    "multistart",
    "parse_holdout",
    "prepare",
    "resample_weights",
]
