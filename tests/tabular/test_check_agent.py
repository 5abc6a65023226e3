"""rlcore.testing.check_agent on student-style agents: a correct one passes, each classic
mistake fails with an explanation, and check_agent_main loads classes from modules or files."""

import textwrap

import numpy as np
import pytest

from rlcore.testing import check_agent, check_agent_main


class StudentQLearning:
    """What a student might write: Q-learning with NumPy, no checkpoint support."""

    def __init__(self, env, alpha=0.5, epsilon=0.1, gamma=1.0):
        self.q = np.zeros((env.observation_space.n, env.action_space.n))
        self.alpha, self.epsilon, self.gamma = alpha, epsilon, gamma
        self.rng = np.random.default_rng()

    def seed(self, seed):
        self.rng = np.random.default_rng(seed)

    def reset(self):
        pass

    def act(self, obs, *, explore=False):
        if explore and self.rng.random() < self.epsilon:
            return int(self.rng.integers(self.q.shape[1]))
        best = np.flatnonzero(self.q[obs] == self.q[obs].max())
        return int(self.rng.choice(best))

    def observe(self, t):
        target = t.reward + (0.0 if t.terminated else self.gamma * self.q[t.next_obs].max())
        self.q[t.obs, t.action] += self.alpha * self.error(target, self.q[t.obs, t.action])

    def error(self, target, value):
        return target - value


class WrongSign(StudentQLearning):
    def error(self, target, value):
        return value - target


class GlobalRandom(StudentQLearning):
    def act(self, obs, *, explore=False):
        if explore and np.random.random() < 0.5:  # noqa: NPY002 (the mistake under test)
            return int(np.random.randint(2))  # noqa: NPY002
        return int(np.argmax(self.q[obs]))


class FloatActions(StudentQLearning):
    def act(self, obs, *, explore=False):
        return float(super().act(obs, explore=explore))


class NoReset:
    def __init__(self, env):
        self.q = np.zeros((env.observation_space.n, env.action_space.n))

    def seed(self, seed):
        pass

    def act(self, obs, *, explore=False):
        return 0

    def observe(self, t):
        pass


class StudentTD0:
    """TD(0) prediction of the uniform random policy."""

    def __init__(self, env, alpha=0.05):
        self.v = np.zeros(env.observation_space.n)
        self.n_actions, self.alpha = env.action_space.n, alpha
        self.rng = np.random.default_rng()

    def seed(self, seed):
        self.rng = np.random.default_rng(seed)

    def reset(self):
        pass

    def act(self, obs, *, explore=False):
        return int(self.rng.integers(self.n_actions))

    def observe(self, t):
        target = t.reward + (0.0 if t.terminated else self.v[t.next_obs])
        self.v[t.obs] += self.alpha * (target - self.v[t.obs])


class AlwaysRight(StudentTD0):
    def act(self, obs, *, explore=False):
        return 1


def statuses(report):
    return {item.name: item.status for item in report.items}


def test_a_correct_student_agent_passes_and_save_load_is_skipped():
    report = check_agent(StudentQLearning)
    assert report.ok, str(report)
    assert statuses(report)["learning"] == "pass"
    assert statuses(report)["save/load"] == "skip"
    assert "state() / from_state()" in str(report)


def test_a_correct_prediction_agent_passes():
    report = check_agent(StudentTD0)
    assert report.ok, str(report)
    assert "RMS error" in str(report)


@pytest.mark.parametrize(
    "cls, check, words",
    [
        (WrongSign, "learning", "the updates diverged"),
        (GlobalRandom, "seeding", "np.random.default_rng(seed)"),
        (FloatActions, "actions", "return a Python int"),
        (NoReset, "protocol", "missing method(s) reset"),
        (AlwaysRight, "learning", "follows its policy"),
    ],
)
def test_each_classic_mistake_fails_with_an_explanation(cls, check, words):
    report = check_agent(cls)
    assert not report.ok
    assert statuses(report)[check] == "fail", str(report)
    assert words in str(report)


def test_exceptions_in_student_code_are_reported_with_their_place():
    class Crashes(StudentQLearning):
        def observe(self, t):
            raise RuntimeError("boom")

    report = check_agent(Crashes)
    assert "raised RuntimeError: boom" in str(report)
    assert "test_check_agent.py" in str(report)


def test_check_agent_main_loads_a_file_and_returns_an_exit_code(tmp_path, capsys):
    source = tmp_path / "my_agent.py"
    source.write_text(
        "import numpy as np\n"
        + textwrap.dedent(
            """
            class Lazy:
                def __init__(self, env):
                    self.q = np.zeros((env.observation_space.n, env.action_space.n))
                def seed(self, seed): pass
                def reset(self): pass
                def act(self, obs, *, explore=False): return 0
                def observe(self, t): pass
            """
        )
    )
    assert check_agent_main(f"{source}:Lazy") == 1
    out = capsys.readouterr().out
    assert "check-agent report for" in out and "FAIL  learning" in out
    assert check_agent_main("rlcore.tabular.td:QLearning") == 0
    assert check_agent_main("no_such_module_xyz:Agent") == 2
    assert check_agent_main("just_a_name") == 2
    assert "use module:Class" in capsys.readouterr().out
