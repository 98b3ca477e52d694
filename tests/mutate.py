"""Mutation testing of the security-critical modules: `./dev mutate [MODULE...]`. Not part of CI.

Each module runs alone, in a fresh `mutants/` directory, against the fast tests that guard it (the
unit tests that mirror it, plus the proxy tests that reach it through a real gateway), so that one
module takes minutes on a small machine. mutmut 3 mutates code inside functions only, and runs a
mutant only against the tests that called the mutated function.

Where a module mixes security policy with plumbing (endpoints.py, rewrite.py, proxy.py), the run is
restricted to the policy functions by mutant-name patterns. The score counts a mutant as killed
when a test failed or it timed out (an endless loop is noticed too); every other mutant, including
one no selected test reaches, is a survivor. Survivors that are equivalent are explained in
tests/MUTANTS.md.

    ./dev mutate                 all modules, one after the other
    ./dev mutate cookies chain   only these
"""

from __future__ import annotations

import ast
import difflib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GOAL = 0.90


@dataclass(frozen=True)
class Target:
    path: str  # the module, relative to the repository
    tests: tuple[str, ...]  # pytest node ids: the fast subset that guards it
    functions: tuple[str, ...] = ()  # mangled function names (mutmut's); empty: the whole module

    @property
    def dotted(self) -> str:
        return self.path.removesuffix(".py").replace("/", ".")

    def patterns(self) -> list[str]:
        return [f"{self.dotted}.{f}__mutmut_*" for f in self.functions]

    def selected(self, key: str) -> bool:
        return not self.functions or any(key.startswith(f"{self.dotted}.{f}__mutmut_") for f in self.functions)


def _methods(cls: str, *names: str) -> tuple[str, ...]:
    return tuple(f"x\u01c1{cls}\u01c1{n}" for n in names)  # mutmut's mangling: xǁClassǁmethod


PROXY_HEADERS = ("tests/test_proxy.py::TestRequestSide", "tests/test_proxy.py::TestResponseSide")

TARGETS: dict[str, Target] = {
    "consent": Target("gateway/consent.py", ("tests/test_consent.py",)),
    # every proxy test calls the cookie filters; the response side is where expiry is observable
    "cookies": Target("gateway/cookies.py", ("tests/test_cookies.py", "tests/test_proxy.py::TestResponseSide")),
    "forwarded": Target("gateway/forwarded.py", ("tests/test_forwarded.py",)),
    # the origin check and the `next` check; the rest of endpoints.py is request plumbing
    "endpoints": Target("gateway/endpoints.py", ("tests/test_endpoints.py",),
                        ("x_safe_next", "x_location_header")),
    # the same-site check in front of every POST (decisions, admin sign-in and sign-out)
    "origincheck": Target("gateway/origincheck.py", ("tests/test_origincheck.py", "tests/test_endpoints.py")),
    # normalise_charset and can_decode are tested where they are used: the rewriter, the response policy
    "decoding": Target("gateway/decoding.py",
                       ("tests/test_decoding.py", "tests/test_responsepolicy.py",
                        "tests/test_rewrite.py::TestInjection::test_normalise_charset",
                        "tests/test_rewrite.py::TestPolicy::test_charset_labels_as_browsers_read_them")),
    # the policy: what is a tracker and how it is held (gateway/neutralise.py, the decide half of
    # the rewriter); then where the banner goes and what an inline script's hold keeps (rewrite.py)
    "neutralise": Target("gateway/neutralise.py", ("tests/test_rewrite.py", "tests/test_placeholder.py")),
    "rewrite": Target("gateway/rewrite.py", ("tests/test_rewrite.py",),
                      _methods("HtmlRewriter", "_raw", "_inject_head", "_inject_body")),
    "chain": Target("gateway/ledger/chain.py", ("tests/ledger/test_chain.py",)),
    # the request head sent to the site (the hop-by-hop and rebuilt tables are applied there); it
    # reaches the site as HTTP/1.1 bytes (proxy) or as an ASGI scope (ConsentMiddleware), and whether
    # it has a body decides whether a request may be retried on a stale pooled connection
    "proxy": Target("gateway/proxy.py",
                    (*PROXY_HEADERS, "tests/test_proxy.py::TestHtml::test_browser_ad_apis_off_until_consent",
                     "tests/test_proxy.py::TestUpstreamFailures::test_stale_keepalive_connection_is_retried",
                     "tests/test_proxy.py::TestUpstreamFailures::test_a_get_is_retried_on_a_reused_connection_closed_unanswered",
                     "tests/test_middleware.py::test_the_wrapped_app_gets_an_asgi_head_with_lower_case_names"),
                    ("x_request_target", *_methods("Proxy", "request_head", "_consent_header"))),
    "responsepolicy": Target("gateway/responsepolicy.py", ("tests/test_responsepolicy.py",)),
}

KILLED = {"killed", "timeout", "caught by type check"}


def _child(name: str) -> None:
    """Runs inside `mutants/`' parent: mutmut with this module's file and tests."""
    from mutmut import configuration
    from mutmut.__main__ import cli

    target = TARGETS[name]
    cfg = configuration.config()
    # pyproject.toml asks for it; an older mutmut would ignore the setting and fork every mutant
    # from a process whose caches the stats run already filled (tests/MUTANTS.md, warmed caches)
    assert cfg.process_isolation == configuration.ProcessIsolation.FORKSERVER, "mutmut >= 3.8 needed"
    cfg.only_mutate = [target.path]
    cfg.pytest_add_cli_args_test_selection = list(target.tests)
    cli(["run", "--max-children", os.environ.get("MUTATE_CHILDREN", "2"), *target.patterns()],
        standalone_mode=True)


