"""CPU time and memory (peak, resident, proportional) of a process and its descendants, read
from /proc."""

from __future__ import annotations

import os
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


def descendants(pid: int) -> list[int]:
    """``pid`` and every process below it."""
    found, pending = [], [pid]
    while pending:
        current = pending.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                children = (task / "children").read_text().split()
            except OSError:
                continue
            pending += [int(child) for child in children]
    return found


def cpu_seconds(pid: int) -> float:
    """User + system CPU of the tree (live processes; reaped children's time included)."""
    total = 0.0
    for member in descendants(pid):
        try:
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        utime, stime, cutime, cstime = (int(fields[i]) for i in (11, 12, 13, 14))
        total += (utime + stime + cutime + cstime) / TICKS
    return total


def peak_rss_mib(pid: int) -> tuple[float, float]:
    """(largest single process, whole tree) peak resident memory in MiB."""
    peaks = []
    for member in descendants(pid):
        try:
            for line in Path(f"/proc/{member}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peaks.append(int(line.split()[1]) / 1024)
        except OSError:
            continue
    return (max(peaks, default=0.0), sum(peaks))


def memory_mib(pid: int) -> dict[str, float]:
    """Resident (RSS) and proportional (PSS: shared pages split) memory of the process tree."""
    rss = pss = 0.0
    members = descendants(pid)
    for member in members:
        try:
            for line in Path(f"/proc/{member}/smaps_rollup").read_text().splitlines():
                if line.startswith("Rss:"):
                    rss += int(line.split()[1]) / 1024
                elif line.startswith("Pss:"):
                    pss += int(line.split()[1]) / 1024
        except OSError:
            continue
    return {"rss_mib": rss, "pss_mib": pss, "processes": len(members)}
