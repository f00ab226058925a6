/*
 * dta._speedups: optional C versions of the two checks that make the orjson fast path of
 * canonical_bytes / loads_canonical provably equal to RFC 8785 (see src/dta/_json_walk.py and
 * docs/adr/0015). Built by hatch_build.py when a C compiler is present; without it the pure-Python
 * versions in _json_walk.py run, with the same results (tests/foundation/test_json_walk.py).
 *
 * levels(value, max_depth, allow_float) -> int
 *     Nesting levels of value (1 for a scalar), or -1 if any object on the first max_depth + 1
 *     levels is not of an exact plain type: dict (keys exact str), list, tuple, str, int, bool,
 *     None, and float only when allow_float. More than max_depth levels are reported as
 *     max_depth + 1; nothing below that level is visited, so a cyclic value terminates.
 *
 * order_safe(data: bytes) -> bool
 *     False only if the UTF-8 data holds both a character >= U+10000 (lead byte 0xF0..0xF4) and
 *     one in U+E000..U+FFFF (lead byte 0xEE or 0xEF).
 *
 * canonical_line(data: bytes, max_depth: int) -> bool
 *     True only if data is, byte for byte, the RFC 8785 form of the JSON value it holds and that
 *     value is one dta.loads accepts with floats refused: no whitespace; objects with member
 *     names strictly increasing in UTF-16 code-unit order (so no duplicates); strings of valid
 *     UTF-8 (no surrogates, no overlongs) with exactly JCS's escapes (\" \\ \b \f \n \r \t,
 *     other C0 controls as \u00xx in lowercase hex, nothing else escaped); integers in plain
 *     decimal within +-(2**53 - 1), no -0; true / false / null; at most max_depth levels
 *     (a scalar is one level); nothing after the value. False means "not proved" — the caller
 *     then decides on its precise path (floats, member names with escapes, ... are left to it).
 *
 * None of the functions allocates Python objects or calls back into Python code (no __eq__, __hash__
 * or __iter__ of the checked objects runs: types are compared by pointer before any access).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

static int
is_scalar(PyObject *o, int allow_float)
{
    PyTypeObject *t = Py_TYPE(o);
    return t == &PyUnicode_Type || t == &PyLong_Type || t == &PyBool_Type || o == Py_None ||
           (allow_float && t == &PyFloat_Type);
}

/* Returns -1 on a foreign type; otherwise updates *deepest with the deepest level seen. */
static int
walk(PyObject *o, int level, int max_depth, int allow_float, int *deepest)
{
    PyTypeObject *t = Py_TYPE(o);
    Py_ssize_t i, n;

    if (level > *deepest) {
        *deepest = level;
    }
    if (is_scalar(o, allow_float)) {
        return 0;
    }
    if (t == &PyDict_Type) {
        Py_ssize_t pos = 0;
        PyObject *key, *val;
        if (level > max_depth) {
            return 0;
        }
        while (PyDict_Next(o, &pos, &key, &val)) {
            if (Py_TYPE(key) != &PyUnicode_Type ||
                walk(val, level + 1, max_depth, allow_float, deepest) < 0) {
                return -1;
            }
        }
        return 0;
    }
    if (t == &PyList_Type || t == &PyTuple_Type) {
        n = t == &PyList_Type ? PyList_GET_SIZE(o) : PyTuple_GET_SIZE(o);
        if (level > max_depth) {
            return 0;
        }
        for (i = 0; i < n; i++) {
            /* A list cannot change size here: no Python code runs during the walk. */
            PyObject *item = t == &PyList_Type ? PyList_GET_ITEM(o, i) : PyTuple_GET_ITEM(o, i);
            if (walk(item, level + 1, max_depth, allow_float, deepest) < 0) {
                return -1;
            }
        }
        return 0;
    }
    return -1;
}

