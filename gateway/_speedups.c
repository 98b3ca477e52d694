/* The compiled walk of the HTML rewriter: gateway/_scan_py.py's `walk`, byte for byte.
 *
 * Same contract as the Python twin (read its docstring): bytes and explicit state in, a step out,
 * no calls back into Python. The hand-written matchers below follow the possessive regexes of
 * gateway/_scan_py.py and gateway/htmltokens.py (_CANDIDATE, _HIDDEN_LT, TAG_AT); possessive
 * quantifiers never backtrack, so each is a single forward pass. Every read is bounded by the
 * buffer length; tools/fuzz_scan.c runs this file under AddressSanitizer.
 *
 * Built with SCAN_CORE_ONLY defined, only the core is compiled (no Python), for the fuzzer.
 */
#define _GNU_SOURCE 1 /* memrchr, memmem */
#ifndef SCAN_CORE_ONLY
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#else
#include <sys/types.h>
typedef ssize_t Py_ssize_t;
#endif
#include <string.h>

enum { SCAN_DONE = 0, SCAN_SLOW = 1, SCAN_HIT = 2, SCAN_STALE = 3 };

typedef struct {
    int kind;
    Py_ssize_t a, b, checked, known, cand;
} scan_step;

static int is_ws(unsigned char c) { return c == '\t' || c == '\n' || c == '\f' || c == '\r' || c == ' '; }
static int is_delim(unsigned char c) { return is_ws(c) || c == '/' || c == '>'; }
static int is_alpha(unsigned char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

/* Byte classes for the per-byte loops of the hot matchers: one load instead of a chain of compares. */
enum { C_WS = 1, C_GT = 2, C_LT = 4 };
static const unsigned char byte_class[256] = {
    ['\t'] = C_WS, ['\n'] = C_WS, ['\f'] = C_WS, ['\r'] = C_WS, [' '] = C_WS, ['>'] = C_GT, ['<'] = C_LT,
};

/* bytes.rfind(b"<", lo, hi): -1 when none, or when lo >= hi */
static Py_ssize_t rfind_lt(const unsigned char *s, Py_ssize_t lo, Py_ssize_t hi)
{
    if (lo < 0) lo = 0;
    if (lo >= hi) return -1;
    const unsigned char *p = memrchr(s + lo, '<', (size_t)(hi - lo));
    return p ? p - s : -1;
}

static Py_ssize_t find_byte(const unsigned char *s, Py_ssize_t from, Py_ssize_t n, unsigned char c)
{
    if (from >= n) return -1;
    const unsigned char *p = memchr(s + from, c, (size_t)(n - from));
    return p ? p - s : -1;
}

/* The walk stops at every '<' (a candidate?) and every '=' (a hidden '<'?), one of each ~10 bytes
 * in tag-dense pages, so a memchr call per occurrence cost more than the search itself. Instead
 * the bytes go 64 at a time into bit masks (SSE2, in every x86-64; a plain loop elsewhere and for
 * the last < 64 bytes, so no load reaches past the buffer), and the occurrences are popped from
 * the masks in order. */
#if defined(__SSE2__) && defined(__GNUC__) && !defined(SCAN_NO_SIMD) /* SCAN_NO_SIMD: test the plain path */
#include <emmintrin.h>
#define SCAN_SSE2 1
#endif

/* bit k set: s[p + k] == c, for k < len <= 64 */
static inline unsigned long long mask64(const unsigned char *s, Py_ssize_t p, Py_ssize_t len, unsigned char c)
{
#ifdef SCAN_SSE2
    if (len == 64) {
        const __m128i v = _mm_set1_epi8((char)c);
        unsigned long long m = 0;
        for (int k = 0; k < 4; k++) {
            __m128i x = _mm_loadu_si128((const __m128i *)(s + p + 16 * k));
            m |= (unsigned long long)(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(x, v)) << (16 * k);
        }
        return m;
    }
#endif
    unsigned long long m = 0;
    for (Py_ssize_t k = 0; k < len; k++) m |= (unsigned long long)(s[p + k] == c) << k;
    return m;
}

/* the bits of the block at p (64 positions) that lie in [lo, hi) */
static inline unsigned long long span_bits(Py_ssize_t p, Py_ssize_t lo, Py_ssize_t hi)
{
    Py_ssize_t a = lo > p ? lo - p : 0, b = hi - p < 64 ? hi - p : 64;
    if (a >= b) return 0;
    return (b == 64 ? ~0ULL : (1ULL << b) - 1) & (~0ULL << a);
}

/* the first position in [from, hi) holding a or b, or -1 */
static inline Py_ssize_t find2(const unsigned char *s, Py_ssize_t from, Py_ssize_t hi, unsigned char a,
                               unsigned char b)
{
    Py_ssize_t i = from;
#ifdef SCAN_SSE2
    const __m128i va = _mm_set1_epi8((char)a), vb = _mm_set1_epi8((char)b);
    for (; hi - i >= 16; i += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(s + i));
        unsigned m = (unsigned)_mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(v, va), _mm_cmpeq_epi8(v, vb)));
        if (m) return i + __builtin_ctz(m);
    }
