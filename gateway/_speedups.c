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

/* does low[i:] start with `name` (of length len) followed by a delimiter (the regex lookahead
 * needs that byte to be there) */
static int name_at(const unsigned char *low, Py_ssize_t i, Py_ssize_t n, const char *name, Py_ssize_t len)
{
    return n - i >= len + 1 && memcmp(low + i, name, (size_t)len) == 0 && is_delim(low[i + len]);
}

#define NAME_AT(low, i, n, lit) name_at(low, i, n, lit, (Py_ssize_t)(sizeof lit - 1))

/* a start tag named in _SPECIAL at low[j:]; dispatched on the first letter, as most tags
 * (a, p, div, img, span, ...) are none of these */
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

/* _CANDIDATE.search(low, from): the start of the next candidate, or -1 */
static Py_ssize_t find_candidate(const unsigned char *low, Py_ssize_t from, Py_ssize_t n)
{
    for (Py_ssize_t i = find_byte(low, from, n, '<'); i >= 0; i = find_byte(low, i + 1, n, '<')) {
        Py_ssize_t j = i + 1;
        if (j >= n) return -1;
        if (low[j] == '!') {
            if (n - j >= 3 && low[j + 1] == '-' && low[j + 2] == '-') return i;
        } else if (low[j] == '/') {
            if (end_special_at(low, j + 1, n)) return i;
        } else if (special_at(low, j, n)) {
            return i;
        }
    }
    return -1;
}

/* _HIDDEN_LT.search(buf, lo, hi) is not None:
 * =[ws]*+(?:"[^"<]*+<|'[^'<]*+<|[^ws"'>=<][^ws><]*+<), the whole match inside [lo, hi).
 * An unquoted value that failed at `unq_end` makes every later unquoted value starting before
 * it fail at the same byte (same class), so it is not scanned again: linear time. */
static int hidden_lt(const unsigned char *s, Py_ssize_t lo, Py_ssize_t hi)
{
    Py_ssize_t unq_end = -1;
    for (Py_ssize_t i = find_byte(s, lo, hi, '='); i >= 0; i = find_byte(s, i + 1, hi, '=')) {
        Py_ssize_t j = i + 1;
        while (j < hi && is_ws(s[j])) j++;
        if (j >= hi) continue;
        unsigned char c = s[j];
        if (c == '"' || c == '\'') {
            Py_ssize_t k = j + 1;
            while (k < hi && s[k] != c && s[k] != '<') k++;
            if (k < hi && s[k] == '<') return 1;
        } else if (!(c == '>' || c == '=' || c == '<')) {
            if (j < unq_end) continue;
            Py_ssize_t k = j + 1;
            while (k < hi && !is_ws(s[k]) && s[k] != '>' && s[k] != '<') k++;
            if (k < hi && s[k] == '<') return 1;
            unq_end = k;
        }
    }
    return 0;
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
        if (cand == -2) cand = find_candidate(low, known, n);
        Py_ssize_t limit = cand >= 0 ? cand : n;
        Py_ssize_t h = (hit >= 0 && hit < limit) ? hit : -1;
        Py_ssize_t at = h >= 0 ? h : limit;
        r.checked = checked;
        r.known = known;
        r.cand = cand;
        r.b = -1;
        if (at >= checked) {
            Py_ssize_t hi = at + 1 < n ? at + 1 : n;
            if (hidden_lt(buf, checked, hi)) {
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
    Py_ssize_t v[5];
    for (int i = 0; i < 5; i++) {
        v[i] = PyLong_AsSsize_t(args[2 + i]);
        if (v[i] == -1 && PyErr_Occurred()) return NULL;
    }
    int final = PyObject_IsTrue(args[7]);
    if (final < 0) return NULL;
    Py_ssize_t n = PyBytes_GET_SIZE(args[0]);
    Py_ssize_t pos = v[0], checked = v[1], known = v[2], cand = v[3], hit = v[4];
    if (PyBytes_GET_SIZE(args[1]) != n || pos < 0 || pos > n || checked < 0 || known < 0 || known > n ||
        cand < -2 || cand >= n || hit < -1 || hit > n) {
        PyErr_SetString(PyExc_ValueError, "walk(): state out of range");
        return NULL;
    }
    scan_step r = scan_walk((const unsigned char *)PyBytes_AS_STRING(args[0]),
                            (const unsigned char *)PyBytes_AS_STRING(args[1]), n, pos, checked, known, cand,
                            hit, final);
    Py_ssize_t fields[6] = {r.kind, r.a, r.b, r.checked, r.known, r.cand};
    PyObject *step = PyTuple_New(6);
    if (step == NULL) return NULL;
    for (int i = 0; i < 6; i++) {
        PyObject *v = PyLong_FromSsize_t(fields[i]);
        if (v == NULL) {
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
