"""Messages a user reads name public names and say what to do (issue 19, item 4)."""

import pickle

import gymnasium as gym
import numpy as np
import pytest

import rlcore

OFF_POLICY = ["agents.off_policy_td", "agents.tdc", "agents.gtd2", "agents.emphatic_td"]


@pytest.mark.parametrize("name", OFF_POLICY)
def test_off_policy_agents_without_policies_name_themselves_and_the_fix(name):
    env = gym.make("rlcore/Baird-v0")
    with pytest.raises(TypeError) as err:
        rlcore.make(name, env)
    text = str(err.value)
    assert text.startswith(name) and "_OffPolicyAgent" not in text
    assert "target=" in text and "behavior=" in text
    assert "envs.baird_target_policy" in text and "envs.baird_behavior_policy" in text
    target = rlcore.get("envs.baird_target_policy")()
    with pytest.raises(TypeError, match=r"missing behavior=\."):
        rlcore.make(name, env, target=target)
    behavior = rlcore.get("envs.baird_behavior_policy")()
    rlcore.make(name, env, target=target, behavior=behavior)  # and with both it builds


def test_make_names_the_public_object_when_arguments_do_not_fit():
    with pytest.raises(TypeError, match=r"rlcore.make\('agents.q_learning', ...\): missing .*env"):
        rlcore.make("agents.q_learning")
    spaces = (gym.spaces.Discrete(3), gym.spaces.Discrete(2))
    with pytest.raises(TypeError, match=r"agents.td0.*too many positional") as err:
        rlcore.make("agents.td0", spaces, None, None, 3)
    assert "TD0" not in str(err.value).split("Its arguments")[0]


def test_a_raw_pickle_is_refused_with_what_to_do_instead(tmp_path):
    file = tmp_path / "agent.pkl"
    file.write_bytes(pickle.dumps({"q": np.zeros(3)}))
    with pytest.raises(ValueError, match=r"a pickle.*never unpickles.*rlcore.save\(obj, DIR\)"):
        rlcore.load(file)
    from rlcore.data import DatasetError, load_dataset

    with pytest.raises(DatasetError, match=r"never unpickles.*`rlcore data collect"):
        load_dataset(file)


def test_figure_notes_print_plain_numbers(tmp_path):
    from rlcore.book.report import plain_numbers, write_summary

    cell = (np.int64(3), np.int64(20))
    note = f"largest at {cell}, value {np.float64(0.5)!r}, {[np.int32(1)]}, {np.bool_(True)!r}"
    assert plain_numbers(note) == "largest at (3, 20), value 0.5, [1], True"
    summary = write_summary(tmp_path, [{"figure": "figure_x", "checks": {}, "notes": [note]}])
    text = summary.read_text()
    assert "largest at (3, 20)" in text and "np." not in text
    assert "np." not in (tmp_path / "checks.json").read_text()