#endif
    for (; i < hi; i++)
        if (s[i] == a || s[i] == b) return i;
    return -1;
}

/* does low[i:] start with `name` (of length len) followed by a delimiter (the regex lookahead
 * needs that byte to be there); a plain loop, as a memcmp call per tag showed in the profile */
static inline int name_at(const unsigned char *low, Py_ssize_t i, Py_ssize_t n, const char *name, Py_ssize_t len)
{
    if (n - i < len + 1) return 0;
    for (Py_ssize_t k = 0; k < len; k++)
        if (low[i + k] != (unsigned char)name[k]) return 0;
    return is_delim(low[i + len]);
}

#define NAME_AT(low, i, n, lit) name_at(low, i, n, lit, (Py_ssize_t)(sizeof lit - 1))

/* a start tag named in _SPECIAL at low[j:] (low[j] is in the buffer) */
static int special_at(const unsigned char *low, Py_ssize_t j, Py_ssize_t n)
{
    switch (low[j]) {
    case 's': return NAME_AT(low, j, n, "script") || NAME_AT(low, j, n, "style");
    case 'i': return NAME_AT(low, j, n, "iframe");
    case 't': return NAME_AT(low, j, n, "textarea") || NAME_AT(low, j, n, "title");
    case 'x': return NAME_AT(low, j, n, "xmp");
    case 'n': return NAME_AT(low, j, n, "noembed") || NAME_AT(low, j, n, "noframes");
    case 'p': return NAME_AT(low, j, n, "plaintext");
    case 'b': return NAME_AT(low, j, n, "body");
    case 'm': return NAME_AT(low, j, n, "meta");
    default: return 0;
    }
}

/* an end tag named in _END_SPECIAL at low[j:] (after the "</") */
static int end_special_at(const unsigned char *low, Py_ssize_t j, Py_ssize_t n)
{
    if (j >= n) return 0;
    switch (low[j]) {
    case 'b': return NAME_AT(low, j, n, "body");
    case 'h': return NAME_AT(low, j, n, "html") || NAME_AT(low, j, n, "head");
    default: return 0;
    }
}

/* The two bytes after the '<' of every candidate are one of these 13 pairs. A perfect hash
 * (the multiplier was found by trying) rejects an ordinary tag with one load and one
 * well-predicted branch, where a switch on the name mispredicted on every mix of tags. Only
 * a filter: the pairs that pass are checked in full below. */
#define PAIR(a, b) ((unsigned)(unsigned char)(a) | (unsigned)(unsigned char)(b) << 8)
#define PAIR_SLOT(k) ((unsigned)((k) * 0x3f98e0efu) >> 28)
#define PAIR_ENTRY(a, b) [PAIR_SLOT(PAIR(a, b))] = PAIR(a, b)
static const unsigned short cand_pairs[16] = {
    PAIR_ENTRY('!', '-'), PAIR_ENTRY('/', 'b'), PAIR_ENTRY('/', 'h'), PAIR_ENTRY('s', 'c'), PAIR_ENTRY('s', 't'),
    PAIR_ENTRY('i', 'f'), PAIR_ENTRY('t', 'e'), PAIR_ENTRY('t', 'i'), PAIR_ENTRY('x', 'm'), PAIR_ENTRY('n', 'o'),
    PAIR_ENTRY('p', 'l'), PAIR_ENTRY('b', 'o'), PAIR_ENTRY('m', 'e'),
};

/* _CANDIDATE.match(low, i), low[i] being '<' */
static inline int candidate_at(const unsigned char *low, Py_ssize_t i, Py_ssize_t n)
{
    if (n - i < 4) return 0; /* "<!--" is the shortest candidate */
    unsigned k = PAIR(low[i + 1], low[i + 2]);
    if (cand_pairs[PAIR_SLOT(k)] != k) return 0;
    if (low[i + 1] == '!') return low[i + 3] == '-'; /* "<!-" is in the pair */
    if (low[i + 1] == '/') return end_special_at(low, i + 2, n);
    return special_at(low, i + 1, n);
}

