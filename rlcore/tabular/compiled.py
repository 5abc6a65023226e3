"""Compiled per-run loops for one-step TD control: Sarsa, Expected Sarsa and Q-learning in one
call, one method and one step size per run (Sutton & Barto (2018) §6.4-6.6).

The batched engine (``rlcore.tabular.batched.run_batched``) steps all runs together in NumPy, so
its time is set by the serial depth, the steps of the longest run, at tens of microseconds per
step whatever the width. Figure 6.3's asymptotic study is 100,000 episodes per run; Sarsa at
alpha = 1 averages about 133 steps per episode there, 13 million sequential steps, which no
batch width shortens (about 20 minutes through the engine). Here each run is a plain loop over
its own steps, compiled with numba when it is installed (``pip install rlcore[fast]``): the
cost is the total number of steps of all runs at a few tens of nanoseconds each, and runs never
wait for one another.

Per step, for the run's method (targets as ``rlcore.returns``; behaviour epsilon-greedy with
random tie-breaking, the rule of ``rlcore.tabular.policies.epsilon_greedy_action``: with
uniforms u_explore, u_pick, explore if u_explore < epsilon and take the floor(u_pick n)-th of
the n offered actions, else the floor(u_pick k)-th of the k greedy ones):

    Sarsa:           A' ~ pi(.|S') from Q before the update;  target R + gamma Q(S', A')
    Expected Sarsa:  target R + gamma sum_a pi(a|S') Q(S', a)
    Q-learning:      target R + gamma max_a Q(S', a)
    Q(S, A) <- Q(S, A) + alpha [target - Q(S, A)]         (no bootstrap when S' is terminal)

Q-learning and Expected Sarsa pick A_t when they act (after the previous update), Sarsa picks
A' before updating and the first action of an episode after the last update of the previous
one, as in the book's boxes and the batched engine. A cut episode (``max_episode_steps``)
bootstraps. The random stream is one ``np.random.Generator`` consumed run after run, so the
same seed gives the same numbers, compiled or not (``backend="python"`` runs the same loop
uncompiled, for tests); the numbers differ from the batched engine's (another order of draws)
but have the same distribution (``tests/tabular/test_compiled.py`` compares both).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from rlcore.tabular.batched_envs import ModelBatchEnv
from rlcore.validation import as_generator, check_int

METHODS = ("sarsa", "expected_sarsa", "q_learning")
BACKENDS = ("auto", "numba", "python", "numpy")
_SARSA, _EXPECTED_SARSA, _Q_LEARNING = 0, 1, 2


def numba_available() -> bool:
    """True when numba imports (the ``fast`` extra)."""
    try:
        import numba  # noqa: F401
    except ImportError:
        return False
    return True


def _behave(q, s, offered, n_actions, epsilon, rng):
    """Epsilon-greedy A in state s over the offered actions (``epsilon_greedy_action``'s rule)."""
    u_explore = rng.random()
    u_pick = rng.random()
    if u_explore < epsilon:
        n = 0
        for a in range(n_actions):
            if offered[s, a]:
                n += 1
        j = int(u_pick * n)
        for a in range(n_actions):
            if offered[s, a]:
                if j == 0:
                    return a
                j -= 1
    best = -np.inf
    k = 0
    for a in range(n_actions):
        if offered[s, a]:
            if q[s, a] > best:
                best = q[s, a]
                k = 1
            elif q[s, a] == best:
                k += 1
    j = int(u_pick * k)
    for a in range(n_actions):
        if offered[s, a] and q[s, a] == best:
            if j == 0:
                return a
            j -= 1
    return -1  # unreachable: every state offers an action


def _value(q, s, offered, n_actions, epsilon, expected):
    """max_a Q(s, a) (Q-learning) or sum_a pi(a|s) Q(s, a) for epsilon-greedy pi (Expected
    Sarsa: epsilon / n on each offered action plus (1 - epsilon) / k on the k greedy ones)."""
    best = -np.inf
    k = 0
    n = 0
    total = 0.0
    for a in range(n_actions):
        if offered[s, a]:
            n += 1
            total += q[s, a]
            if q[s, a] > best:
                best = q[s, a]
                k = 1
            elif q[s, a] == best:
                k += 1
    if not expected:
        return best
    return epsilon / n * total + (1.0 - epsilon) * best  # the k ties share (1 - eps) of best


def _start(initial_cdf, single_start, rng):
    if single_start >= 0:
        return single_start
    u = rng.random()
    s = 0
    while s < initial_cdf.shape[0] - 1 and u >= initial_cdf[s]:
        s += 1
    return s


def _outcome(indptr, cum, row, rng):
    """Index of the outcome drawn for (s, a) row ``row`` (one uniform unless deterministic)."""
    lo, hi = indptr[row], indptr[row + 1]
    if hi - lo == 1:
        return lo
    u = rng.random()
    k = lo
    while k < hi - 1 and u >= cum[k]:
        k += 1
    return k


def _kernel(
    indptr, cum, next_state, reward, terminated, initial_cdf, single_start, offered,
    method, alpha, epsilon, gamma, initial_value, episodes, max_len, rng, returns, lengths,
):  # fmt: skip
    n_states, n_actions = offered.shape
    q = np.empty((n_states, n_actions))
    for i in range(method.shape[0]):
        q[:, :] = initial_value
        m, step_size = method[i], alpha[i]
        s = _start(initial_cdf, single_start, rng)
        a = _behave(q, s, offered, n_actions, epsilon, rng)
        for e in range(episodes):
            g = 0.0
            t = 0
            while True:
                if m != _SARSA:
                    a = _behave(q, s, offered, n_actions, epsilon, rng)
                k = _outcome(indptr, cum, s * n_actions + a, rng)
                s2, r, term = next_state[k], reward[k], terminated[k]
                g += r
                t += 1
                cut = (not term) and max_len > 0 and t >= max_len
                a2 = 0
                target = r
                if m == _SARSA:
                    if not term:
                        a2 = _behave(q, s2, offered, n_actions, epsilon, rng)
                        target = r + gamma * q[s2, a2]
                elif not term:
                    target = r + gamma * _value(
                        q, s2, offered, n_actions, epsilon, m == _EXPECTED_SARSA
                    )
                q[s, a] += step_size * (target - q[s, a])
                if term or cut:
                    break
                s, a = s2, a2
            returns[i, e] = g
            lengths[i, e] = t
            s = _start(initial_cdf, single_start, rng)
            if m == _SARSA:  # A_0 of the next episode, from the updated Q
                a = _behave(q, s, offered, n_actions, epsilon, rng)


_COMPILED: dict[str, Any] = {}


def jit_kernel(kernel: Any, helpers: tuple[Any, ...]) -> Any:
    """``kernel`` compiled with numba (``njit``, cached on disk), the plain-Python ``helpers`` it
    calls by name compiled with it; once per process. The uncompiled functions stay usable as
    they are (the same loop in Python, for tests)."""
    key = f"{kernel.__module__}.{kernel.__qualname__}"
    if key not in _COMPILED:
        import numba

        jit = numba.njit(cache=True)
        namespace = dict(kernel.__globals__)  # shared: helpers may call one another

        def rebound(f: Any) -> Any:
            return jit(type(f)(f.__code__, namespace, f.__name__))

        namespace.update({f.__name__: rebound(f) for f in helpers})
        _COMPILED[key] = rebound(kernel)
    return _COMPILED[key]


def run_td_control(
    env: Any,
    *,
    method: Any,
    alpha: Any,
    episodes: int,
    epsilon: float = 0.1,
    gamma: float = 1.0,
    initial_value: float = 0.0,
    seed: int | np.random.Generator | None = 0,
    max_episode_steps: int | None = None,
    backend: str = "auto",
) -> dict[str, Any]:
    """R runs of Sarsa / Expected Sarsa / Q-learning, each run its own method and step size.

    Args:
        env: anything ``rlcore.tabular.batched.as_batched_env`` accepts whose batched form is a
            finite model without reward noise (``ModelBatchEnv``; action masks are honoured).
        method: (R,) method names from ``METHODS`` (or one name for every run).
        alpha: (R,) step sizes in (0, 1] (or one for every run); R = len(method) or len(alpha).
        episodes: E, episodes per run.
        epsilon, gamma, initial_value: as ``TDControlConfig``.
        seed: seed or Generator of the one random stream (consumed run after run).
        max_episode_steps: cut episodes at this length (they bootstrap); default the env id's
            registered time limit, as ``run_batched``.
        backend: "numba" (compiled; needs the ``fast`` extra), "python" (the same loop,
            uncompiled: the same numbers, for tests on small budgets), "numpy" (the batched
            engine, one call per method: the same distribution, other numbers), or "auto"
            (numba if installed, else numpy).

    Returns:
        dict with ``returns`` (R, E) undiscounted return per episode, ``lengths`` (R, E) steps
        per episode (int32), ``backend`` (the one used), ``wall_time`` (seconds).
    """
    from rlcore.tabular.base import check_epsilon, check_gamma, check_initial, check_option
    from rlcore.tabular.batched import _registered_time_limit, as_batched_env

    check_option("backend", backend, BACKENDS)
    episodes = check_int("episodes", episodes, 1, hint="Pass the episodes per run, e.g. 100.")
    check_epsilon(epsilon)
    check_gamma(gamma)
    check_initial(initial_value)
    names, step_size = _per_run_settings(method, alpha)
    if max_episode_steps is None:
        max_episode_steps = _registered_time_limit(env)
    else:
        check_int("max_episode_steps", max_episode_steps, 1)
    benv = as_batched_env(env)
    if not isinstance(benv, ModelBatchEnv) or benv.reward_std is not None:
        raise ValueError(
            f"run_td_control needs a finite model without reward noise; {type(benv).__name__} "
            "is not one. Use rlcore.tabular.batched.run_batched, one call per method."
        )
    if backend == "auto":
        backend = "numba" if numba_available() else "numpy"
    if backend == "numba" and not numba_available():
        raise ImportError(
            "backend='numba' needs numba: pip install 'rlcore[fast]' (or backend='numpy')."
        )
    rng = as_generator(seed)
    t0 = time.perf_counter()
    if backend == "numpy":
        returns, lengths = _per_method(benv, names, step_size, episodes, epsilon, gamma,
                                       initial_value, max_episode_steps, rng)  # fmt: skip
    else:
        returns, lengths = _compiled(benv, names, step_size, episodes, epsilon, gamma,
                                     initial_value, max_episode_steps, rng, backend)  # fmt: skip
    return {
        "returns": returns,
        "lengths": lengths,
        "backend": backend,
        "wall_time": time.perf_counter() - t0,
    }


def _per_run_settings(method: Any, alpha: Any) -> tuple[np.ndarray, np.ndarray]:
    """(R,) method names and (R,) step sizes from one value or one per run of each."""
    from rlcore.tabular.base import check_option
    from rlcore.tabular.batched_learners import per_run_alpha

    names = np.atleast_1d(np.asarray(method, dtype=object))
    runs = max(names.size, np.size(alpha))
    if names.size not in (1, runs) or np.size(alpha) not in (1, runs):
        raise ValueError(
            f"method has {names.size} entries and alpha {np.size(alpha)}; pass one of each per "
            "run (or a single value for every run)"
        )
    if names.size == 1:
        names = np.repeat(names, runs)
    for name in set(names.tolist()):
        check_option("method", name, METHODS)
    return names, per_run_alpha(alpha if np.size(alpha) > 1 else np.ravel(alpha)[0], runs)


def _compiled(benv, names, step_size, episodes, epsilon, gamma, initial_value,
              max_episode_steps, rng, backend) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """The per-run loop (``_kernel``), compiled by numba (``backend="numba"``) or not."""
    runs = names.size
    returns = np.zeros((runs, episodes))
    lengths = np.zeros((runs, episodes), dtype=np.int32)
    mdp = benv.mdp
    cum = _row_cumulative(mdp)
    support = np.flatnonzero(mdp.initial > 0)
    kernel = _kernel
    if backend == "numba":
        kernel = jit_kernel(_kernel, (_behave, _value, _start, _outcome))
    kernel(
        mdp.indptr.astype(np.int64), cum, mdp.next_state.astype(np.int64),
        mdp.reward.astype(np.float64), mdp.terminated.astype(np.bool_),
        np.cumsum(mdp.initial), int(support[0]) if support.size == 1 else -1,
        np.asarray(benv.action_mask, dtype=np.bool_),
        np.array([METHODS.index(n) for n in names], dtype=np.int64), step_size,
        float(epsilon), float(gamma), float(initial_value), episodes,
        int(max_episode_steps or 0), rng, returns, lengths,
    )  # fmt: skip
    return returns, lengths


def _row_cumulative(mdp: Any) -> np.ndarray:
    """(K,) cumulative outcome probabilities within each (s, a) row, the last one set to 1."""
    cum = np.empty(mdp.prob.shape)
    for row in range(mdp.n_states * mdp.n_actions):
        lo, hi = mdp.indptr[row], mdp.indptr[row + 1]
        cum[lo:hi] = np.cumsum(mdp.prob[lo:hi])
        cum[hi - 1] = 1.0
    return cum


def _per_method(benv, names, step_size, episodes, epsilon, gamma, initial, max_len, rng):
    """The batched engine, one call per method over that method's runs."""
    from rlcore.tabular.batched import run_batched

    returns = np.zeros((names.size, episodes))
    lengths = np.zeros((names.size, episodes), dtype=np.int32)
    for name in METHODS:
        idx = np.flatnonzero(names == name)
        if idx.size:
            res = run_batched(
                name, benv, runs=idx.size, episodes=episodes, seed=rng,
                max_episode_steps=max_len, alpha=step_size[idx], epsilon=epsilon,
                gamma=gamma, initial_value=initial,
            )  # fmt: skip
            returns[idx], lengths[idx] = res.returns, res.lengths
    return returns, lengths
