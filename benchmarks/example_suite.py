"""A suite of your own, in a file: run it with

    rlcore bench benchmarks/example_suite.py:step_sizes --workers 2 --out /tmp/step-sizes

Agents and envs are named, not imported: registry names (`rlcore list agents.`) and gymnasium ids
(`rlcore envs --all`), with JSON configs. Labels tell apart one agent under two configs. Workers
import this file too, so an agent defined here and exported with `@rlcore.export("agents.…")`
can be benchmarked without packaging it.
"""

from rlcore.bench import AgentSpec, Budget, EnvSpec, EvalProtocol, Grid, Suite

# Sarsa on the cliff with three step sizes (Sutton & Barto, Figure 6.3 looks at this range):
# each config is its own cell, told apart by its label.
step_sizes = Suite(
    name="step_sizes",
    description="Sarsa and Q-learning on the cliff with alpha in {0.1, 0.5, 0.9}.",
    grids=(
        Grid(
            agents=tuple(
                AgentSpec(
                    f"agents.{name}", {"alpha": alpha, "epsilon": 0.1}, label=f"{name}_a{alpha}"
                )
                for name in ("sarsa", "q_learning")
                for alpha in (0.1, 0.5, 0.9)
            ),
            envs=(EnvSpec("CliffWalking-v1"),),
            budget=Budget(episodes=300),
            # Score: the mean return of the last 100 training episodes.
            protocol=EvalProtocol(last_episodes=100),
        ),
    ),
    seeds=5,
)
