"""Regenerate the golden files after an intended change: ``python -m tests.regenerate_golden``.

Review the diff before committing: the golden graph is what the isomorphism test holds us to.
"""

from __future__ import annotations

from tests.conftest import DATA, FIXTURE


def expected_graph_bytes() -> bytes:
    from kb.config import load_config
    from kb.export.rdf import graph_bytes
    from kb.pipeline import check

    checked = check(load_config(FIXTURE), shacl=False)
    return graph_bytes(checked.graph, "ttl")


if __name__ == "__main__":
    target = DATA / "expected" / "fixture-graph.ttl"
    target.write_bytes(expected_graph_bytes())
    print(f"wrote {target}")
