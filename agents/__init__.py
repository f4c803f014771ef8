"""Discount policies behind one interface (SB3's ``PolicyPredictor``) and the evaluator that judges them.

``make_policy(name, **kwargs)`` builds a policy by its short name; ``evaluate(policy, scenario, ...)``
runs it against the no-discount counterfactual on the same shoppers.
"""

from discountsim.agents.base import DiscountPolicy, PrivilegedPolicy
from discountsim.agents.baselines import NoDiscountPolicy, RandomPolicy, UniformPolicy
from discountsim.agents.checkpoints import load_policy, save_policy
from discountsim.agents.evaluation import Evaluation, EvaluationShoppers, Lineup, evaluate, evaluate_lineup
from discountsim.agents.fingerprint import Fingerprint, PolicyLoadError, PolicyScenarioMismatch
from discountsim.agents.oracle import MyopicOraclePolicy, OraclePolicy
from discountsim.agents.registry import POLICIES, make_policy
from discountsim.agents.rule_based import RuleBasedPolicy
from discountsim.agents.sb3_agents import ALGORITHMS, agent_config, make_model, train_sb3
from discountsim.agents.supervised import (
    FitReport,
    SupervisedPolicy,
    fit_supervised,
    train_supervised,
    train_supervised_closed_loop,
)
from discountsim.agents.twin import TwinPolicy

__all__ = [
    "ALGORITHMS",
    "POLICIES",
    "DiscountPolicy",
    "Evaluation",
    "EvaluationShoppers",
    "Fingerprint",
    "FitReport",
    "Lineup",
    "MyopicOraclePolicy",
    "NoDiscountPolicy",
    "OraclePolicy",
    "PolicyLoadError",
    "PolicyScenarioMismatch",
    "PrivilegedPolicy",
    "RandomPolicy",
    "RuleBasedPolicy",
    "SupervisedPolicy",
    "TwinPolicy",
    "UniformPolicy",
    "agent_config",
    "evaluate",
    "evaluate_lineup",
    "fit_supervised",
    "load_policy",
    "make_model",
    "make_policy",
    "save_policy",
    "train_sb3",
    "train_supervised",
    "train_supervised_closed_loop",
]
