"""MkDocs hook: claim tables generated from the package's claim declarations (``paper_checks.claims``).

A line ``<!-- claims: ID ID ... -->`` in a page becomes a table of those claims — id, statement, the statistic
that decides it, its primary protocol and margin δ — read from the code at build time, so the pages never
restate a claim differently from the checks. An unknown id stops the build. Statuses are not shown: they
belong to a run (its report), not to the documentation.
"""
from __future__ import annotations

import re

PLACEHOLDER = re.compile(r"^<!-- claims: (?P<ids>[^>]+?) -->$", re.M)


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", r"\|")


def claims_table(ids: list[str]) -> str:
    from paper_checks import claims

    rows = ["| claim | statement | decided by | primary protocol | δ |", "| --- | --- | --- | --- | --- |"]
    for claim_id in ids:
        try:
            d = claims.declaration(claim_id)
        except (KeyError, ValueError) as e:
            raise ValueError(f"docs: unknown claim id {claim_id!r} in a claims table ({e})") from e
        rows.append(f"| `{d.id}` | {_cell(d.statement)} | {_cell(d.statistic)} | {_cell(d.primary)} | "
                    f"{'—' if d.delta is None else f'{d.delta:g}'} |")
    return "\n".join(rows) + ("\n\nRerun one with `lpft check --only ID`; its status and the evidence that decided "
                              "it are in the run's report.")


def on_page_markdown(markdown: str, **kwargs) -> str:
    return PLACEHOLDER.sub(lambda m: claims_table(m.group("ids").split()), markdown)