static PyObject *
speedups_levels(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    long max_depth;
    int allow_float, deepest = 0;

    (void)module;
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "levels(value, max_depth, allow_float)");
        return NULL;
    }
    max_depth = PyLong_AsLong(args[1]);
    if (max_depth == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (max_depth < 0 || max_depth > 10000) {
        PyErr_SetString(PyExc_ValueError, "max_depth must be in 0..10000");
        return NULL;
    }
    allow_float = PyObject_IsTrue(args[2]);
    if (allow_float < 0) {
        return NULL;
    }
    if (walk(args[0], 1, (int)max_depth, allow_float, &deepest) < 0) {
        return PyLong_FromLong(-1);
    }
    if (deepest > max_depth + 1) {
        deepest = (int)max_depth + 1;
    }
    return PyLong_FromLong(deepest);
}

static PyObject *
speedups_order_safe(PyObject *module, PyObject *arg)
{
    const unsigned char *p, *end;
    int bmp_private = 0, astral = 0;

    (void)module;
    if (!PyBytes_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "order_safe() takes bytes");
        return NULL;
    }
    p = (const unsigned char *)PyBytes_AS_STRING(arg);
    end = p + PyBytes_GET_SIZE(arg);
    for (; p < end; p++) {
        unsigned char c = *p;
        if (c < 0xEE) {
            continue;
        }
        if (c <= 0xEF) {
            bmp_private = 1;
        }
        else if (c <= 0xF4) {
            astral = 1;
        }
        if (bmp_private && astral) {
            Py_RETURN_FALSE;
        }
    }
    Py_RETURN_TRUE;
}


/* ---- canonical_line ---------------------------------------------------------------------- */

typedef struct {
    const unsigned char *p;
    const unsigned char *end;
    int max_depth;
} scan_t;

static int scan_value(scan_t *s, int level);

/* Length of the valid UTF-8 sequence at p (2..4), or 0. Surrogates and overlongs are invalid. */
static int
utf8_len(const unsigned char *p, const unsigned char *end)
{
    unsigned char c = p[0];
#define CONT(i) (p + (i) < end && (p[i] & 0xC0) == 0x80)
    if (c >= 0xC2 && c <= 0xDF) {
        return CONT(1) ? 2 : 0;
    }
    if (c == 0xE0) {
        return (p + 1 < end && p[1] >= 0xA0 && p[1] <= 0xBF && CONT(2)) ? 3 : 0;
    }
    if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) {
        return (CONT(1) && CONT(2)) ? 3 : 0;
    }
    if (c == 0xED) { /* U+D000..U+D7FF only: U+D800..U+DFFF are surrogates */
        return (p + 1 < end && p[1] >= 0x80 && p[1] <= 0x9F && CONT(2)) ? 3 : 0;
    }
    if (c == 0xF0) {
        return (p + 1 < end && p[1] >= 0x90 && p[1] <= 0xBF && CONT(2) && CONT(3)) ? 4 : 0;
    }
    if (c >= 0xF1 && c <= 0xF3) {
        return (CONT(1) && CONT(2) && CONT(3)) ? 4 : 0;
    }
    if (c == 0xF4) {
        return (p + 1 < end && p[1] >= 0x80 && p[1] <= 0x8F && CONT(2) && CONT(3)) ? 4 : 0;
    }
#undef CONT
    return 0;
}

static int
hex_lower(unsigned char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    return -1;
}

/* Scans a string after its opening quote; on success s->p is past the closing quote.
   *escaped is set if the string holds any escape. Returns 1 if canonical, else 0. */