/* The '<' that ends a _HIDDEN_LT match starting at the '=' at i, or -1:
 * =[ws]*+(?:"[^"<]*+<|'[^'<]*+<|[^ws"'>=<][^ws><]*+<), searched up to `hi`. None of the classes
 * holds '<', so a match ends at the first '<' after its value starts: no scan passes the next
 * '<'. An unquoted value that failed at `*unq_end` makes every later unquoted value starting
 * before it fail at the same byte (same class), so it is not scanned again: linear time. */
static inline Py_ssize_t eq_match(const unsigned char *s, Py_ssize_t i, Py_ssize_t hi, Py_ssize_t *unq_end)
{
    Py_ssize_t j = i + 1;
    while (j < hi && byte_class[s[j]] == C_WS) j++;
    if (j >= hi) return -1;
    unsigned char c = s[j];
    if (c == '"' || c == '\'') {
        Py_ssize_t k = find2(s, j + 1, hi, c, '<');
        return k >= 0 && s[k] == '<' ? k : -1;
    }
    if (c == '>' || c == '=' || c == '<' || j < *unq_end) return -1;
    Py_ssize_t k = j + 1;
    while (k < hi && byte_class[s[k]] == 0) k++;
    if (k < hi && s[k] == '<') return k;
    *unq_end = k;
    return -1;
}

/* One pass for both searches of the walk: the first candidate ('<' in low) at or after `known`
 * (returned, or -1), and the first '=' in buf within [checked, eq_end) that starts a _HIDDEN_LT
 * match searched up to `bound` (its match's '<' in *hidden, or -1). Every '=' may start a match,
 * those inside quoted values too, so each is tried, in order; the first match ends at the
 * smallest '<' (a later '=' before that '<' reaches it too), so the '=' stop there. Per 64-byte
 * block the '=' go first, then the '<', each a loop of its own (alternating between them in one
 * loop mispredicted), so a match may come from an '=' after the candidate in its block: it ends
 * after the candidate, where the walk's window has already ended. With known >= n it is
 * _HIDDEN_LT.search(buf, checked, bound) for an '=' below eq_end. */
static Py_ssize_t find_both(const unsigned char *buf, const unsigned char *low, Py_ssize_t n, Py_ssize_t known,
                            Py_ssize_t checked, Py_ssize_t eq_end, Py_ssize_t bound, Py_ssize_t *hidden)
{
    Py_ssize_t unq_end = -1;
    *hidden = -1;
    if (eq_end > n) eq_end = n;
    for (Py_ssize_t p = known < checked ? known : checked; p < n; p += 64) {
        int eq_on = *hidden < 0 && p < eq_end;
        if (!eq_on) {
            if (known >= n) break;
            if (p + 64 <= known) p = known; /* only '<' from here: start at `known` */
        }
        Py_ssize_t len = n - p < 64 ? n - p : 64;
        if (eq_on) {
            unsigned long long m = mask64(buf, p, len, '=') & span_bits(p, checked, eq_end);
            for (; m; m &= m - 1) {
                Py_ssize_t i = p + __builtin_ctzll(m);
                Py_ssize_t k = eq_match(buf, i, bound, &unq_end);
                if (k >= 0) {
                    *hidden = k;
                    break;
                }
            }
        }
        if (known >= p + len) continue;
        unsigned long long m = mask64(low, p, len, '<') & span_bits(p, known, n);
        for (; m; m &= m - 1) {
            Py_ssize_t i = p + __builtin_ctzll(m);
            if (candidate_at(low, i, n)) return i;
        }
    }
    return -1;
}

/* _HIDDEN_LT.search(buf, lo, hi) is not None, the whole match inside [lo, hi) */
static int hidden_lt(const unsigned char *buf, Py_ssize_t n, Py_ssize_t lo, Py_ssize_t hi)
{
    Py_ssize_t k;
    find_both(buf, buf, n, n, lo, hi, hi, &k);
    return k >= 0;
}

