"""Paper vs reference code, generated from the configs: every resolved key of an LDSeg job where
the ``paper`` and ``reference`` profiles differ, with the comment each profile gives as its
source. README's "Paper vs reference code" table is this output (a test keeps them equal):

    python -m benchmarks.fidelity            # print the table
    python -m benchmarks.fidelity --readme   # rewrite README's table in place
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.configs import flatten
from benchmarks.profiles import _profile_path, load_profile

README = Path(__file__).resolve().parent.parent / "README.md"
START, END = "<!-- fidelity:start -->", "<!-- fidelity:end -->"
SECTIONS = ("dataset", "method", "train", "eval")
#: the LDSeg jobs compared: the 2D GlaS model and the 3D knee model (rows only 3D adds)
JOBS = (("glas", "2D"), ("knee3d", "3D"))


@dataclass(frozen=True)
class Row:
    key: str  # section.key.path of the resolved job config
    paper: Any
    paper_source: str
    reference: Any
    reference_source: str


def toml_comments(path: Path) -> dict[str, str]:
    """Dotted key path -> its comment: the line's trailing ``#`` comment, else the comment block
    above it (which covers the following lines up to a blank line or a table header). Inline
    tables (``k = { a = 1 }``) give their comment to each inner key."""
    out: dict[str, str] = {}
    table, above, above_open = "", [], False
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if line.startswith("#"):
            above = (above if above_open else []) + [line.lstrip("# ").strip()]
            above_open = True
            continue
        if not line:
            above = []
            continue
        header = re.fullmatch(r"\[([^\]]+)\]", line)
        if header:
            table = header.group(1).replace('"', "")
            above = []
            continue
        body, _, trailing = _split_comment(line)
        comment = trailing or " ".join(above)
        key, _, value = body.partition("=")
        prefix = f"{table}.{key.strip()}" if table else key.strip()
        inner = re.fullmatch(r"\s*\{(.*)\}\s*", value)
        keys = [k.split("=")[0].strip() for k in inner.group(1).split(",")] if inner else []
        for k in keys or [""]:
            out[f"{prefix}.{k}" if k else prefix] = comment
        above_open = False  # a later comment line starts a new block
    return out


def _split_comment(line: str) -> tuple[str, str, str]:
    """``key = "a#b"  # note`` -> (body, '#', 'note'): a ``#`` outside quotes starts a comment."""
    quoted = False
    for i, ch in enumerate(line):
        if ch == '"':
            quoted = not quoted
        elif ch == "#" and not quoted:
            return line[:i].rstrip(), "#", line[i + 1 :].strip()
    return line, "", ""


def _candidates(key: str, dataset: str) -> list[str]:
    """Where a resolved key may be set in a profile file, most specific first."""
    section, _, rest = key.partition(".")
    if section == "dataset":
        return [f"datasets.{dataset}.{rest}", f"data.{rest}"]
    if section == "method":
        suffix = ["methods.ldseg@3d." + rest] if dataset == "knee3d" else []
        return [*suffix, f"methods.ldseg.{rest}", "methods.ldseg." + rest.split(".")[0]]
    if section == "train":
        return [f"datasets.{dataset}.train.{rest}", f"method_train.ldseg.{rest}", f"train.{rest}"]
    return [f"method_eval.ldseg.{rest}", f"eval.{rest}"]


def _source(comments: dict[str, str], key: str, dataset: str) -> str:
    for where in _candidates(key, dataset):
        if where in comments:
            return comments[where] or "(no comment)"
    return "default (ldseg/config.py, benchmarks/)"


def resolved(profile: str, dataset: str) -> dict[str, Any]:
    """The LDSeg job config of ``profile`` on ``dataset``, flattened to dotted keys."""
    from benchmarks.pipeline import JobSpec, job_configs

    cfgs = job_configs(JobSpec("ldseg", dataset, profile), load_profile(profile))
    return flatten({s: cfgs[s] for s in SECTIONS})


def rows(paper: str = "paper", reference: str = "reference") -> list[Row]:
    """Every key where the two profiles' LDSeg jobs differ (2D GlaS, then what 3D adds)."""
    notes = {p: toml_comments(_profile_path(p)) for p in (paper, reference)}
    out: list[Row] = []
    seen: set[str] = set()
    for dataset, _ in JOBS:
        a, b = resolved(paper, dataset), resolved(reference, dataset)
        for key in sorted(set(a) | set(b)):
            if key in seen or a.get(key) == b.get(key) or key in ("dataset.name", "dataset.size"):
                continue
            seen.add(key)
            out.append(
                Row(
                    key,
                    a.get(key),
                    _source(notes[paper], key, dataset),
                    b.get(key),
                    _source(notes[reference], key, dataset),
                )
            )
    return out


def markdown(table: list[Row]) -> str:
    def cell(value: Any) -> str:
        text = value if isinstance(value, str) else repr(value)
        return str(text).replace("|", "\\|")

    lines = [
        "| key | paper profile | source | reference profile | source |",
        "|---|---|---|---|---|",
    ]
    for r in table:
        lines.append(
            f"| `{r.key}` | `{cell(r.paper)}` | {cell(r.paper_source)} | `{cell(r.reference)}` | "
            f"{cell(r.reference_source)} |"
        )
    return "\n".join(lines) + "\n"


def readme_table(text: str) -> str:
    """The generated block of README ``text`` (between the fidelity markers)."""
    start, end = text.index(START) + len(START), text.index(END)
    return text[start:end].strip("\n") + "\n"


def write_readme(path: Path = README) -> None:
    text = path.read_text()
    start, end = text.index(START) + len(START), text.index(END)
    path.write_text(text[:start] + "\n" + markdown(rows()) + text[end:])


if __name__ == "__main__":
    if "--readme" in sys.argv[1:]:
        write_readme()
    else:
        sys.stdout.write(markdown(rows()))
