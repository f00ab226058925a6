/*
 * dta._speedups: classification scanning (issue 4).
 * Included by _speedups.c; DTA_CLASSIFY_METHODS expands to this header's method-table entries
 * (each ending in a comma), or to nothing.
 *
 * classify_candidates(text: str) -> tuple[list[int], list[int], list[int], list[int], list[int]]
 *     (spans, anchors, assign, at, jwt) for dta.classify._candidates, in one walk over the text.
 *
 *     spans: the spans of _candidates.NUM.finditer(text), flattened: [s0, e0, s1, e1, ...]
 *     (character offsets, increasing, non-overlapping). The pattern is re-stated below as a
 *     loop over code points: a token starts at a character of [0-9+(] whose predecessor is
 *     not in [0-9_.+-/]; the first branch that matches there (in the pattern's order: IBAN
 *     check digits, USCC after a letter authority code, then -- only when the predecessor is
 *     not an ASCII letter -- ECCN, dotted quad, USCC after a digit authority code, a long
 *     separated number) gives the span, and no token starts before its end; otherwise the
 *     next character is tried. Every character class is ASCII, so other code points (other
 *     Unicode digits, full-width forms, surrogates) never match, as in the regex.
 *
 *     anchors: the keyword anchors of _candidates.anchored(text), flattened: [pos0, word0,
 *     pos1, word1, ...] where word is an index into _candidates.ANCHOR_WORDS, in exactly the
 *     order anchored lists them (AWS key-id prefixes, then each plain keyword, the keywords
 *     found through one character, CONFIDENTIAL, the mixed-case phrases, the Chinese seals;
 *     each group by position). Occurrences of one keyword (and of the AWS prefixes, one
 *     regex) never overlap, as with repeated str.find / finditer. A keyword is recognised at
 *     one of its characters (its first, or a rarer one: "p" of "assport", "f" of
 *     "onfidential"), compared in full around it.
 *
 * classify_fullwidth_utf8(data: bytes) -> bool
 *     dta.classify._stream._has_fw_utf8: data holds the UTF-8 of a full-width digit or Latin
 *     letter (memchr for the EF lead byte, then its two continuation bytes).
 *
 * classify_window(text, start, end, extra, before, after) -> str
 *     dta.classify._context._window with its BEFORE / AFTER passed in: the context window
 *     around text[start:end], cut at line and sentence stops, plus extra.
 *
 *     Differential tests: tests/classify/test_classify_speedups.py.
 *
 * The walk reads the str's own 1-, 2- or 4-byte code units (no copy, no decoding), collects
 * the offsets in C buffers with the GIL released (the str is immutable and referenced by the
 * caller), and builds the lists afterwards. Reads inside the loop are bounded by it (cls_get,
 * 0 <= i < n); every look-around read is bounds-checked (cls_at returns CLS_NONE, a value no
 * character class accepts, outside [0, n)).
 */
#include <stdlib.h>
#include "_speedups_classify_num.h"
#include "_speedups_classify_anchor.h"

/* One walk over the text: numeric spans, anchors (g[1 + group]) and marks into g. With SSE2,
 * a 1- or 2-byte str is tested 16 or 8 characters at a time against a superset of the
 * characters cls_char_k acts on ([(-=] and [@-U] by range, p, f, and the four CJK characters
 * by value); only those characters are visited. Every other character is one cls_char_k
 * ignores (cls_tab 0 or 2: a look-behind-only character is read through cls_get). */