/* TAG_REST matched at p: the end of the tag (after its '>'), or -1 */
static Py_ssize_t tag_rest(const unsigned char *s, Py_ssize_t p, Py_ssize_t n)
{
    while (p < n) {
        unsigned char c = s[p];
        if (is_ws(c) || c == '/') {
            while (p < n && (is_ws(s[p]) || s[p] == '/')) p++;
            continue;
        }
        if (c == '>') return p + 1;
        /* an attribute: its name ('=' may start one), then maybe '=' and a value */
        p++;
        while (p < n && !is_delim(s[p]) && s[p] != '=') p++;
        Py_ssize_t q = p;
        while (q < n && is_ws(s[q])) q++;
        if (q >= n || s[q] != '=') continue;  /* no value: the lookahead consumed nothing */
        q++;
        while (q < n && is_ws(s[q])) q++;
        if (q < n && (s[q] == '"' || s[q] == '\'')) {
            Py_ssize_t close = find_byte(s, q + 1, n, s[q]);
            if (close < 0) return -1;  /* an unclosed quote: the tag is not complete */
            p = close + 1;
        } else {
            while (q < n && !is_ws(s[q]) && s[q] != '>') q++;
            p = q;
        }
    }
    return -1;
}

/* TAG_AT.match(buf, lt) end, or -1: </?[A-Za-z][^ws/>]*+ TAG_REST */
static Py_ssize_t tag_at(const unsigned char *s, Py_ssize_t lt, Py_ssize_t n)
{
    Py_ssize_t p = lt + 1;
    if (p < n && s[p] == '/') p++;
    if (p >= n || !is_alpha(s[p])) return -1;
    p++;
    while (p < n && !is_delim(s[p])) p++;
    return tag_rest(s, p, n);
}

/* _enclosing_tag: the ordinary tag holding `at` as (*start, *end); -1/-1 none; end -1 unfinished */
static void enclosing_tag(const unsigned char *s, Py_ssize_t n, Py_ssize_t pos, Py_ssize_t at,
                          Py_ssize_t *start, Py_ssize_t *end)
{
    Py_ssize_t lt = rfind_lt(s, pos, at);
    int nxt = -1, after = -1;
    while (lt >= 0) {
        nxt = lt + 1 < n ? s[lt + 1] : -1;
        after = lt + 2 < n ? s[lt + 2] : -1;
        if ((nxt >= 0 && is_alpha((unsigned char)nxt)) || nxt == '!' || nxt == '?' || (nxt == '/' && after != '>'))
            break;
        lt = rfind_lt(s, pos, lt);  /* a '<' that starts nothing is text */
    }
    *start = *end = -1;
    if (lt < 0) return;
    Py_ssize_t e;
    if ((nxt >= 0 && is_alpha((unsigned char)nxt)) || (nxt == '/' && after >= 0 && is_alpha((unsigned char)after))) {
        e = tag_at(s, lt, n);
    } else {  /* <!x>, <?x>, </1>: bogus comments end at the first '>' */
        Py_ssize_t gt = find_byte(s, lt + 1, n, '>');
        e = gt >= 0 ? gt + 1 : -1;
    }
    if (e < 0) {
        *start = lt;
    } else if (e > at) {
        *start = lt;
        *end = e;
    }
}

static Py_ssize_t data_tail(const unsigned char *s, Py_ssize_t n, Py_ssize_t pos, int final)
{
    if (final) return n;
    Py_ssize_t start, end;
    enclosing_tag(s, n, pos, n, &start, &end);
    if (start >= 0 && end < 0) return start;
    Py_ssize_t lo = n - 12 > pos ? n - 12 : pos;
    Py_ssize_t split = rfind_lt(s, lo, n);
    return split >= 0 ? split : n;
}

/* _scan_py.walk; the caller has checked 0 <= pos <= n, 0 <= known <= n, checked >= 0,
 * cand in {-2, -1} or [0, n), hit -1 or in [0, n] */
