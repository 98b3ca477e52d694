/* libFuzzer harness for the compiled walk (gateway/_speedups.c), under AddressSanitizer and UBSan.
 * Not a CI test. Build and run (clang from Debian's `clang` package):
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
 *         tools/fuzz_scan.c -o /tmp/fuzz_scan
 *   /tmp/fuzz_scan -max_total_time=900 -max_len=4096 /tmp/fuzz_corpus
 *
 * Add -DSCAN_NO_SIMD to the clang line to fuzz the plain (no SSE2) path of the block search.
 *
 * The input's first 6 bytes pick a state (pos, known, checked, cand, hit, final); the rest is the
 * page. Besides the sanitizers, it checks what the caller relies on: every position returned lies
 * inside the buffer, and the rewriter's driver loop (gateway/rewrite.py _skip_data, with a blocked
 * pattern found by memmem) ends and never moves backwards. And it holds the block-wise search
 * (find_both: 64-byte masks, the '=' and '<' in one pass) to plain byte-by-byte transliterations
 * of _CANDIDATE and _HIDDEN_LT below, from the same state.
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

/* _CANDIDATE.search(low, from), one byte at a time */
static Py_ssize_t ref_candidate(const unsigned char *low, Py_ssize_t from, Py_ssize_t n)
{
    static const char *const names[] = {"script", "iframe", "style", "textarea", "title", "xmp", "noembed",
                                        "noframes", "plaintext", "body", "meta"};
    static const char *const ends[] = {"body", "html", "head"};
    for (Py_ssize_t i = from; i < n; i++) {
        if (low[i] != '<') continue;
        if (n - i >= 4 && low[i + 1] == '!' && low[i + 2] == '-' && low[i + 3] == '-') return i;
        int end = i + 1 < n && low[i + 1] == '/';
        const char *const *set = end ? ends : names;
        size_t count = end ? 3 : sizeof names / sizeof names[0];
        Py_ssize_t j = i + 1 + end;
        for (size_t k = 0; k < count; k++) {
            Py_ssize_t len = (Py_ssize_t)strlen(set[k]);
            if (n - j >= len + 1 && memcmp(low + j, set[k], (size_t)len) == 0 && is_delim(low[j + len])) return i;
        }
    }
    return -1;
}

/* _HIDDEN_LT.search(s, lo, hi) is not None, trying every start, quadratic and obvious */
static int ref_hidden(const unsigned char *s, Py_ssize_t lo, Py_ssize_t hi)
{
    for (Py_ssize_t i = lo; i < hi; i++) {
        if (s[i] != '=') continue;
        Py_ssize_t j = i + 1;
        while (j < hi && is_ws(s[j])) j++;
        if (j >= hi) continue;
        unsigned char c = s[j];
        Py_ssize_t k = j + 1;
        if (c == '"' || c == '\'') {
            while (k < hi && s[k] != c && s[k] != '<') k++;
        } else if (c == '>' || c == '=' || c == '<') {
            continue;
        } else {
            while (k < hi && !is_ws(s[k]) && s[k] != '>' && s[k] != '<') k++;
        }
        if (k < hi && s[k] == '<') return 1;
    }
    return 0;
}

static void check_searches(const unsigned char *buf, const unsigned char *low, Py_ssize_t n, Py_ssize_t known,
                           Py_ssize_t checked, Py_ssize_t eq_end)
{
    Py_ssize_t hidden;
    Py_ssize_t cand = find_both(buf, low, n, known, checked, eq_end, n, &hidden);
    if (cand != ref_candidate(low, known, n)) abort();
    /* the window the walk asks about: up to the candidate's '<' or the hit, whichever first */
    Py_ssize_t hi = cand >= 0 ? cand + 1 : n;
    if (eq_end < hi) hi = eq_end;
    if (hi > checked && (hidden >= 0 && hidden < hi) != ref_hidden(buf, checked, hi)) abort();
    if (hidden_lt(buf, n, checked, eq_end < n ? eq_end : n) != ref_hidden(buf, checked, eq_end < n ? eq_end : n))
        abort();
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
    check_searches(buf, low, n, known, checked, hit >= 0 ? hit + 1 : n);
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
