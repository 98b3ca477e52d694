"""`log verify` over a store of any size: the chains walked page by page, in constant memory.

One pass in (chain_id, seq) order feeds each record to the chain check and to the head files'
witness; nothing keeps a record after its page. The first bad record ends the walk, as before.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import aclosing
from pathlib import Path

from gateway.ledger import RecordStore, VerifyResult
from gateway.ledger.chain import ChainVerifier, HeadWitness

VERIFY_PAGE = 2000  # records per query: a page, not the log, is what stays in memory


async def verify_store(store: RecordStore, key: bytes, heads: Path | None = None, *,
                       page: int = VERIFY_PAGE, progress: Callable[[int], None] | None = None) -> VerifyResult:
    """Every chain checked; then, if `heads` is a directory, that the log reaches each head file.

    `progress` is called with the number of records of each page read.
    """
    verifier: ChainVerifier | None = None
    witness: HeadWitness | None = None
    async with aclosing(store.chain_pages(page)) as pages:
        async for checkpoints, records in pages:
            if verifier is None:  # the first page brings the checkpoints of the same snapshot
                verifier = ChainVerifier(key, checkpoints)
                witness = HeadWitness(key, heads, checkpoints) if heads is not None and heads.is_dir() else None
                if verifier.problem is not None:
                    return verifier.result()  # a forged checkpoint: no record is read
            for r in records:
                if not verifier.add(r):
                    return verifier.result()
                if witness is not None:
                    witness.see(r)
            if progress is not None:
                progress(len(records))
    assert verifier is not None  # chain_pages yields at least once, an empty page for an empty log
    result = verifier.result()
    problem = witness.problem() if result.ok and witness is not None else None
    return VerifyResult(False, result.records, result.chains, problem) if problem else result
