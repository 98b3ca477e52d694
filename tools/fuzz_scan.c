/* libFuzzer harness for the compiled walk (gateway/_speedups.c), under AddressSanitizer and UBSan.
 * Not a CI test. Build and run (clang from Debian's `clang` package):
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
 *         tools/fuzz_scan.c -o /tmp/fuzz_scan
 *   /tmp/fuzz_scan -max_total_time=900 -max_len=4096 /tmp/fuzz_corpus
 *
 * The input's first 6 bytes pick a state (pos, known, checked, cand, hit, final); the rest is the
 * page. Besides the sanitizers, it checks what the caller relies on: every position returned lies
 * inside the buffer, and the rewriter's driver loop (gateway/rewrite.py _skip_data, with a blocked
 * pattern found by memmem) ends and never moves backwards.
 */
#define SCAN_CORE_ONLY
#include "../gateway/_speedups.c"

#include <stdint.h>
#include <stdlib.h>

static Py_ssize_t pick(uint8_t b, Py_ssize_t lo, Py_ssize_t hi)
{
    return hi <= lo ? lo : lo + (Py_ssize_t)b % (hi - lo + 1);
}

static Py_ssize_t next_hit(const unsigned char *low, Py_ssize_t n, Py_ssize_t from)
{
    static const char pat[] = "hm.";
    if (from >= n) return -1;
    const unsigned char *p = memmem(low + from, (size_t)(n - from), pat, sizeof pat - 1);
    return p ? p - low : -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 6) return 0;
    Py_ssize_t n = (Py_ssize_t)size - 6;
    /* exact-size copies, so any read past the end is caught */
    unsigned char *buf = malloc(n ? (size_t)n : 1), *low = malloc(n ? (size_t)n : 1);
    if (!buf || !low) abort();
    memcpy(buf, data + 6, (size_t)n);
    for (Py_ssize_t i = 0; i < n; i++) low[i] = (buf[i] >= 'A' && buf[i] <= 'Z') ? buf[i] + 32 : buf[i];

    /* one step from an arbitrary valid state */
    Py_ssize_t pos = pick(data[0], 0, n), known = pick(data[1], 0, n), checked = pick(data[2], 0, n + 1);
    Py_ssize_t cand = data[3] & 1 ? -2 : (data[3] & 2 ? -1 : (n ? pick(data[3], 0, n - 1) : -1));
    Py_ssize_t hit = data[4] & 1 ? -1 : pick(data[4], 0, n);
    int final = data[5] & 1;
    scan_step r = scan_walk(buf, low, n, pos, checked, known, cand, hit, final);
    if (r.kind < SCAN_DONE || r.kind > SCAN_STALE || r.a < -1 || r.a > n || r.b < -1 || r.b > n ||
        r.known < 0 || r.known > n || r.cand < -2 || r.cand >= n)
        abort();

    /* the driver loop, from the rewriter's start state */
    pos = pick(data[0], 0, n);
    checked = known = pos;
    cand = -2;
    hit = next_hit(low, n, pos);
    for (Py_ssize_t rounds = 0;; rounds++) {
        if (rounds > n + 2) abort();  /* every round moves `known` forward */
        r = scan_walk(buf, low, n, pos, checked, known, cand, hit, final);
        if (r.known < known || r.known > n) abort();
        checked = r.checked;
        cand = r.cand;
        known = r.known;
        if (r.kind == SCAN_DONE) {
            if (r.a < pos || r.a > n) abort();
            break;
        }
        if (r.kind == SCAN_SLOW) break;
        if (r.kind == SCAN_HIT) {
            if (r.a >= 0 && r.b < 0) break;  /* an unfinished tag: the rewriter returns there */
            Py_ssize_t next = r.a >= 0 ? r.b : hit + 1;
            if (next <= known) abort();  /* past the hit: the walk goes on after it */
            known = next;
        }
        hit = next_hit(low, n, known);
    }
    free(buf);
    free(low);
    return 0;
}