static int
scan_string(scan_t *s, int *escaped)
{
    const unsigned char *p = s->p, *end = s->end;
    while (p < end) {
        unsigned char c;
        /* Skip 8 plain ASCII bytes at a time: none >= 0x80, < 0x20, '"' or '\\' (SWAR tests;
           each is non-zero exactly when some byte matches). */
        while (end - p >= 8) {
            uint64_t x, quote, slash;
            memcpy(&x, p, 8);
            quote = x ^ 0x2222222222222222ULL;
            slash = x ^ 0x5C5C5C5C5C5C5C5CULL;
            if (((x & 0x8080808080808080ULL) |
                 ((x - 0x2020202020202020ULL) & ~x & 0x8080808080808080ULL) |
                 ((quote - 0x0101010101010101ULL) & ~quote & 0x8080808080808080ULL) |
                 ((slash - 0x0101010101010101ULL) & ~slash & 0x8080808080808080ULL)) != 0) {
                break;
            }
            p += 8;
        }
        if (p >= end) {
            break;
        }
        c = *p;
        if (c == '"') {
            s->p = p + 1;
            return 1;
        }
        if (c == '\\') {
            *escaped = 1;
            if (p + 1 >= end) {
                return 0;
            }
            c = p[1];
            if (c == '"' || c == '\\' || c == 'b' || c == 'f' || c == 'n' || c == 'r' || c == 't') {
                p += 2;
                continue;
            }
            if (c == 'u' && p + 5 < end && p[2] == '0' && p[3] == '0') {
                int hi = hex_lower(p[4]), lo = hex_lower(p[5]);
                int code = hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
                /* Only C0 controls without a short form are written as \u00xx. */
                if (code >= 0 && code < 0x20 && code != 0x08 && code != 0x09 && code != 0x0A &&
                    code != 0x0C && code != 0x0D) {
                    p += 6;
                    continue;
                }
            }
            return 0;
        }
        if (c < 0x20) {
            return 0;
        }
        if (c < 0x80) {
            p++;
            continue;
        }
        {
            int n = utf8_len(p, end);
            if (n == 0) {
                return 0;
            }
            p += n;
        }
    }
    return 0;
}

/* -1, 0 or 1: order of two unescaped UTF-8 member names by UTF-16 code units. */
static int
utf16_order(const unsigned char *a, Py_ssize_t na, const unsigned char *b, Py_ssize_t nb)
{
    Py_ssize_t i, n = na < nb ? na : nb;
    for (i = 0; i < n; i++) {
        if (a[i] != b[i]) {
            /* Equal prefixes end on a character boundary or inside characters with the same lead
               byte; only a BMP character >= U+E000 against one >= U+10000 (a surrogate pair in
               UTF-16) orders differently from code points. */
            int a_astral = a[i] >= 0xF0, b_astral = b[i] >= 0xF0;
            int a_high = a[i] >= 0xEE && a[i] <= 0xEF, b_high = b[i] >= 0xEE && b[i] <= 0xEF;
            if ((a_high && b_astral) || (a_astral && b_high)) {
                return a_astral ? -1 : 1;
            }
            return a[i] < b[i] ? -1 : 1;
        }
    }
    return na == nb ? 0 : (na < nb ? -1 : 1);
}

static int
scan_number(scan_t *s)
{
    const unsigned char *p = s->p, *end = s->end, *digits;
    int negative = 0, count;
    unsigned long long value = 0;
    if (*p == '-') {
        negative = 1;
        p++;
    }
    digits = p;
    while (p < end && *p >= '0' && *p <= '9') {
        if (p - digits >= 16) {
            return 0; /* more than 16 digits: beyond 2**53 - 1 */
        }
        value = value * 10 + (unsigned long long)(*p - '0');
        p++;
    }
    count = (int)(p - digits);
    if (count == 0 || (digits[0] == '0' && count > 1) || value > 9007199254740991ULL ||
        (negative && value == 0)) {
        return 0;
    }
    if (p < end && (*p == '.' || *p == 'e' || *p == 'E')) {
        return 0; /* a float: decided by the precise path */
    }
    s->p = p;
    return 1;
}

static int
scan_literal(scan_t *s, const char *word, Py_ssize_t n)
{
    if (s->end - s->p < n || memcmp(s->p, word, (size_t)n) != 0) {
        return 0;
    }
    s->p += n;
    return 1;
}

