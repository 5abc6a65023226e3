"""Registry behaviour: names, duplicates, aliases, deprecation, suggestions."""

import warnings

import pytest

import rlcore
from rlcore import registry


@pytest.fixture
def scratch(isolated_registry):
    """Tests that register names forget them afterwards (see conftest.isolated_registry)."""
    return isolated_registry


def test_export_returns_object_unchanged_and_resolves(scratch):
    class Thing:
        pass

    assert registry.export("policies.test_thing", "policies.test_alias")(Thing) is Thing
    assert rlcore.get("policies.test_thing") is Thing
    assert rlcore.get("policies.test_alias") is Thing
    assert rlcore.name_of(Thing) == "policies.test_thing"
    assert rlcore.name_of(Thing()) == "policies.test_thing"
    assert isinstance(rlcore.make("policies.test_thing"), Thing)
    assert "policies.test_thing" in rlcore.names("policies.")
    assert "policies.test_alias" not in rlcore.names()  # aliases are not canonical names


def test_two_objects_under_one_name_fail(scratch):
    registry.export("policies.test_clash")(type("A", (), {}))
    with pytest.raises(registry.RegistryError, match="already taken"):
        registry.export("policies.test_clash")(type("B", (), {}))


def test_alias_clash_with_other_object_fails(scratch):
    registry.export("policies.test_one")(type("A", (), {}))
    with pytest.raises(registry.RegistryError, match="already taken"):
        registry.export("policies.test_two", "policies.test_one")(type("B", (), {}))


def test_same_object_twice_is_a_no_op(scratch):
    class A:
        pass

    registry.export("policies.test_same")(A)
    registry.export("policies.test_same")(A)
    assert rlcore.get("policies.test_same") is A


def test_one_object_has_one_canonical_name(scratch):
    class A:
        pass

    registry.export("policies.test_first")(A)
    with pytest.raises(registry.RegistryError, match="alias"):
        registry.export("policies.test_second")(A)


def test_deprecated_name_warns_with_canonical(scratch):
    class A:
        pass

    registry.export("policies.test_new", deprecated=("policies.test_old",))(A)
    with pytest.warns(DeprecationWarning, match="policies.test_new"):
        assert rlcore.get("policies.test_old") is A
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert rlcore.get("policies.test_new") is A  # canonical: no warning


@pytest.mark.parametrize(
    "bad", ["Agents.Sarsa", "sarsa", "agents.", "agents..x", "nosuchspace.x", "agents.q-learning"]
)
def test_malformed_names_rejected(bad):
    with pytest.raises(registry.RegistryError):
        registry.export(bad)


def test_unknown_name_suggests_and_lists_namespace():
    with pytest.raises(registry.UnknownNameError) as err:
        rlcore.get("policies.randon")
    message = str(err.value)
    assert "Did you mean" in message and "'policies.random'" in message
    assert "Known names in 'policies'" in message


def test_unknown_namespace_lists_namespaces():
    with pytest.raises(registry.UnknownNameError, match="Known namespaces"):
        rlcore.get("nosuch.thing")


def test_name_of_unexported_object_explains():
    with pytest.raises(registry.UnknownNameError, match="export"):
        rlcore.name_of(object())


def test_make_non_callable_refuses(scratch):
    registry.export("policies.test_constant")(42)
    with pytest.raises(TypeError, match="not callable"):
        rlcore.make("policies.test_constant")


def test_numpy_names_resolve_without_torch():
    import subprocess
    import sys

    code = (
        "import sys, rlcore; rlcore.get('agents.q_learning'); rlcore.get('policies.epsilon_greedy');"
        "rlcore.get('features.tile_coding'); rlcore.get('planning.value_iteration');"
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False"]


def test_import_rlcore_is_cheap():
    import subprocess
    import sys

    code = "import sys, rlcore; print('torch' in sys.modules, 'rlcore.tabular.planning' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
