"""The racetrack of Exercise 5.12, with its full model for dynamic programming."""

from __future__ import annotations

import math
from fractions import Fraction
from functools import cache
from typing import Literal

import numpy as np

from rlcore.envs._finite import FiniteModelEnv, Model, Outcome
from rlcore.envs._grid import find, parse_layout, render_grid
from rlcore.registry import export
from rlcore.validation import check_choice, check_range

# The two tracks of Figure 5.5, transcribed cell by cell: '#' off the track, '.' track,
# 'S' starting line (bottom), 'F' finish line (right edge). Row 0 is the top of the figure.
TRACKS: dict[str, tuple[str, ...]] = {
    "left": (  # 32 rows x 17 columns; 6 start cells, 6 finish cells
        "###.............F",
        "##..............F",
        "##..............F",
        "#...............F",
        "................F",
        "................F",
        "..........#######",
        *[".........########"] * 7,
        *["#........########"] * 8,
        *["##.......########"] * 7,
        *["###......########"] * 2,
        "###SSSSSS########",
    ),
    "right": (  # 30 rows x 32 columns; 23 start cells, 9 finish cells
        "################...............F",
        "#############..................F",
        "############...................F",
        *["###########....................F"] * 4,
        "############...................F",
        "#############..................F",
        "##############................##",
        "##############.............#####",
        "##############............######",
        "##############..........########",
        "##############.........#########",
        *["#" * k + "." * (23 - k) + "#########" for k in range(13, 0, -1)],
        *[".......................#########"] * 2,
        "SSSSSSSSSSSSSSSSSSSSSSS#########",
    ),
}
TRACK_NUMBERS = {1: "left", 2: "right"}
MAX_SPEED = 4  # velocity components lie in 0..MAX_SPEED
# Action a changes the velocity by ACCELERATIONS[a] = (d_vy, d_vx): a = 3 * (d_vy + 1) + (d_vx + 1).
ACCELERATIONS: tuple[tuple[int, int], ...] = tuple(
    (d_vy, d_vx) for d_vy in (-1, 0, 1) for d_vx in (-1, 0, 1)
)
FINISH, CRASH = -1, -2  # landing results other than a state


@cache
def path_offsets(vy: int, vx: int) -> tuple[tuple[int, int], ...]:
    """Cells the car passes through in one step with velocity (vy, vx), in order.

    The projected path is the straight segment from the centre of the car's cell to the centre
    of the cell (row - vy, col + vx) (vy counts upwards, vx to the right). The result lists the
    (d_row, d_col) offsets of every cell whose interior the segment enters, the start cell
    excluded and the end cell included. A segment that only touches a cell's corner does not
    enter it: a diagonal move squeezes between two cells that meet at a corner.
    """
    if vy == 0 and vx == 0:
        return ()
    # Times 0 < t < 1 at which the segment crosses a cell boundary, exactly.
    times = {Fraction(2 * k - 1, 2 * v) for v in (vy, vx) if v for k in range(1, v + 1)}
    ticks = [Fraction(0), *sorted(times), Fraction(1)]
    cells: list[tuple[int, int]] = []
    for t0, t1 in zip(ticks[:-1], ticks[1:]):
        t = (t0 + t1) / 2  # strictly inside a cell
        cell = (math.floor(-vy * t + Fraction(1, 2)), math.floor(vx * t + Fraction(1, 2)))
        if cell != (0, 0) and (not cells or cells[-1] != cell):
            cells.append(cell)
    return tuple(cells)


def next_velocity(vy: int, vx: int, d_vy: int, d_vx: int, on_start_line: bool) -> tuple[int, int]:
    """Velocity after an increment: each component clipped to [0, MAX_SPEED]; an increment that
    would stop the car off the starting line is ignored (the velocity stays as it was)."""
    wy = min(max(vy + d_vy, 0), MAX_SPEED)
    wx = min(max(vx + d_vx, 0), MAX_SPEED)
    if wy == 0 and wx == 0 and not on_start_line:
        return vy, vx
    return wy, wx


