"""The editors' loop takes the last build's groupings of the rows over, changed in place (kb.analyse.regroup): they
must be exactly what grouping the new rows afresh gives, dicts in the same order and lists holding the new rows."""

from __future__ import annotations

import dataclasses
import random

import pytest

from kb.analyse.analysis import Row
from kb.analyse.groups import Groups
from kb.site import prime_groups

POPULATIONS = ("adults", "youth", "veterans", "carers")
OUTCOMES = ("hope", "recovery", "hospitalisation", "symptoms", "loneliness")


def _rows_of(rnd: random.Random, claim_id: str) -> list[Row]:
    shared = dict(claim_id=claim_id, statement=f"s{rnd.randrange(3)}", source="src", cites=(), finding_type="effect",
                  population=tuple(rnd.sample(POPULATIONS, rnd.randint(1, 2))), population_label="",
                  setting=tuple(rnd.sample(("community", "inpatient"), rnd.randint(0, 2))),
                  delivery=("group",) if rnd.random() < 0.5 else (), perspective=rnd.choice(("", "carer")),
                  intervention=rnd.choice(("peer", "mentor")), intervention_label="", intervention_kind="peer",
                  design="rct", design_label="", design_group="", certainty=rnd.choice(("high", "low", "moderate")),
                  quote="q", section="")
    outcomes = sorted(rnd.sample(OUTCOMES, rnd.randint(1, 3)))
    return [Row(**shared, outcome=o, outcome_label="", domain=rnd.choice(("", "d1", "d2")), domain_label="",
                direction=rnd.choice(("benefit", "no_effect", "mixed"))) for o in outcomes]


def _made(groups: Groups) -> dict:
    """Every grouping the pages read, made: as plain data, each row by identity."""
    prime_groups(groups, lambda: True)
    def plain(value: object) -> object:
        if isinstance(value, dict):
            return [(k, plain(v)) for k, v in value.items()]
        return [id(row) for row in value]  # type: ignore[attr-defined]
    return {name: plain(made) for name, made in groups._made.items()} | {"ranked": plain(groups.ranked)}


@pytest.mark.parametrize("seed", range(12))
def test_carried_groupings_are_the_new_rows_grouped_afresh(seed: int) -> None:
    rnd = random.Random(seed)
    claims = {f"c{n:03d}": _rows_of(rnd, f"c{n:03d}") for n in range(0, 60, 2)}
    last = Groups([row for cid in sorted(claims) for row in claims[cid]])
    _made(last)
    changed = set(rnd.sample(sorted(claims), 4)) | {f"c{n:03d}" for n in rnd.sample(range(1, 60, 2), 2)}
    for cid in sorted(changed):
        if cid in claims and rnd.random() < 0.3:
            del claims[cid]  # a claim removed
        else:
            claims[cid] = _rows_of(rnd, cid)  # edited, or new
    for cid in rnd.sample(sorted(set(claims) - changed), 5):  # read again (its file changed): equal, new objects
        claims[cid] = [dataclasses.replace(row) for row in claims[cid]]
    rows = [row for cid in sorted(claims) for row in claims[cid]]
    carried = Groups(rows)
    marks = carried.carry(last, changed)
    assert marks is not None and marks.moved
    assert last._made == {} and "ranked" not in vars(last)  # handed over
    assert _made(carried) == _made(Groups(rows))
    assert {id(row) for lst in carried.lists() for row in lst} <= set(map(id, rows))


def test_lists_not_touched_hold_no_changed_claim() -> None:
    rnd = random.Random(7)
    claims = {f"c{n:03d}": _rows_of(rnd, f"c{n:03d}") for n in range(40)}
    last = Groups([row for cid in sorted(claims) for row in claims[cid]])
    _made(last)
    claims["c005"] = _rows_of(rnd, "c005")
    carried = Groups([row for cid in sorted(claims) for row in claims[cid]])
    marks = carried.carry(last, {"c005"})
    assert marks is not None and not marks.worded
    for lst in carried.lists():
        if id(lst) not in marks.moved:
            assert all(row.claim_id != "c005" for row in lst)
    assert any(id(lst) in marks.moved for lst in carried.lists())


def test_a_reworded_claims_rows_are_swapped_in_place_and_their_lists_marked() -> None:
    """A claim whose words alone changed keeps its rows' places: its lists are marked as reworded (their digests
    without words hold), not moved; a claim said to be reworded whose facets changed too is moved."""
    rnd = random.Random(11)
    claims = {f"c{n:03d}": _rows_of(rnd, f"c{n:03d}") for n in range(40)}
    last = Groups([row for cid in sorted(claims) for row in claims[cid]])
    _made(last)
    claims["c007"] = [dataclasses.replace(row, statement="reworded", quote="new") for row in claims["c007"]]
    claims["c012"] = [dataclasses.replace(row, statement="reworded", outcome="anxiety") for row in claims["c012"]]
    rows = [row for cid in sorted(claims) for row in claims[cid]]
    carried = Groups(rows)
    lists_before = list(last.lists())  # held: no new list takes one's id
    marks = carried.carry(last, {"c007", "c012"}, reworded={"c007", "c012"})
    assert marks is not None
    assert _made(carried) == _made(Groups(rows))
    holding = {cid: {id(lst) for lst in carried.lists() if any(r.claim_id == cid for r in lst)} for cid in claims}
    assert holding["c007"] and holding["c007"] <= marks.worded
    assert not holding["c007"] & marks.moved - holding["c012"]  # moved only where c012 moved too
    assert holding["c012"] <= marks.moved | ({id(lst) for lst in carried.lists()} - set(map(id, lists_before)))


def test_an_unchanged_claim_whose_rows_differ_is_refused() -> None:
    rnd = random.Random(3)
    claims = {f"c{n:03d}": _rows_of(rnd, f"c{n:03d}") for n in range(10)}
    last = Groups([row for cid in sorted(claims) for row in claims[cid]])
    _made(last)
    claims["c004"] = [dataclasses.replace(row, statement="reworded") for row in claims["c004"]]
    carried = Groups([row for cid in sorted(claims) for row in claims[cid]])
    assert carried.carry(last, set()) is None  # "c004" was not said to change
    assert carried._made == {} and last._made == {}
    assert _made(carried) == _made(Groups(carried.rows))


def test_two_claims_sharing_an_identifier_are_grouped_afresh() -> None:
    rnd = random.Random(5)
    twins = _rows_of(rnd, "c001") + _rows_of(rnd, "c001")
    twins.sort(key=lambda r: (r.claim_id, r.outcome))
    last = Groups(twins)
    _made(last)
    again = [dataclasses.replace(row, statement="edited") for row in twins]
    carried = Groups(again)
    if carried.carry(last, {"c001"}) is None:  # where their outcomes meet, no place is certain
        assert carried._made == {}
    assert _made(carried) == _made(Groups(again))
