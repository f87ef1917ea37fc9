"""Judging seconds against the SLO; availability A and recovery R.

A second (bucket ``i`` covers ``[t0 + i, t0 + i + 1)``) is, in this order:

- **excluded** when it overlaps a window the scenario declares unavoidable
  (a full outage with no backup path: no stack could serve it);
- **bad** when the scenario was aborted before the second began: the run was
  stopped because the system failed its abort conditions, and a scenario must
  not score better by failing so badly that it ends early;
- with financial attempts started in it, **good** when both hold:
  success ratio (approved / non-declined attempts) ≥ the SLO's, and the
  nearest-rank p99 latency (declines included: a decline is an answer the
  customer waited for) ≤ the SLO's. A second of only declines meets the ratio;
- with no attempt started in it, **bad** when it lies in the shadow of a bad
  attempt (the fleet was stuck waiting on a timeout), otherwise **idle** — no
  evidence either way, so it is not judged. Counting idle seconds as good would
  reward a fleet too stuck to start anything; counting them bad would punish a
  small, slow fleet for its think time.

A = good / judged seconds (0 when nothing was judged: no evidence is not a pass).

Recovery is measured from the last fault's real end (the journal's
``fault_cleared`` time, sub-second) to the start of the first run of N
consecutive good seconds; idle and excluded seconds neither extend nor break a
run. The run may start in the second that contains the fault's end; its start
is then the fault end itself, so recovery time is ``max(t0 + i, fault_end) −
fault_end``: exact to the 1-second bucket, never quantised to whole seconds of
the scenario clock. R = 1 at or under the target, falling linearly to 0 at 4×
the target (0 if never): a stack that takes twice the target still earns two
thirds — slow recovery is worse than fast, but better than none.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from poslab.scoring.result import Availability, Recovery
from poslab.scoring.run_dir import Window
from poslab.scoring.traffic import SecondFigures


def excluded_mask(n: int, windows: Sequence[Window]) -> list[bool]:
    """Seconds that overlap any unavoidable window (in scenario-clock seconds)."""
    mask = [False] * n
    for w in windows:
        first = max(0, math.floor(w.start_s))
        last = min(n, math.ceil(w.end_s))
        for i in range(first, last):
            mask[i] = True
    return mask


def judge_seconds(
    figures: SecondFigures,
    success_ratio: float,
    p99_ms: float,
    excluded: Sequence[bool],
    aborted_from: int | None,
) -> list[bool | None]:
    """Per second: True good, False bad, None not judged (excluded or idle)."""
    verdicts: list[bool | None] = []
    for i in range(figures.n):
        if excluded[i]:
            verdicts.append(None)
        elif aborted_from is not None and i >= aborted_from:
            verdicts.append(False)
        elif figures.attempts[i] == 0:
            verdicts.append(False if figures.blocked[i] else None)
        else:
            ratio = figures.success_ratio(i)
            latency = figures.p99_ms[i]
            ratio_ok = ratio is None or ratio >= success_ratio
            verdicts.append(ratio_ok and latency is not None and latency <= p99_ms)
    return verdicts


def availability(
    verdicts: Sequence[bool | None],
    excluded: Sequence[bool],
    aborted_from: int | None,
) -> Availability:
    judged = sum(1 for v in verdicts if v is not None)
    good = sum(1 for v in verdicts if v)
    result = Availability(
        value=good / judged if judged else 0.0,
        judged_seconds=judged,
        good_seconds=good,
        excluded_seconds=sum(1 for e in excluded if e),
        idle_seconds=sum(1 for v, e in zip(verdicts, excluded, strict=True) if v is None and not e),
        aborted_seconds=max(0, len(verdicts) - aborted_from) if aborted_from is not None else 0,
    )
    if not judged:
        result.note = "no judged seconds: nothing to measure availability on"
    return result


def recovery_value(recovery_s: float | None, target_s: float) -> float:
    """1 at or under the target, linear to 0 at 4× the target, 0 if never recovered."""
    if recovery_s is None:
        return 0.0
    if recovery_s <= target_s:
        return 1.0
    if target_s <= 0:
        return 0.0
    return max(0.0, 1.0 - (recovery_s - target_s) / (3.0 * target_s))


def recovered_at(
    verdicts: Sequence[bool | None], t0: float, fault_end: float, good_seconds: int
) -> float | None:
    """Epoch time the first run of ``good_seconds`` good seconds after ``fault_end`` began."""
    first = max(0, math.floor(fault_end - t0))
    run, start = 0, None
    for i in range(first, len(verdicts)):
        v = verdicts[i]
        if v is None:
            continue
        if not v:
            run, start = 0, None
            continue
        if start is None:
            start = i
        run += 1
        if run >= good_seconds:
            return max(t0 + start, fault_end)
    return None


def recovery(
    verdicts: Sequence[bool | None],
    t0: float,
    fault_end: float | None,
    target_s: float,
    good_seconds: int,
    note: str = "",
) -> Recovery:
    result = Recovery(target_s=target_s, good_seconds=good_seconds, fault_end=fault_end, note=note)
    if fault_end is None:
        result.value = 1.0
        result.note = note or "no fault to recover from"
        return result
    at = recovered_at(verdicts, t0, fault_end, good_seconds)
    if at is None:
        result.note = (note + "; " if note else "") + (
            f"never {good_seconds} consecutive good seconds after the last fault"
        )
    else:
        result.recovered_at = at
        result.recovery_s = round(at - fault_end, 3)
    result.value = recovery_value(result.recovery_s, target_s)
    return result
