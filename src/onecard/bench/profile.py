"""Reading a py-spy profile (``--format raw``: collapsed stacks, one ``a;b;c count`` a line).

Contract: ``summarise(path)`` returns the functions where the samples are (self time)
and the functions they pass through (inclusive time), each as a share of all samples,
plus a share per area (our code, SQLAlchemy, psycopg, the web stack, asyncio, JSON…)
attributed by each sample's innermost frame.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

AREAS = (
    ("onecard/", "onecard"),
    ("sqlalchemy/", "sqlalchemy"),
    ("psycopg", "psycopg"),
    ("starlette/", "starlette/fastapi"),
    ("fastapi/", "starlette/fastapi"),
    ("pydantic", "pydantic"),
    ("uvicorn/", "uvicorn/httptools"),
    ("httptools", "uvicorn/httptools"),
    ("anyio/", "anyio threads"),
    ("asyncio/", "asyncio"),
    ("json/", "json"),
    ("threading.py", "threading/queue"),
    ("queue.py", "threading/queue"),
    ("concurrent/", "threading/queue"),
)


@dataclass
class Profile:
    samples: int = 0
    self_time: Counter[str] = field(default_factory=Counter)
    inclusive: Counter[str] = field(default_factory=Counter)
    areas: Counter[str] = field(default_factory=Counter)

    def share(self, n: int) -> float:
        return n / self.samples if self.samples else 0.0


def area_of(frame: str) -> str:
    for needle, name in AREAS:
        if needle in frame:
            return name
    return "other (stdlib, C)"


def summarise(path: str) -> Profile:
    prof = Profile()
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            stack, _, count = line.rstrip("\n").rpartition(" ")
            if not stack or not count.isdigit():
                continue
            n = int(count)
            frames = stack.split(";")
            prof.samples += n
            prof.self_time[frames[-1]] += n
            prof.areas[area_of(frames[-1])] += n
            for fr in set(frames):
                prof.inclusive[fr] += n
    return prof


def render(prof: Profile, top: int = 15) -> str:
    lines = [f"{prof.samples} samples", "", "by area (innermost frame):"]
    for name, n in prof.areas.most_common():
        lines.append(f"  {prof.share(n):6.1%}  {name}")
    lines += ["", "self time:"]
    for fr, n in prof.self_time.most_common(top):
        lines.append(f"  {prof.share(n):6.1%}  {fr}")
    lines += ["", "inclusive (onecard functions):"]
    ours = [(fr, n) for fr, n in prof.inclusive.items() if "onecard/" in fr]
    for fr, n in sorted(ours, key=lambda x: -x[1])[:top]:
        lines.append(f"  {prof.share(n):6.1%}  {fr}")
    return "\n".join(lines)


if __name__ == "__main__":
    import sys

    print(render(summarise(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 15))