CLS_INLINE int
cls_scan_k(int kind, const void *d, Py_ssize_t n, cls_buf *g)
{
    cls_next nx;
    Py_ssize_t i = 0, resume = 0; /* no numeric token starts before resume (finditer) */

    memset(&nx, 0, sizeof nx);
#if defined(__SSE2__) && defined(__GNUC__)
    if (kind == PyUnicode_2BYTE_KIND) {
        const Py_UCS2 *u = (const Py_UCS2 *)d;
        /* v in [lo, lo + w) <=> (int16)(v + 0x8000 - lo) < -0x8000 + w */
        const __m128i b1 = _mm_set1_epi16((short)(0x8000 - 0x28));
        const __m128i l1 = _mm_set1_epi16((short)(-0x8000 + (0x3E - 0x28)));
        const __m128i b2 = _mm_set1_epi16((short)(0x8000 - 0x40));
        const __m128i l2 = _mm_set1_epi16((short)(-0x8000 + (0x56 - 0x40)));
        const __m128i cp = _mm_set1_epi16('p'), cf = _mm_set1_epi16('f');
        const __m128i k1 = _mm_set1_epi16((short)0x5185), k2 = _mm_set1_epi16((short)0x62A4);
        const __m128i k3 = _mm_set1_epi16((short)0x5BC6), k4 = _mm_set1_epi16((short)0xFF1A);
        for (; i + 8 <= n; i += 8) {
            __m128i v = _mm_loadu_si128((const __m128i *)(u + i));
            __m128i m = _mm_or_si128(_mm_cmplt_epi16(_mm_add_epi16(v, b1), l1),
                                     _mm_cmplt_epi16(_mm_add_epi16(v, b2), l2));
            m = _mm_or_si128(m, _mm_or_si128(_mm_cmpeq_epi16(v, cp), _mm_cmpeq_epi16(v, cf)));
            m = _mm_or_si128(m, _mm_or_si128(_mm_cmpeq_epi16(v, k1), _mm_cmpeq_epi16(v, k2)));
            m = _mm_or_si128(m, _mm_or_si128(_mm_cmpeq_epi16(v, k3), _mm_cmpeq_epi16(v, k4)));
            unsigned mask = (unsigned)_mm_movemask_epi8(m) & 0x5555u;
            while (mask) {
                Py_ssize_t j = i + (Py_ssize_t)(__builtin_ctz(mask) >> 1);
                mask &= mask - 1;
                if (cls_char_k(kind, d, n, j, u[j], g, &nx, &resume) < 0) {
                    return -1;
                }
            }
        }
    }
    else if (kind == PyUnicode_1BYTE_KIND) {
        const Py_UCS1 *u = (const Py_UCS1 *)d;
        /* v in [lo, lo + w) <=> (int8)(v + 0x80 - lo) < -0x80 + w */
        const __m128i b1 = _mm_set1_epi8((char)(0x80 - 0x28));
        const __m128i l1 = _mm_set1_epi8((char)(-0x80 + (0x3E - 0x28)));
        const __m128i b2 = _mm_set1_epi8((char)(0x80 - 0x40));
        const __m128i l2 = _mm_set1_epi8((char)(-0x80 + (0x56 - 0x40)));
        const __m128i cp = _mm_set1_epi8('p'), cf = _mm_set1_epi8('f');
        for (; i + 16 <= n; i += 16) {
            __m128i v = _mm_loadu_si128((const __m128i *)(u + i));
            __m128i m = _mm_or_si128(_mm_cmplt_epi8(_mm_add_epi8(v, b1), l1),
                                     _mm_cmplt_epi8(_mm_add_epi8(v, b2), l2));
            m = _mm_or_si128(m, _mm_or_si128(_mm_cmpeq_epi8(v, cp), _mm_cmpeq_epi8(v, cf)));
            unsigned mask = (unsigned)_mm_movemask_epi8(m);
            while (mask) {
                Py_ssize_t j = i + (Py_ssize_t)__builtin_ctz(mask);
                mask &= mask - 1;
                if (cls_char_k(kind, d, n, j, u[j], g, &nx, &resume) < 0) {
                    return -1;
                }
            }
        }
    }
#endif
    for (; i < n; i++) {
        if (cls_char_k(kind, d, n, i, cls_get(kind, d, i), g, &nx, &resume) < 0) {
            return -1;
        }
    }
    return 0;
}

static int
cls_scan_1(const void *d, Py_ssize_t n, cls_buf *g)
{
    return cls_scan_k(PyUnicode_1BYTE_KIND, d, n, g);
}

static int
cls_scan_2(const void *d, Py_ssize_t n, cls_buf *g)
{
    return cls_scan_k(PyUnicode_2BYTE_KIND, d, n, g);
}

static int
cls_scan_4(const void *d, Py_ssize_t n, cls_buf *g)
{
    return cls_scan_k(PyUnicode_4BYTE_KIND, d, n, g);
}

