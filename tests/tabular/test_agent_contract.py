"""The Agent contract, run by rlcore.testing.check_agent over every tabular agent in the registry,
with no special cases: protocol, actions, seeding, save/load, learning against DP."""

import pytest

import rlcore
from rlcore.testing import check_agent

TABULAR_AGENTS = [
    name
    for name in rlcore.names("agents.")
    if rlcore.get(name).__module__.startswith("rlcore.tabular")
]


def test_the_registry_holds_the_tabular_agents_of_the_book():
    expected = {
        "agents.mc_prediction", "agents.constant_alpha_mc", "agents.mc_exploring_starts",
        "agents.mc_control", "agents.off_policy_mc", "agents.td0", "agents.sarsa",
        "agents.expected_sarsa", "agents.q_learning", "agents.double_q_learning",
        "agents.n_step_td", "agents.n_step_sarsa", "agents.tree_backup", "agents.td_lambda",
        "agents.sarsa_lambda", "agents.true_online_td_lambda", "agents.dyna_q",
        "agents.dyna_q_plus", "agents.prioritized_sweeping",
    }  # fmt: skip
    assert expected <= set(TABULAR_AGENTS)


@pytest.mark.parametrize("name", TABULAR_AGENTS)
def test_agent_honours_the_contract_and_learns(name):
    report = check_agent(rlcore.get(name))
    assert report.ok, str(report)
    assert all(item.status == "pass" for item in report.items), str(report)
