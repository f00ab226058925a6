/*
 * parse_canonical of dta._speedups (included by _speedups.c after _speedups_scan.h: one
 * translation unit).
 *
 * The canonical-line scanner's grammar, building the value while it scans, so a line that is
 * proved canonical is parsed in the same single pass instead of a second one by orjson.
 *
 * Rules:
 * - It accepts exactly what canonical_line accepts (the same scan_* functions decide every byte;
 *   this file only adds object construction), and builds the value dta.loads would return:
 *   dict (members in line order, which is sorted order), list, str, int, True / False / None.
 * - "Not proved" is not an error: every builder returns NULL with no Python exception set, and
 *   parse_canonical returns the caller's default. A Python exception (memory) sets b->error and
 *   is propagated.
 * - Member names are short ASCII strings that repeat from line to line (an audit log has the
 *   same ten names on every line), so names of up to KEY_MAX bytes go through a direct-mapped
 *   cache of str objects with their hash computed. A cached name is used only after comparing
 *   its bytes; the cache holds one reference per slot and never more than KEY_SLOTS names.
 */

#define KEY_SLOTS 1024
#define KEY_MAX 64

typedef struct {
    scan_t s;
    int error; /* 1: a Python exception is set */
} build_t;

static PyObject *key_cache[KEY_SLOTS];

static PyObject *build_value(build_t *b, int level);

static PyObject *
ascii_str(const unsigned char *p, Py_ssize_t n)
{
    PyObject *u = PyUnicode_New(n, 127);
    if (u != NULL) {
        memcpy(PyUnicode_1BYTE_DATA(u), p, (size_t)n);
    }
    return u;
}

/* A new reference to the str of a member name (valid UTF-8 without escapes), or NULL with an
   exception set. */
static PyObject *
name_str(const unsigned char *p, Py_ssize_t n, int flags)
{
    uint32_t h = 2166136261u;
    Py_ssize_t i;
    PyObject *cached, *u;

    if ((flags & STR_NONASCII) || n > KEY_MAX) {
        return (flags & STR_NONASCII) ? PyUnicode_DecodeUTF8((const char *)p, n, "strict")
                                      : ascii_str(p, n);
    }
    for (i = 0; i < n; i++) {
        h = (h ^ p[i]) * 16777619u;
    }
    h &= KEY_SLOTS - 1;
    cached = key_cache[h];
    if (cached != NULL && PyUnicode_GET_LENGTH(cached) == n &&
        memcmp(PyUnicode_1BYTE_DATA(cached), p, (size_t)n) == 0) {
        Py_INCREF(cached);
        return cached;
    }
    u = ascii_str(p, n);
    if (u == NULL) {
        return NULL;
    }
    if (PyObject_Hash(u) == -1) { /* computed once here, reused by every dict insert */
        Py_DECREF(u);
        return NULL;
    }
    Py_INCREF(u);
    key_cache[h] = u;
    Py_XDECREF(cached);
    return u;
}

/* A new reference to the str of a scanned string body (n bytes, proved by scan_string). */
static PyObject *
string_str(const unsigned char *p, Py_ssize_t n, int flags)
{
    unsigned char small[256], *buf;
    Py_ssize_t i = 0, j = 0;
    PyObject *u;

    if (!(flags & STR_ESCAPED)) {
        return (flags & STR_NONASCII) ? PyUnicode_DecodeUTF8((const char *)p, n, "strict")
                                      : ascii_str(p, n);
    }
    buf = n <= (Py_ssize_t)sizeof small ? small : (unsigned char *)PyMem_Malloc((size_t)n);
    if (buf == NULL) {
        return PyErr_NoMemory();
    }
    /* The scanner admitted only \" \\ \b \f \n \r \t and \u00xx (lowercase hex, C0 controls). */
    while (i < n) {
        unsigned char c = p[i];
        if (c != '\\') {
            buf[j++] = c;
            i++;
            continue;
        }
        switch (p[i + 1]) {
        case 'b':
            c = '\b';
            break;
        case 'f':
            c = '\f';
            break;
        case 'n':
            c = '\n';
            break;
        case 'r':
            c = '\r';
            break;
        case 't':
            c = '\t';
            break;
        case 'u':
            c = (unsigned char)(hex_lower(p[i + 4]) * 16 + hex_lower(p[i + 5]));
            i += 4;
            break;
        default: /* '"' or '\\' */
            c = p[i + 1];
        }
        buf[j++] = c;
        i += 2;
    }
    u = (flags & STR_NONASCII) ? PyUnicode_DecodeUTF8((const char *)buf, j, "strict")
                               : ascii_str(buf, j);
    if (buf != small) {
        PyMem_Free(buf);
    }
    return u;
}