/* A list of the ints in bufs[0], bufs[1], ... (in that order). */
static PyObject *
cls_to_list(const cls_buf *bufs, int count)
{
    Py_ssize_t total = 0, at = 0, i;
    int b;
    PyObject *list;

    for (b = 0; b < count; b++) {
        total += bufs[b].len;
    }
    list = PyList_New(total);
    if (list == NULL) {
        return NULL;
    }
    for (b = 0; b < count; b++) {
        for (i = 0; i < bufs[b].len; i++) {
            PyObject *v = PyLong_FromSsize_t(bufs[b].v[i]);
            if (v == NULL) {
                Py_DECREF(list);
                return NULL;
            }
            PyList_SET_ITEM(list, at++, v);
        }
    }
    return list;
}

static PyObject *
speedups_classify_candidates(PyObject *module, PyObject *text)
{
    cls_buf g[CLS_BUFS];
    int (*scan)(const void *, Py_ssize_t, cls_buf *);
    const void *d;
    Py_ssize_t n;
    PyObject *lists[5] = {NULL, NULL, NULL, NULL, NULL}, *result = NULL;
    int rc, b;

    (void)module;
    if (!PyUnicode_Check(text)) {
        PyErr_SetString(PyExc_TypeError, "classify_candidates(text: str)");
        return NULL;
    }
    if (CLS_READY(text) < 0) {
        return NULL;
    }
    switch (PyUnicode_KIND(text)) {
    case PyUnicode_1BYTE_KIND:
        scan = cls_scan_1;
        break;
    case PyUnicode_2BYTE_KIND:
        scan = cls_scan_2;
        break;
    default:
        scan = cls_scan_4;
        break;
    }
    d = PyUnicode_DATA(text);
    n = PyUnicode_GET_LENGTH(text);
    memset(g, 0, sizeof g);
    Py_BEGIN_ALLOW_THREADS
    rc = scan(d, n, g);
    Py_END_ALLOW_THREADS
    if (rc < 0) {
        PyErr_NoMemory();
    }
    else if ((lists[0] = cls_to_list(g + CLS_B_NUM, 1)) != NULL &&
             (lists[1] = cls_to_list(g + 1, CLS_GROUPS)) != NULL &&
             (lists[2] = cls_to_list(g + CLS_B_ASSIGN, 1)) != NULL &&
             (lists[3] = cls_to_list(g + CLS_B_AT, 1)) != NULL &&
             (lists[4] = cls_to_list(g + CLS_B_JWT, 1)) != NULL) {
        result = PyTuple_Pack(5, lists[0], lists[1], lists[2], lists[3], lists[4]);
    }
    for (b = 0; b < 5; b++) {
        Py_XDECREF(lists[b]);
    }
    for (b = 0; b < CLS_BUFS; b++) {
        free(g[b].v);
    }
    return result;
}

/* True when data holds the UTF-8 of a full-width digit or Latin letter (U+FF10-FF19,
 * FF21-FF3A, FF41-FF5A): EF BC 90-99, EF BC A1-BA, EF BD 81-9A. */
static PyObject *
speedups_classify_fullwidth_utf8(PyObject *module, PyObject *data)
{
    const unsigned char *p, *end, *q;

    (void)module;
    if (!PyBytes_Check(data)) {
        PyErr_SetString(PyExc_TypeError, "classify_fullwidth_utf8(data: bytes)");
        return NULL;
    }
    p = (const unsigned char *)PyBytes_AS_STRING(data);
    end = p + PyBytes_GET_SIZE(data);
    while (p < end && (q = (const unsigned char *)memchr(p, 0xEF, (size_t)(end - p))) != NULL) {
        if (end - q >= 3) {
            unsigned b1 = q[1], b2 = q[2];
            if ((b1 == 0xBC && ((b2 >= 0x90 && b2 <= 0x99) || (b2 >= 0xA1 && b2 <= 0xBA))) ||
                (b1 == 0xBD && b2 >= 0x81 && b2 <= 0x9A)) {
                Py_RETURN_TRUE;
            }
        }
        p = q + 1;
    }
    Py_RETURN_FALSE;
}

/* The context window of text[start:end] (dta.classify._context._window): up to `before`
 * characters before start, from just after the last stop in them ("\n", "。", or the "." of
 * ". "), a space, up to `after` characters from end, cut at the first stop in them, and
 * " " + extra when extra is not empty. */