@export("envs.racetrack")
class RacetrackEnv(FiniteModelEnv):
    """Racetrack (Sutton & Barto (2018) Exercise 5.12, both tracks of Figure 5.5).

    The car sits on a track cell with a velocity (vy, vx), vy counting upwards and vx to the
    right, each in 0..4, both zero only on the starting line. Each action adds (d_vy, d_vx) in
    {-1, 0, 1}^2 to the velocity (9 actions, ``ACCELERATIONS[a]``; action 4 is (0, 0)), each
    component clipped to 0..4; an increment that would stop the car off the starting line is
    ignored. With probability ``noise`` (0.1) both increments are zero whatever the action. The
    car then moves by its new velocity. Its projected path (``path_offsets``: the cells a
    straight segment between cell centres enters) is checked in order: entering a finish cell
    ends the episode; leaving the track first sends the car to a starting cell drawn uniformly,
    with velocity zero, and the episode goes on. Every step gives -1. Episodes start on a
    uniformly drawn starting cell with velocity zero.

    States: every (track cell, velocity) pair that can occur (velocity (0, 0) only on starting
    cells), numbered in row-major order of the cells and then (vy, vx) order, plus one last
    state, ``terminal_state``, reached on finishing. ``state_index(row, col, vy, vx)`` and
    ``decode(s)`` convert.

    Args:
        track: ``"left"`` / 1 or ``"right"`` / 2 (Figure 5.5's left and right tracks).
        noise: probability that the velocity increments are both zero on a step.
        render_mode: ``None`` or ``"ansi"``.
    """

    def __init__(
        self,
        track: Literal["left", "right", 1, 2] = "left",
        noise: float = 0.1,
        render_mode: str | None = None,
    ) -> None:
        if isinstance(track, bool):
            raise TypeError(f"track must be 'left', 'right', 1 or 2, got {track!r}.")
        check_choice("track", track, ("left", "right", 1, 2))
        self.track_name = TRACK_NUMBERS.get(track, track)  # type: ignore[call-overload]
        self.noise = check_range("noise", noise, 0.0, 1.0)
        self.track = parse_layout(TRACKS[self.track_name])
        self.n_rows, self.n_cols = self.track.shape
        cells = [(r, c) for r, c in zip(*np.nonzero(np.isin(self.track, (".", "S"))))]
        self._index = np.full((self.n_rows, self.n_cols, MAX_SPEED + 1, MAX_SPEED + 1), -1)
        decoded = []
        for r, c in cells:
            for vy in range(MAX_SPEED + 1):
                for vx in range(MAX_SPEED + 1):
                    if vy or vx or self.track[r, c] == "S":
                        self._index[r, c, vy, vx] = len(decoded)
                        decoded.append((int(r), int(c), vy, vx))
        self._decoded = decoded
        self.terminal_state = len(decoded)
        self.start_states = [int(self._index[r, c, 0, 0]) for r, c in find(self.track, "S")]
        P = self._build_model()
        isd = np.zeros(self.terminal_state + 1)
        isd[self.start_states] = 1.0 / len(self.start_states)
        super().__init__(P, isd, render_mode)

    def _land(self, r: int, c: int, vy: int, vx: int) -> int:
        """State reached from cell (r, c) moving with velocity (vy, vx), or FINISH / CRASH."""
        for d_row, d_col in path_offsets(vy, vx):
            rr, cc = r + d_row, c + d_col
            if not (0 <= rr < self.n_rows and 0 <= cc < self.n_cols) or self.track[rr, cc] == "#":
                return CRASH
            if self.track[rr, cc] == "F":
                return FINISH
        d_row, d_col = (-vy, vx)
        return int(self._index[r + d_row, c + d_col, vy, vx])

    def _build_model(self) -> Model:
        terminal, starts, noise = self.terminal_state, self.start_states, self.noise
        shared: dict[tuple[float, int], Outcome] = {}  # one tuple object per distinct outcome

        def outcome(p: float, s2: int) -> Outcome:
            key = (p, s2)
            if key not in shared:
                shared[key] = (p, s2, -1.0, s2 == terminal)
            return shared[key]

        # Crashing with probability q: every starting cell with probability q / len(starts).
        crash = {
            q: [outcome(q / len(starts), s2) for s2 in starts] for q in (1.0, 1 - noise, noise)
        }
        # (vy, vx, on_start) -> the new velocity of each action.
        velocities = {
            (vy, vx, on): [next_velocity(vy, vx, d_vy, d_vx, on) for d_vy, d_vx in ACCELERATIONS]
            for vy in range(MAX_SPEED + 1)
            for vx in range(MAX_SPEED + 1)
            for on in (False, True)
        }
        land: dict[tuple[int, int, int, int], int] = {}

        def landing(r: int, c: int, w: tuple[int, int]) -> int:
            key = (r, c, *w)
            if key not in land:
                land[key] = self._land(r, c, *w)
            return land[key]

        def outcomes(results: list[tuple[int, float]]) -> list[Outcome]:
            """Outcomes of landing results [(state, FINISH or CRASH; probability)]."""
            out: list[Outcome] = []
            for result, q in results:
                if result == CRASH:
                    out.extend(crash[q])
                else:
                    out.append(outcome(q, terminal if result == FINISH else result))
            if len(results) > 1 and len({o[1] for o in out}) < len(out):
                # A crash beside a move onto a starting cell at rest: merge by next state.
                probs: dict[int, float] = {}
                for p, s2, _, _ in out:
                    probs[s2] = probs.get(s2, 0.0) + p
                out = [outcome(p, s2) for s2, p in probs.items()]
            return out

        P: Model = {}
        for s, (r, c, vy, vx) in enumerate(self._decoded):
            stay = landing(r, c, (vy, vx))  # with probability `noise` the velocity is unchanged
            P[s] = {}
            for a, w in enumerate(velocities[(vy, vx, self.track[r, c] == "S")]):
                go = landing(r, c, w)
                results = [(go, 1.0)] if go == stay else [(go, 1 - noise), (stay, noise)]
                P[s][a] = outcomes([(x, q) for x, q in results if q > 0])
        P[terminal] = {a: [(1.0, terminal, 0.0, True)] for a in range(len(ACCELERATIONS))}
        return P

    def state_index(self, row: int, col: int, vy: int, vx: int) -> int:
        """State of the car on cell (row, col) with velocity (vy, vx)."""
        ok = 0 <= row < self.n_rows and 0 <= col < self.n_cols
        ok = ok and 0 <= vy <= MAX_SPEED and 0 <= vx <= MAX_SPEED
        s = int(self._index[row, col, vy, vx]) if ok else -1
        if s < 0:
            raise ValueError(
                f"({row}, {col}) with velocity ({vy}, {vx}) is not a state of the "
                f"{self.track_name} track: the cell must be on the track (not a finish cell), the "
                f"components in 0..{MAX_SPEED}, and (0, 0) only on the starting line."
            )
        return s

    def decode(self, s: int) -> tuple[int, int, int, int]:
        """(row, col, vy, vx) of state s (not the terminal state)."""
        if not 0 <= s < self.terminal_state:
            raise ValueError(
                f"state {s} has no position: states 0..{self.terminal_state - 1} are on the "
                f"track, {self.terminal_state} is the terminal 'finished' state."
            )
        return self._decoded[s]

    def _render_text(self) -> str:
        if self.s == self.terminal_state:
            return render_grid(self.track, None, footer="finished")
        r, c, vy, vx = self._decoded[self.s]
        return render_grid(self.track, (r, c), footer=f"velocity (up, right) = ({vy}, {vx})")
