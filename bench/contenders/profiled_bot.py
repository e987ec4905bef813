"""The challenge bot as served (`python -m bot`), profiled by pyinstrument only while bench/turn_cost.py asks.

The bench writes a label (the turn it is about to measure: `help`, `card`) to `control` in the folder
`TURN_COST_PROFILE_DIR` names and sends SIGUSR1: this profiler starts (or the running one stops, if the label
is empty). Each label's profile gathers all the blocks of turns measured under it, so start-up, imports and the
bench's setup turns are left out, and the `help` and card-action profiles are kept apart. When the bot stops
(SIGTERM, as the bench stops it) each label's session is saved there as `profile-LABEL.pyisession`, for
bench/turn_cost.py to render.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from types import FrameType

from pyinstrument import Profiler

#: The checkout this file is in: its `bot` is the one profiled (as `python -m bot` from there would serve it),
#: not whichever copy of the project the virtual environment has installed.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
FOLDER = Path(os.environ["TURN_COST_PROFILE_DIR"])
#: Sampling interval in seconds (pyinstrument's default is 1 ms).
INTERVAL = float(os.environ.get("TURN_COST_PROFILE_INTERVAL", "0.0005"))

_profilers: dict[str, Profiler] = {}
_running: list[Profiler] = []


def _switch(_signum: int, frame: FrameType | None) -> None:
    while _running:
        _running.pop().stop()
    label = (FOLDER / "control").read_text().strip()
    if label:
        # Not async-aware ("disabled"): each sample is the stack the event loop's thread is really in, so the
        # time the loop waits for the next request shows as the selector's poll and can be told apart.
        profiler = _profilers.setdefault(label, Profiler(interval=INTERVAL, async_mode="disabled"))
        profiler.start(caller_frame=frame)
        _running.append(profiler)
    (FOLDER / "control.ack").write_text(label)


def main() -> int:
    signal.signal(signal.SIGUSR1, _switch)
    from bot.cli import main as bot_main

    sys.argv = ["challenge-bot"]
    try:
        return bot_main()
    finally:
        while _running:
            _running.pop().stop()
        for label, profiler in _profilers.items():
            if profiler.last_session is not None:
                profiler.last_session.save(FOLDER / f"profile-{label}.pyisession")


if __name__ == "__main__":
    raise SystemExit(main())