static PyObject *
build_object(build_t *b, int level)
{
    scan_t *s = &b->s;
    const unsigned char *prev = NULL;
    Py_ssize_t prev_len = 0;
    PyObject *dict = PyDict_New();

    if (dict == NULL) {
        b->error = 1;
        return NULL;
    }
    s->p++; /* '{' */
    if (s->p < s->end && *s->p == '}') {
        s->p++;
        return dict;
    }
    for (;;) {
        const unsigned char *name;
        Py_ssize_t name_len;
        int flags = 0, rc;
        PyObject *key, *val;
        if (s->p >= s->end || *s->p != '"') {
            goto fail;
        }
        s->p++;
        name = s->p;
        if (!scan_string(s, &flags) || (flags & STR_ESCAPED)) {
            goto fail; /* names with escapes are ordered by the precise path */
        }
        name_len = s->p - 1 - name;
        if (prev != NULL && utf16_order(prev, prev_len, name, name_len) >= 0) {
            goto fail; /* out of order or duplicate */
        }
        prev = name;
        prev_len = name_len;
        if (s->p >= s->end || *s->p != ':') {
            goto fail;
        }
        s->p++;
        val = build_value(b, level + 1);
        if (val == NULL) {
            goto fail;
        }
        key = name_str(name, name_len, flags);
        if (key == NULL) {
            Py_DECREF(val);
            b->error = 1;
            goto fail;
        }
        rc = PyDict_SetItem(dict, key, val);
        Py_DECREF(key);
        Py_DECREF(val);
        if (rc < 0) {
            b->error = 1;
            goto fail;
        }
        if (s->p >= s->end) {
            goto fail;
        }
        if (*s->p == '}') {
            s->p++;
            return dict;
        }
        if (*s->p != ',') {
            goto fail;
        }
        s->p++;
    }
fail:
    Py_DECREF(dict);
    return NULL;
}

static PyObject *
build_array(build_t *b, int level)
{
    scan_t *s = &b->s;
    PyObject *list = PyList_New(0);

    if (list == NULL) {
        b->error = 1;
        return NULL;
    }
    s->p++; /* '[' */
    if (s->p < s->end && *s->p == ']') {
        s->p++;
        return list;
    }
    for (;;) {
        int rc;
        PyObject *item = build_value(b, level + 1);
        if (item == NULL) {
            goto fail;
        }
        rc = PyList_Append(list, item);
        Py_DECREF(item);
        if (rc < 0) {
            b->error = 1;
            goto fail;
        }
        if (s->p >= s->end) {
            goto fail;
        }
        if (*s->p == ']') {
            s->p++;
            return list;
        }
        if (*s->p != ',') {
            goto fail;
        }
        s->p++;
    }
fail:
    Py_DECREF(list);
    return NULL;
}

static PyObject *
build_value(build_t *b, int level)
{
    scan_t *s = &b->s;
    PyObject *out;
    if (level > s->max_depth || s->p >= s->end) {
        return NULL;
    }
    switch (*s->p) {
    case '{':
        return build_object(b, level);
    case '[':
        return build_array(b, level);
    case '"': {
        int flags = 0;
        const unsigned char *body = ++s->p;
        if (!scan_string(s, &flags)) {
            return NULL;
        }
        out = string_str(body, s->p - 1 - body, flags);
        break;
    }
    case 't':
        return scan_literal(s, "true", 4) ? Py_NewRef(Py_True) : NULL;
    case 'f':
        return scan_literal(s, "false", 5) ? Py_NewRef(Py_False) : NULL;
    case 'n':
        return scan_literal(s, "null", 4) ? Py_NewRef(Py_None) : NULL;
    default:
        if (*s->p == '-' || (*s->p >= '0' && *s->p <= '9')) {
            long long number;
            if (!scan_number(s, &number)) {
                return NULL;
            }
            out = PyLong_FromLongLong(number);
            break;
        }
        return NULL;
    }
    if (out == NULL) {
        b->error = 1;
    }
    return out;
}
