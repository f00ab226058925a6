/*
 * dta._speedups: optional C versions of the checks that make the orjson fast path of
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
 * canonical_members(data: bytes, max_depth: int) -> int
 *     -1 where canonical_line(data, max_depth) is False; otherwise the number of members of the
 *     outermost object (0 for an empty object or a value that is not an object).
 *
 * parse_canonical(data: bytes, max_depth: int, default: object) -> object
 *     The value data holds when canonical_line(data, max_depth) is True (same grammar, same
 *     scanner, built in the same pass: _speedups_build.h); otherwise default.
 *
 * The checks (levels, order_safe, canonical_line) allocate no Python objects and never call back
 * into Python code (no __eq__, __hash__ or __iter__ of the checked objects runs: types are compared
 * by pointer before any access); parse_canonical only creates dict, list, str and int objects.
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

/* The max_depth argument as a long in 0..10000, or -1 with an exception set. */
static long
depth_arg(PyObject *arg)
{
    long max_depth = PyLong_AsLong(arg);
    if (max_depth == -1 && PyErr_Occurred()) {
        return -1;
    }
    if (max_depth < 0 || max_depth > 10000) {
        PyErr_SetString(PyExc_ValueError, "max_depth must be in 0..10000");
        return -1;
    }
    return max_depth;
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
    max_depth = depth_arg(args[1]);
    if (max_depth < 0) {
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


#include "_speedups_scan.h"
#include "_speedups_build.h"
#include "_speedups_files.h"     /* DTA_FILES_METHODS: per-file hashing loop (issue 5) */
#include "_speedups_chain.h"     /* DTA_CHAIN_METHODS: audit-log chain verification (issue 3) */
#include "_speedups_classify.h"  /* DTA_CLASSIFY_METHODS: classification scanning (issue 4) */

/* Scans args[0] (bytes) with max_depth args[1]: 1 proved, 0 not proved, -1 exception set. */
static int
scan_line(PyObject *const *args, Py_ssize_t nargs, const char *usage, scan_t *s)
{
    long max_depth;

    if (nargs != 2 || !PyBytes_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError, usage);
        return -1;
    }
    max_depth = depth_arg(args[1]);
    if (max_depth < 0) {
        return -1;
    }
    s->p = (const unsigned char *)PyBytes_AS_STRING(args[0]);
    s->end = s->p + PyBytes_GET_SIZE(args[0]);
    s->max_depth = (int)max_depth;
    s->top_members = 0;
    return scan_value(s, 1) && s->p == s->end;
}

static PyObject *
speedups_canonical_line(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    scan_t s;
    int proved = scan_line(args, nargs, "canonical_line(data: bytes, max_depth: int)", &s);

    (void)module;
    if (proved < 0) {
        return NULL;
    }
    return PyBool_FromLong(proved);
}

static PyObject *
speedups_canonical_members(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    scan_t s;
    int proved = scan_line(args, nargs, "canonical_members(data: bytes, max_depth: int)", &s);

    (void)module;
    if (proved < 0) {
        return NULL;
    }
    return PyLong_FromSsize_t(proved ? s.top_members : -1);
}

static PyObject *
speedups_parse_canonical(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    build_t b;
    long max_depth;
    PyObject *value;

    (void)module;
    if (nargs != 3 || !PyBytes_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError,
                        "parse_canonical(data: bytes, max_depth: int, default: object)");
        return NULL;
    }
    max_depth = depth_arg(args[1]);
    if (max_depth < 0) {
        return NULL;
    }
    b.s.p = (const unsigned char *)PyBytes_AS_STRING(args[0]);
    b.s.end = b.s.p + PyBytes_GET_SIZE(args[0]);
    b.s.max_depth = (int)max_depth;
    b.s.top_members = 0;
    b.error = 0;
    value = build_value(&b, 1);
    if (value == NULL) {
        return b.error ? NULL : Py_NewRef(args[2]);
    }
    if (b.s.p != b.s.end) {
        Py_DECREF(value);
        return Py_NewRef(args[2]);
    }
    return value;
}

static PyMethodDef speedups_methods[] = {
    {"levels", (PyCFunction)(void (*)(void))speedups_levels, METH_FASTCALL,
     "levels(value, max_depth, allow_float) -> int"},
    {"order_safe", speedups_order_safe, METH_O, "order_safe(data: bytes) -> bool"},
    {"canonical_line", (PyCFunction)(void (*)(void))speedups_canonical_line, METH_FASTCALL,
     "canonical_line(data: bytes, max_depth: int) -> bool"},
    {"canonical_members", (PyCFunction)(void (*)(void))speedups_canonical_members, METH_FASTCALL,
     "canonical_members(data: bytes, max_depth: int) -> int"},
    {"parse_canonical", (PyCFunction)(void (*)(void))speedups_parse_canonical, METH_FASTCALL,
     "parse_canonical(data: bytes, max_depth: int, default: object) -> object"},
    DTA_FILES_METHODS
    DTA_CHAIN_METHODS
    DTA_CLASSIFY_METHODS
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
