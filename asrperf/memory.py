"""Peak resident memory of this process: so far, or of one call alone.

Linux keeps a process's high-water mark (VmHWM in /proc/self/status). Writing ``5`` to
``/proc/self/clear_refs`` resets it to the current resident size, so the mark read after a
call is that call's own peak (model and caches included, since they are resident), not the
peak of whatever ran earlier in the same process. Where the reset is refused (not Linux, a
restricted sandbox) the figure is the process's peak so far, and its scope says so.
"""

from __future__ import annotations

import resource

SCOPE_CALL = "this call (VmHWM reset before it)"
SCOPE_PROCESS = "the process so far (VmHWM could not be reset)"


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, in MiB.

    Linux's VmHWM belongs to the current program image; ``ru_maxrss`` survives
    ``exec`` and would report a parent's peak in a freshly started child.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reset_peak_rss() -> bool:
    """Reset the high-water mark to the current resident size; False where Linux refuses."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


class PeakMemory:
    """``with PeakMemory() as peak: ...`` then ``peak.result`` = (MiB, scope)."""

    def __enter__(self) -> "PeakMemory":
        self.scope = SCOPE_CALL if reset_peak_rss() else SCOPE_PROCESS
        self.result: tuple[float | None, str] = (None, self.scope)
        return self

    def __exit__(self, *exc) -> None:
        self.result = (round(peak_rss_mb(), 1), self.scope)