def _run_module(name: str, logs: Path) -> tuple[int, int, list[tuple[str, str, str]]]:
    target = TARGETS[name]
    shutil.rmtree(ROOT / "mutants", ignore_errors=True)
    log = logs / f"{name}.log"
    started = time.monotonic()
    with log.open("w") as out:
        # the hypothesis profile "mutate" (tests/conftest.py): the same few examples for every mutant
        env = {**os.environ, "CONSENT_GATEWAY_HYPOTHESIS": "mutate"}
        code = subprocess.call([sys.executable, "-m", "tests.mutate", "--child", name], cwd=ROOT,
                               stdout=out, stderr=subprocess.STDOUT, env=env)
    meta = ROOT / "mutants" / (target.path + ".meta")
    if code != 0 or not meta.exists():  # e.g. the tests failed without any mutant
        raise SystemExit(f"mutate: mutmut failed on {name} (exit {code}); see {log}")
    from mutmut.stats import status_by_exit_code

    results = json.loads(meta.read_text())["exit_code_by_key"]
    keys = sorted((k for k in results if target.selected(k)), key=_natural)
    gone = [f for f in target.functions if not any(k.startswith(f"{target.dotted}.{f}__mutmut_") for k in keys)]
    if gone:  # renamed or moved: the run would score what is left and say nothing
        raise SystemExit(f"mutate: no mutants of {', '.join(gone)} in {target.path}; update TARGETS in tests/mutate.py")
    lost = [k for k in keys if status_by_exit_code[results[k]] not in KILLED]
    diffs = _diffs(target, lost)
    survivors = [(k, status_by_exit_code[results[k]], diffs[k]) for k in lost]
    print(f"  {name}: {len(keys) - len(survivors)}/{len(keys)} killed in {time.monotonic() - started:.0f} s",
          flush=True)
    (logs / f"{name}.survivors").write_text("".join(f"{k} [{st}]: {d}\n" for k, st, d in survivors))
    return len(keys) - len(survivors), len(keys), survivors


def _natural(key: str) -> tuple[str, int]:
    base, _, n = key.rpartition("__mutmut_")
    return base, int(n) if n.isdigit() else 0


def _diffs(target: Target, keys: list[str]) -> dict[str, str]:
    """The changed lines of each mutant, read from mutmut's generated module (one `mutmut show`
    per survivor would start a process each)."""
    source = (ROOT / "mutants" / target.path).read_text()
    wanted = {k.rsplit(".", 1)[-1] for k in keys} | {k.rsplit(".", 1)[-1].rsplit("__mutmut_", 1)[0] + "__mutmut_orig"
                                                     for k in keys}
    lines = source.splitlines()
    functions = {node.name: "\n".join(lines[node.lineno - 1:node.end_lineno or node.lineno])
                 for node in ast.walk(ast.parse(source))
                 if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name in wanted}
    out = {}
    for key in keys:
        name = key.rsplit(".", 1)[-1]
        original = _body(functions.get(name.rsplit("__mutmut_", 1)[0] + "__mutmut_orig", ""))
        mutant = _body(functions.get(name, ""))
        changed = [line.strip() for line in difflib.unified_diff(original, mutant, lineterm="", n=0)
                   if line[:1] in "+-" and not line.startswith(("+++", "---"))]
        out[key] = " | ".join(changed)[:300]
    return out


def _body(function: str) -> list[str]:
    """The function's lines with its (mangled) name left out, so a changed default shows."""
    lines = function.splitlines()
    return [re.sub(r"def \w+\(", "def f(", lines[0], count=1), *lines[1:]] if lines else []


def main(argv: list[str]) -> int:
    if argv[:1] == ["--child"]:
        _child(argv[1])
        return 0
    unknown = [a for a in argv if a not in TARGETS]
    if unknown:
        print(f"mutate: unknown module {', '.join(unknown)}; choose from {', '.join(TARGETS)}", file=sys.stderr)
        return 2
    names = argv or list(TARGETS)
    logs = ROOT / "mutants-report"
    logs.mkdir(exist_ok=True)
    rows = []
    for name in names:
        print(f"mutate: {name} ({TARGETS[name].path}) ...", flush=True)
        rows.append((name, *_run_module(name, logs)))
    shutil.rmtree(ROOT / "mutants", ignore_errors=True)
    print("\nmodule       killed  total  score")
    failed = False
    for name, killed, total, _ in rows:
        score = killed / total if total else 1.0
        failed |= score < GOAL
        print(f"{name:<12} {killed:>6} {total:>6}  {score:6.1%}{'' if score >= GOAL else '  below 90%'}")
    for name, _, _, survivors in rows:
        if survivors:
            print(f"\nsurvivors in {name} (explain each in tests/MUTANTS.md, or kill it):")
            for key, status, diff in survivors:
                print(f"  {key} [{status}]: {diff}")
    (logs / "summary.txt").write_text("\n".join(
        f"{name} {killed}/{total} " + " ".join(k for k, _, _ in s) for name, killed, total, s in rows) + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
