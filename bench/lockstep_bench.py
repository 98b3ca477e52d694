"""The gateway's CPU per request, this checkout against another one, in lockstep.

One origin nginx (proxy_bench.py's, on CPU 1 with wrk) serves the 12 KB page and a 9 KB JSON body;
the gateway of each checkout (proxy_bench.py's config, the catalog on, one worker on CPU 0) answers
wrk in turn, round after round, so both see the same machine. The figure is the server process's
own CPU time per request (user + system, from /proc), which other load on a shared machine does
not inflate the way requests per second are; medians per checkout and their ratio (this / other).

On a busy shared machine even CPU time moves by 20% from run to run (caches, other processes'
load). `--instructions N` counts instead: each gateway runs under valgrind's callgrind (both at
once, they do not disturb each other's count), answers 30 requests per path to warm up, has its
counters zeroed, answers N more on one keep-alive connection, and has them dumped: user-space
instructions per request, the same from run to run within a few percent. System calls are not in it.

    python bench/lockstep_bench.py --against /work/main [--paths /data.json /page.html] [--rounds 3] [--seconds 8]
    python bench/lockstep_bench.py --against /work/main --instructions 300
"""

from __future__ import annotations

import argparse
import glob
import http.client
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import proxy_bench as pb  # bench/ is on sys.path when this script runs

HERE = Path(__file__).resolve().parent.parent


def json_body() -> bytes:
    return b'{"items": [' + b", ".join(b'{"id": %d}' % i for i in range(900)) + b"]}"


def run_once(root: Path, tmp: Path, origin: int, path: str, seconds: int) -> tuple[float, float]:
    """(CPU us per request, requests/s) of a gateway run from the checkout at `root`."""
    port = pb.free_port()
    conf = tmp / f"g-{port}.toml"
    conf.write_text(pb.GATEWAY.format(origin=origin, port=port, dir=tmp, catalog=""))
    env = {**os.environ, "PYTHONPATH": str(root)}
    code = "import sys; from gateway.cli import main; sys.argv[0] = 'consent-gateway'; sys.exit(main())"
    proc = subprocess.Popen(["taskset", "-c", "0", sys.executable, "-c", code, "serve", "--config", str(conf)],
                            stderr=subprocess.DEVNULL, env=env, cwd=root)
    try:
        pb.wait_port(port)
        pb.wrk(port, 2, 64, path)  # warm: connections, caches, the allocator
        before = pb.cpu_seconds(proc.pid)
        rps, _, _, n = pb.wrk(port, seconds, 64, path)
        return 1e6 * (pb.cpu_seconds(proc.pid) - before) / n, rps
    finally:
        proc.terminate()
        proc.wait(30)


def instructions(root: Path, tmp: Path, origin: int, paths: list[str], n: int) -> dict[str, float]:
    """Instructions per request of the gateway from `root`, under callgrind (see the module doc)."""
    port = pb.free_port()
    conf = tmp / f"g-{port}.toml"
    conf.write_text(pb.GATEWAY.format(origin=origin, port=port, dir=tmp, catalog=""))
    out = tmp / f"callgrind-{port}"
    code = "import sys; from gateway.cli import main; sys.argv[0] = 'consent-gateway'; sys.exit(main())"
    proc = subprocess.Popen(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", sys.executable, "-c", code,
                             "serve", "--config", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "PYTHONPATH": str(root)}, cwd=root)
    headers = {"Cookie": "_ga=GA1.2.3; sid=abc; csrftoken=t; other=1", "Accept-Language": "en",
               "User-Agent": pb.BROWSER}
    result = {}
    try:
        pb.wait_port(port, timeout=600)
        for path in paths:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
            for i in range(30 + n):
                if i == 30:
                    subprocess.run(["callgrind_control", "-z", str(proc.pid)], check=True, capture_output=True)
                conn.request("GET", path, headers=headers)
                response = conn.getresponse()
                response.read()
                assert response.status == 200, response.status
            before = set(glob.glob(f"{out}*"))
            subprocess.run(["callgrind_control", "-d", str(proc.pid)], check=True, capture_output=True)
            [dump] = set(glob.glob(f"{out}*")) - before
            totals = [line for line in Path(dump).read_text().splitlines() if line.startswith(("summary:", "totals:"))]
            result[path] = int(totals[0].split()[1]) / n
            conn.close()
    finally:
        proc.terminate()
        proc.wait(600)
    return result


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--against", required=True, help="the other checkout's root (its gateway package is run)")
    ap.add_argument("--paths", nargs="+", default=["/data.json", "/page.html"])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=8)
    ap.add_argument("--instructions", type=int, metavar="N", help="count instructions over N requests instead")
    args = ap.parse_args()
    roots = {"this": HERE, "other": Path(args.against).resolve()}
    with tempfile.TemporaryDirectory(prefix="cg-lockstep-") as d:
        tmp = Path(d)
        os.chmod(tmp, 0o755)
        (tmp / "page.html").write_bytes(pb.page_12k())
        (tmp / "data.json").write_bytes(json_body())
        origin = pb.free_port()
        nginx = pb.start_nginx(tmp, "origin", pb.ORIGIN.format(port=origin, dir=tmp), cpu=1)
        try:
            pb.wait_port(origin)
            if args.instructions:
                return print_instructions(roots, tmp, origin, args.paths, args.instructions)
            cpu: dict[tuple[str, str], list[float]] = {}
            rps: dict[tuple[str, str], list[float]] = {}
            for r in range(args.rounds):
                for path in args.paths:
                    order = ("other", "this") if r % 2 == 0 else ("this", "other")
                    for name in order:
                        us, rate = run_once(roots[name], tmp, origin, path, args.seconds)
                        cpu.setdefault((name, path), []).append(us)
                        rps.setdefault((name, path), []).append(rate)
                        print(f"round {r + 1} {path:11s} {name:5s} {us:6.0f} us/request {rate:7.0f} req/s", flush=True)
        finally:
            nginx.terminate()
            nginx.wait(10)
    print(f"\nthis = {roots['this']}, other = {roots['other']}; medians of {args.rounds} rounds")
    print(f"{'path':11s} {'other us':>9s} {'this us':>8s} {'this/other':>10s} {'other req/s':>12s} {'this req/s':>11s}")
    for path in args.paths:
        o, t = statistics.median(cpu[("other", path)]), statistics.median(cpu[("this", path)])
        ro, rt = statistics.median(rps[("other", path)]), statistics.median(rps[("this", path)])
        print(f"{path:11s} {o:9.0f} {t:8.0f} {t / o:10.2f} {ro:12.0f} {rt:11.0f}")
    return 0


def print_instructions(roots: dict[str, Path], tmp: Path, origin: int, paths: list[str], n: int) -> int:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(2) as pool:
        runs = {name: pool.submit(instructions, root, tmp, origin, paths, n) for name, root in roots.items()}
        counts = {name: run.result() for name, run in runs.items()}
    print(f"this = {roots['this']}, other = {roots['other']}; instructions per request over {n} (callgrind)")
    print(f"{'path':11s} {'other':>10s} {'this':>10s} {'this/other':>10s}")
    for path in paths:
        o, t = counts["other"][path], counts["this"][path]
        print(f"{path:11s} {o:10.0f} {t:10.0f} {t / o:10.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