static int
scan_object(scan_t *s, int level)
{
    const unsigned char *prev = NULL;
    Py_ssize_t prev_len = 0;
    s->p++; /* '{' */
    if (s->p < s->end && *s->p == '}') {
        s->p++;
        return 1;
    }
    for (;;) {
        const unsigned char *name;
        int escaped = 0;
        if (s->p >= s->end || *s->p != '"') {
            return 0;
        }
        s->p++;
        name = s->p;
        if (!scan_string(s, &escaped) || escaped) {
            return 0; /* names with escapes are ordered by the precise path */
        }
        if (prev != NULL && utf16_order(prev, prev_len, name, s->p - 1 - name) >= 0) {
            return 0; /* out of order or duplicate */
        }
        prev = name;
        prev_len = s->p - 1 - name;
        if (s->p >= s->end || *s->p != ':') {
            return 0;
        }
        s->p++;
        if (!scan_value(s, level + 1)) {
            return 0;
        }
        if (s->p >= s->end) {
            return 0;
        }
        if (*s->p == '}') {
            s->p++;
            return 1;
        }
        if (*s->p != ',') {
            return 0;
        }
        s->p++;
    }
}

static int
scan_array(scan_t *s, int level)
{
    s->p++; /* '[' */
    if (s->p < s->end && *s->p == ']') {
        s->p++;
        return 1;
    }
    for (;;) {
        if (!scan_value(s, level + 1) || s->p >= s->end) {
            return 0;
        }
        if (*s->p == ']') {
            s->p++;
            return 1;
        }
        if (*s->p != ',') {
            return 0;
        }
        s->p++;
    }
}

static int
scan_value(scan_t *s, int level)
{
    int escaped = 0;
    if (level > s->max_depth || s->p >= s->end) {
        return 0;
    }
    switch (*s->p) {
    case '{':
        return scan_object(s, level);
    case '[':
        return scan_array(s, level);
    case '"':
        s->p++;
        return scan_string(s, &escaped);
    case 't':
        return scan_literal(s, "true", 4);
    case 'f':
        return scan_literal(s, "false", 5);
    case 'n':
        return scan_literal(s, "null", 4);
    default:
        if (*s->p == '-' || (*s->p >= '0' && *s->p <= '9')) {
            return scan_number(s);
        }
        return 0;
    }
}

static PyObject *
speedups_canonical_line(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    scan_t s;
    long max_depth;

    (void)module;
    if (nargs != 2 || !PyBytes_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError, "canonical_line(data: bytes, max_depth: int)");
        return NULL;
    }
    max_depth = PyLong_AsLong(args[1]);
    if (max_depth == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (max_depth < 0 || max_depth > 10000) {
        PyErr_SetString(PyExc_ValueError, "max_depth must be in 0..10000");
        return NULL;
    }
    s.p = (const unsigned char *)PyBytes_AS_STRING(args[0]);
    s.end = s.p + PyBytes_GET_SIZE(args[0]);
    s.max_depth = (int)max_depth;
    if (scan_value(&s, 1) && s.p == s.end) {
        Py_RETURN_TRUE;
    }
    Py_RETURN_FALSE;
}

static PyMethodDef speedups_methods[] = {
    {"levels", (PyCFunction)(void (*)(void))speedups_levels, METH_FASTCALL,
     "levels(value, max_depth, allow_float) -> int"},
    {"order_safe", speedups_order_safe, METH_O, "order_safe(data: bytes) -> bool"},
    {"canonical_line", (PyCFunction)(void (*)(void))speedups_canonical_line, METH_FASTCALL,
     "canonical_line(data: bytes, max_depth: int) -> bool"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef speedups_module = {
    PyModuleDef_HEAD_INIT, "dta._speedups",
    "C versions of dta's canonical-JSON fast-path checks (see _json_walk).", -1,
    speedups_methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    return PyModule_Create(&speedups_module);
}