static scan_step scan_walk(const unsigned char *buf, const unsigned char *low, Py_ssize_t n, Py_ssize_t pos,
                           Py_ssize_t checked, Py_ssize_t known, Py_ssize_t cand, Py_ssize_t hit, int final)
{
    scan_step r;
    for (;;) {
        Py_ssize_t hidden = -1;
        int searched = cand == -2;
        if (searched) /* the '=' that matter end at the hit, if it comes first */
            cand = find_both(buf, low, n, known, checked, hit >= 0 ? hit + 1 : n, n, &hidden);
        Py_ssize_t limit = cand >= 0 ? cand : n;
        Py_ssize_t h = (hit >= 0 && hit < limit) ? hit : -1;
        Py_ssize_t at = h >= 0 ? h : limit;
        r.checked = checked;
        r.known = known;
        r.cand = cand;
        r.b = -1;
        if (at >= checked) {
            /* up to and including the candidate's own '<', which may be the hidden one */
            Py_ssize_t hi = at + 1 < n ? at + 1 : n;
            if (searched ? hidden >= 0 && hidden < hi : hidden_lt(buf, n, checked, hi)) {
                r.kind = SCAN_SLOW;
                r.a = pos;
                return r;
            }
            checked = r.checked = at + 1;
        }
        if (h >= 0) {
            r.kind = SCAN_HIT;
            enclosing_tag(buf, n, known, h, &r.a, &r.b);
            return r;
        }
        r.kind = SCAN_DONE;
        if (cand < 0) {
            r.a = data_tail(buf, n, pos, final);
            return r;
        }
        Py_ssize_t start, end;
        enclosing_tag(buf, n, known, limit, &start, &end);
        if (start < 0) {
            r.a = limit;  /* a real token */
            return r;
        }
        if (end < 0) {
            r.a = start;  /* inside a tag that has not ended yet */
            return r;
        }
        known = end;  /* the name was inside an attribute: look further */
        cand = -2;
        if (hit >= 0 && hit < known) {
            r.kind = SCAN_STALE;
            r.a = -1;
            r.known = known;
            r.cand = cand;
            return r;
        }
    }
}

#ifndef SCAN_CORE_ONLY

static PyObject *py_walk(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (nargs != 8) {
        PyErr_SetString(PyExc_TypeError, "walk() takes 8 arguments");
        return NULL;
    }
    if (!PyBytes_Check(args[0]) || !PyBytes_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "walk() needs bytes");
        return NULL;
    }
    Py_ssize_t values[5];
    for (int i = 0; i < 5; i++) {
        values[i] = PyLong_AsSsize_t(args[2 + i]);
        if (values[i] == -1 && PyErr_Occurred()) return NULL;
    }
    int final = PyObject_IsTrue(args[7]);
    if (final < 0) return NULL;
    Py_ssize_t n = PyBytes_GET_SIZE(args[0]);
    Py_ssize_t pos = values[0], checked = values[1], known = values[2], cand = values[3], hit = values[4];
    if (PyBytes_GET_SIZE(args[1]) != n || pos < 0 || pos > n || checked < 0 || known < 0 || known > n ||
        cand < -2 || cand >= n || hit < -1 || hit > n) {
        PyErr_SetString(PyExc_ValueError, "walk(): state out of range");
        return NULL;
    }
    scan_step r = scan_walk((const unsigned char *)PyBytes_AS_STRING(args[0]),
                            (const unsigned char *)PyBytes_AS_STRING(args[1]), n, pos, checked, known, cand,
                            hit, final);
    /* A step's positions mostly repeat the state passed in (known, often checked) or each other
     * (a token at the candidate: a == cand); those objects are reused, as an int allocation per
     * field was a good part of a short walk's cost (the 300 KB page makes one call per ~400 bytes). */
    Py_ssize_t fields[6] = {r.kind, r.a, r.b, r.checked, r.known, r.cand};
    PyObject *step = PyTuple_New(6);
    if (step == NULL) return NULL;
    for (int i = 0; i < 6; i++) {
        PyObject *v = NULL;
        for (int k = 0; k < 5 && v == NULL && i > 0; k++) /* an int subclass passed in stays there */
            if (fields[i] == values[k] && PyLong_CheckExact(args[2 + k])) v = Py_NewRef(args[2 + k]);
        for (int k = 1; k < i && v == NULL; k++)
            if (fields[i] == fields[k]) v = Py_NewRef(PyTuple_GET_ITEM(step, k));
        if (v == NULL && (v = PyLong_FromSsize_t(fields[i])) == NULL) {
            Py_DECREF(step);
            return NULL;
        }
        PyTuple_SET_ITEM(step, i, v);
    }
    return step;
}

static PyMethodDef methods[] = {
    {"walk", (PyCFunction)(void (*)(void))py_walk, METH_FASTCALL,
     "walk(buf, low, pos, checked, known, cand, hit, final): see gateway/_scan_py.py"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "gateway._speedups", "The compiled walk of the HTML rewriter.", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__speedups(void)
{
    PyObject *m = PyModule_Create(&module);
    if (m == NULL) return NULL;
    if (PyModule_AddIntConstant(m, "DONE", SCAN_DONE) < 0 || PyModule_AddIntConstant(m, "SLOW", SCAN_SLOW) < 0 ||
        PyModule_AddIntConstant(m, "HIT", SCAN_HIT) < 0 || PyModule_AddIntConstant(m, "STALE", SCAN_STALE) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}

#endif