static PyObject *
speedups_classify_window(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    PyObject *text, *extra, *parts[3], *space, *tuple, *result = NULL;
    Py_ssize_t start, end, nbefore, nafter, n, lo, hi, i, cut, stop, bstop, from;
    const void *d;
    int kind, k, count;

    (void)module;
    if (nargs != 6 || !PyUnicode_Check(args[0]) || !PyUnicode_Check(args[3])) {
        PyErr_SetString(PyExc_TypeError, "classify_window(text: str, start: int, end: int, "
                                         "extra: str, before: int, after: int)");
        return NULL;
    }
    text = args[0];
    extra = args[3];
    start = PyLong_AsSsize_t(args[1]);
    end = PyLong_AsSsize_t(args[2]);
    nbefore = PyLong_AsSsize_t(args[4]);
    nafter = PyLong_AsSsize_t(args[5]);
    if (PyErr_Occurred()) {
        return NULL;
    }
    if (CLS_READY(text) < 0 || CLS_READY(extra) < 0) {
        return NULL;
    }
    n = PyUnicode_GET_LENGTH(text);
    if (start < 0 || end < 0 || nbefore < 0 || nafter < 0) {
        PyErr_SetString(PyExc_ValueError, "classify_window: negative offset");
        return NULL;
    }
    kind = PyUnicode_KIND(text);
    d = PyUnicode_DATA(text);
    /* before = text[lo:start] (slice bounds clamped to n, as Python slicing does); cut after
     * the last stop that lies wholly inside it */
    lo = start > nbefore ? start - nbefore : 0;
    hi = start < n ? start : n;
    lo = lo < hi ? lo : hi;
    cut = lo;
    for (i = hi - 1; i >= lo; i--) {
        Py_UCS4 c = PyUnicode_READ(kind, d, i);
        if (c == '\n' || c == 0x3002 ||
            (c == '.' && i + 1 < hi && PyUnicode_READ(kind, d, i + 1) == ' ')) {
            cut = i + 1;
            break;
        }
    }
    bstop = hi;
    /* after = text[end:end + after], cut at the first stop that lies wholly inside it */
    from = end < n ? end : n;
    hi = nafter < n - from ? from + nafter : n;
    stop = hi;
    for (i = from; i < hi; i++) {
        Py_UCS4 c = PyUnicode_READ(kind, d, i);
        if (c == '\n' || c == 0x3002 ||
            (c == '.' && i + 1 < hi && PyUnicode_READ(kind, d, i + 1) == ' ')) {
            stop = i;
            break;
        }
    }
    count = PyUnicode_GET_LENGTH(extra) > 0 ? 3 : 2;
    parts[0] = PyUnicode_Substring(text, cut, bstop);
    parts[1] = parts[0] == NULL ? NULL : PyUnicode_Substring(text, from, stop);
    parts[2] = extra;
    if (parts[1] != NULL) {
        space = PyUnicode_FromOrdinal(' ');
        if (space != NULL) {
            tuple = PyTuple_New(count);
            if (tuple != NULL) {
                for (k = 0; k < count; k++) {
                    PyTuple_SET_ITEM(tuple, k, Py_NewRef(parts[k]));
                }
                result = PyUnicode_Join(space, tuple);
                Py_DECREF(tuple);
            }
            Py_DECREF(space);
        }
    }
    Py_XDECREF(parts[0]);
    Py_XDECREF(parts[1]);
    return result;
}

#define DTA_CLASSIFY_METHODS                                                                 \
    {"classify_candidates", speedups_classify_candidates, METH_O,                            \
     "classify_candidates(text: str) -> tuple[list[int], ...]: numeric-token spans, keyword " \
     "anchors, assignment operators, @ and eyJ offsets"},                                                      \
    {"classify_fullwidth_utf8", speedups_classify_fullwidth_utf8, METH_O,                    \
     "classify_fullwidth_utf8(data: bytes) -> bool: UTF-8 of a full-width digit or letter"}, \
    {"classify_window", (PyCFunction)(void (*)(void))speedups_classify_window, METH_FASTCALL, \
     "classify_window(text, start, end, extra, before, after) -> str: context window"},
