"""The built-in suites, exported as ``suites.smoke`` and ``suites.classic``.

``rlcore bench suites.smoke`` finds them by registry name from any directory; a suite of your own
lives in a file (see ``benchmarks/example_suite.py``) and runs as ``rlcore bench FILE.py:NAME``.

- ``suites.smoke``: about a minute on 2 cores. Q-learning and Sarsa on the cliff (Example 6.6:
  500 episodes, score = mean return of episodes 401-500; the book's figure shows about -25 for
  Sarsa and -50 for Q-learning over episodes 101-500) and on the windy gridworld (Example 6.5),
  and with the random policy on slippery FrozenLake scored by 100 greedy episodes (success rate).
- ``suites.classic``: the tabular control agents (one-step, n-step, Sarsa(lambda), Dyna-Q,
  Monte Carlo) on gymnasium's toy-text envs and the book's windy gridworld, linear Sarsa with
  tile coding on Mountain Car, DQN on CartPole, and the random policy as the floor. Minutes on
  2 cores.

The racetrack is left out: Sarsa(lambda) with tabular traces takes minutes per run there.
"""

from __future__ import annotations

from rlcore.bench.suite import AgentSpec, Budget, EnvSpec, EvalProtocol, Grid, Suite
from rlcore.registry import export

# The book's settings for the one-step TD control agents on the gridworlds of chapter 6.
_BOOK_TD = {"alpha": 0.5, "epsilon": 0.1, "gamma": 1.0}
_LAKE_TD = {"alpha": 0.1, "epsilon": 0.1, "gamma": 0.99}

_CLIFF = EnvSpec("CliffWalking-v1", label="cliff")
_WINDY = EnvSpec("rlcore/WindyGridworld-v0", label="windy")
# Success rate: scores lie in [0, 1], so that range normalises them for aggregates.
_LAKE = EnvSpec("FrozenLake-v1", label="frozen_lake", score_range=(0.0, 1.0))
_LAKE8 = EnvSpec("FrozenLake8x8-v1", label="frozen_lake8x8", score_range=(0.0, 1.0))

_ONE_STEP = ("q_learning", "sarsa", "expected_sarsa", "double_q_learning")
_GREEDY_100 = EvalProtocol(score="evaluation", eval_episodes=100, last_episodes=100)

smoke = export("suites.smoke")(
    Suite(
        name="smoke",
        description=(
            "A one-minute check of the whole pipeline: one-step TD control on the cliff, the "
            "windy gridworld and FrozenLake, 10 seeds per cell."
        ),
        grids=(
            Grid(
                agents=(
                    AgentSpec("agents.q_learning", _BOOK_TD),
                    AgentSpec("agents.sarsa", _BOOK_TD),
                ),
                envs=(_CLIFF, _WINDY),
                budget=Budget(episodes=500),
                protocol=EvalProtocol(last_episodes=100),
            ),
            Grid(
                agents=(
                    AgentSpec("agents.q_learning", _LAKE_TD),
                    AgentSpec("agents.sarsa", _LAKE_TD),
                    AgentSpec("policies.random"),
                ),
                envs=(_LAKE,),
                budget=Budget(episodes=2000),
                protocol=_GREEDY_100,
            ),
        ),
        seeds=10,
    )
)

# One-step and multi-step tabular control, each with the settings it needs to be stable at the
# book's step size on the gridworlds (n-step and lambda methods take smaller steps).
_GRIDWORLD_AGENTS = (
    *(AgentSpec(f"agents.{a}", _BOOK_TD) for a in _ONE_STEP),
    AgentSpec("agents.n_step_sarsa", {"n": 4, "alpha": 0.2, "epsilon": 0.1, "gamma": 1.0}),
    AgentSpec(
        "agents.sarsa_lambda",
        {"lambda_": 0.9, "trace": "replacing", "alpha": 0.2, "epsilon": 0.1, "gamma": 1.0},
    ),
    AgentSpec("agents.dyna_q", {"n": 5, "alpha": 0.5, "epsilon": 0.1, "gamma": 1.0}),
)
_LAKE_AGENTS = (
    *(AgentSpec(f"agents.{a}", _LAKE_TD) for a in _ONE_STEP),
    AgentSpec("agents.n_step_sarsa", {"n": 4, **_LAKE_TD}),
    AgentSpec("agents.sarsa_lambda", {"lambda_": 0.9, "trace": "replacing", **_LAKE_TD}),
    AgentSpec("agents.mc_control", {"epsilon": 0.1, "gamma": 0.99}),
    AgentSpec("policies.random"),
)
# Linear function approximation with the default 8 x 8 tile coding (8 tilings) of the Box
# observation, step size 0.5 / 8 and greedy acting from zero weights (optimistic: returns are
# negative), as for the book's Mountain Car figures (§10.1).
_TILES = {"alpha": 0.5 / 8, "epsilon": 0.0, "gamma": 1.0}
_LINEAR_AGENTS = (
    AgentSpec("agents.semi_gradient_sarsa", _TILES),
    AgentSpec("agents.true_online_sarsa_lambda", {**_TILES, "lambda_": 0.9}),
    AgentSpec("policies.random"),
)
# DQN with the settings of DQNConfig.preset("cartpole_fast") (rl-zoo's CartPole schedule with a
# smaller network and Double DQN targets), written out as JSON options.
_DQN_CARTPOLE = {
    "learning_rate": 2.3e-3,
    "batch_size": 64,
    "buffer_size": 100_000,
    "learning_starts": 1000,
    "gamma": 0.99,
    "train_freq": 256,
    "gradient_steps": 64,
    "target_update_interval": 10,
    "epsilon_end": 0.04,
    "epsilon_decay_steps": 8000,
    "hidden": [64, 64],
    "double": True,
}

classic = export("suites.classic")(
    Suite(
        name="classic",
        description=(
            "Tabular control agents (one-step, n-step, Sarsa(lambda), Dyna-Q, Monte Carlo) on "
            "gymnasium's toy-text envs and the book's windy gridworld; linear "
            "Sarsa with tile coding on Mountain Car; DQN on CartPole; the random policy as the "
            "floor. 10 seeds."
        ),
        grids=(
            Grid(
                agents=_GRIDWORLD_AGENTS,
                envs=(
                    _CLIFF,
                    _WINDY,
                    EnvSpec("Taxi-v4", label="taxi"),
                ),
                budget=Budget(episodes=500),
                protocol=EvalProtocol(last_episodes=100),
            ),
            Grid(
                agents=_LAKE_AGENTS,
                envs=(_LAKE, _LAKE8),
                budget=Budget(episodes=5000),
                protocol=_GREEDY_100,
            ),
            Grid(
                agents=_LINEAR_AGENTS,
                envs=(EnvSpec("MountainCar-v0", label="mountain_car"),),
                budget=Budget(episodes=100),
                protocol=EvalProtocol(last_episodes=10),
            ),
            Grid(
                agents=(AgentSpec("agents.dqn", _DQN_CARTPOLE), AgentSpec("policies.random")),
                # Returns lie in [0, 500] (the 500-step limit): that range normalises them.
                envs=(EnvSpec("CartPole-v1", label="cartpole", score_range=(0.0, 500.0)),),
                budget=Budget(steps=30_000),
                protocol=EvalProtocol(score="evaluation", eval_episodes=20, last_episodes=10),
            ),
        ),
        seeds=10,
    )
)
