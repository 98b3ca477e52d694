from __future__ import annotations

import dataclasses

from gateway.ledger.chain import GENESIS, derive_key, seal, verify_chains
from tests.ledger.conftest import decision

KEY = derive_key("k" * 20)


def chain(n: int, chain_id: str = "a") -> list:  # type: ignore[type-arg]
    out, prev = [], GENESIS
    for i in range(1, n + 1):
        r = seal(KEY, decision(i), chain_id, i, prev)
        out.append(r)
        prev = r.mac
    return out


def test_intact() -> None:
    assert verify_chains(KEY, chain(5) + chain(3, "b")).ok


def test_detects_each_kind_of_edit() -> None:
    records = chain(5)
    altered = records.copy()
    altered[2] = dataclasses.replace(altered[2], decision=dataclasses.replace(altered[2].decision, gpc=True,
                                                                              locale="xx"))
    assert "altered" in (verify_chains(KEY, altered).problem or "")
    deleted = records[:2] + records[3:]
    assert not verify_chains(KEY, deleted).ok
    inserted = records[:2] + [seal(KEY, decision(9), "a", 3, records[1].mac)] + records[2:]
    assert not verify_chains(KEY, inserted).ok
