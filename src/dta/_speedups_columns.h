/*
 * dta._speedups: verify_tree's bulk checks on manifest columns (issue 5, ADR 0102).
 * Included by _speedups_files.h inside its platform test; the functions here only prove:
 * False / None leaves the decision to the Python code.
 *
 * paths_safe_distinct(paths: list) -> bool
 *     True only if every path is an exact ASCII str the bulk rules of dta._paths accept and no
 *     two collide (ASCII case folding; a path that is also a directory of another).
 *
 * chunk_matches(index, rels, want_sizes, want_hexes, got_sizes, got_hexes) -> bool
 *     True only if every rels[i] has position p = index[rels[i]] with want_sizes[p] (an int64
 *     array) == got_sizes[i] and want_hexes[64p:64p+64] == got_hexes[64i:64i+64].
 *
 * manifest_columns(items: list) -> (paths, sizes as int64 bytes, joined hex digests) | None
 *     The columns of manifest items that are all exact dicts with an exact str "path", an
 *     exact int "size" in 0..2**63-1 and a "digest" dict whose "sha256" is 64 lowercase hex
 *     characters; None as soon as one item is otherwise.
 */

/* ---- paths_safe_distinct: the bulk check of dta._paths.all_safe_and_distinct ---- */

static int
dta_lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

/* A Windows device name (con prn aux nul com1-9 lpt1-9, any case) as the whole segment
 * starting at p, or before spaces and then a dot, slash or the end of the path. */
static int
dta_reserved_at(const unsigned char *p, const unsigned char *end)
{
    char w[3];
    const unsigned char *q = p + 3;

    if (end - p < 3) {
        return 0;
    }
    w[0] = (char)dta_lower(p[0]);
    w[1] = (char)dta_lower(p[1]);
    w[2] = (char)dta_lower(p[2]);
    if (memcmp(w, "com", 3) == 0 || memcmp(w, "lpt", 3) == 0) {
        if (q == end || *q < '1' || *q > '9') {
            return 0;
        }
        q++;
    }
    else if (memcmp(w, "con", 3) != 0 && memcmp(w, "prn", 3) != 0 &&
             memcmp(w, "aux", 3) != 0 && memcmp(w, "nul", 3) != 0) {
        return 0;
    }
    while (q < end && *q == ' ') {
        q++;
    }
    return q == end || *q == '.' || *q == '/';
}

/* 1 if path (ASCII bytes) passes every rule _bulk_ascii_ok tests and is at most
 * MAX_SEGMENT_BYTES (255) long, else 0. */
static int
dta_path_plain(const unsigned char *p, Py_ssize_t n)
{
    const unsigned char *end = p + n;
    Py_ssize_t i;

    if (n == 0 || n > 255 || p[0] == '~' || p[0] == '/' || p[n - 1] == '/' ||
        p[n - 1] == ' ' || p[n - 1] == '.') {
        return 0;
    }
    for (i = 0; i < n; i++) {
        unsigned char c = p[i];
        if (c < 0x20 || c > 0x7e || c == '\\' || c == ':') {
            return 0;
        }
        if (c == '/' && (p[i - 1] == '/' || p[i - 1] == ' ' || p[i - 1] == '.')) {
            return 0;  /* i > 0: p[0] is not '/' */
        }
        if ((i == 0 || p[i - 1] == '/') && dta_reserved_at(p + i, end)) {
            return 0;
        }
    }
    return 1;
}

typedef struct {
    uint32_t hash;
    uint32_t slot;  /* index + 1 into the paths list; 0 = empty */
} dta_key_t;

/* FNV-1a over the lowercased bytes, continued from h. */
static uint32_t
dta_fold_hash(uint32_t h, const unsigned char *p, Py_ssize_t n)
{
    Py_ssize_t i;
    for (i = 0; i < n; i++) {
        h = (h ^ (uint32_t)dta_lower(p[i])) * 16777619u;
    }
    return h;
}

static int
dta_fold_equal(const unsigned char *a, const unsigned char *b, Py_ssize_t n)
{
    Py_ssize_t i;
    for (i = 0; i < n; i++) {
        if (dta_lower(a[i]) != dta_lower(b[i])) {
            return 0;
        }
    }
    return 1;
}

/* The slot of the path equal (after ASCII lowercasing) to p[:n] with hash h, or where it
 * would go (slot 0). */
static dta_key_t *
dta_find(dta_key_t *table, size_t mask, PyObject *paths, const unsigned char *p, Py_ssize_t n,
         uint32_t h)
{
    size_t at = h & mask;
    for (;;) {
        dta_key_t *k = &table[at];
        if (k->slot == 0) {
            return k;
        }
        if (k->hash == h) {
            PyObject *other = PyList_GET_ITEM(paths, k->slot - 1);
            if (PyUnicode_GET_LENGTH(other) == n &&
                dta_fold_equal(PyUnicode_1BYTE_DATA(other), p, n)) {
                return k;
            }
        }
        at = (at + 1) & mask;
    }
}

static PyObject *
speedups_paths_safe_distinct(PyObject *module, PyObject *paths)
{
    Py_ssize_t n, i, j;
    size_t cap = 16, mask;
    dta_key_t *table;
    const unsigned char *prev = NULL;
    Py_ssize_t prev_dir = -1;
    int ok = 1;

    (void)module;
    if (!PyList_Check(paths)) {
        PyErr_SetString(PyExc_TypeError, "paths_safe_distinct(paths: list)");
        return NULL;
    }
    n = PyList_GET_SIZE(paths);
    if (n == 0) {
        Py_RETURN_TRUE;
    }
    if (n > (Py_ssize_t)(UINT32_MAX / 4)) {
        Py_RETURN_FALSE;  /* not proven here */
    }
    for (i = 0; i < n; i++) {
        PyObject *path = PyList_GET_ITEM(paths, i);
        if (!PyUnicode_CheckExact(path) || !PyUnicode_IS_ASCII(path) ||
            !dta_path_plain(PyUnicode_1BYTE_DATA(path), PyUnicode_GET_LENGTH(path))) {
            Py_RETURN_FALSE;
        }
    }
    while (cap < (size_t)n * 2) {
        cap <<= 1;
    }
    mask = cap - 1;
    table = PyMem_Calloc(cap, sizeof(dta_key_t));
    if (table == NULL) {
        Py_RETURN_FALSE;  /* not proven here: the Python check decides */
    }
    /* Every path once: no two equal after lowercasing. */
    for (i = 0; i < n && ok; i++) {
        PyObject *path = PyList_GET_ITEM(paths, i);
        const unsigned char *p = PyUnicode_1BYTE_DATA(path);
        Py_ssize_t len = PyUnicode_GET_LENGTH(path);
        uint32_t h = dta_fold_hash(2166136261u, p, len);
        dta_key_t *k = dta_find(table, mask, paths, p, len, h);
        if (k->slot != 0) {
            ok = 0;
            break;
        }
        k->hash = h;
        k->slot = (uint32_t)(i + 1);
    }
    /* No directory of a path is also a path (lowercased). A path in the same directory as
     * the one before it has the same directories: they were looked up already. */
    for (i = 0; i < n && ok; i++) {
        PyObject *path = PyList_GET_ITEM(paths, i);
        const unsigned char *p = PyUnicode_1BYTE_DATA(path);
        Py_ssize_t len = PyUnicode_GET_LENGTH(path), dir = -1;
        uint32_t h = 2166136261u;
        for (j = len - 1; j > 0; j--) {
            if (p[j] == '/') {
                dir = j;
                break;
            }
        }
        if (dir < 0) {
            continue;  /* no directory */
        }
        if (prev != NULL && prev_dir == dir && dta_fold_equal(prev, p, dir)) {
            continue;
        }
        prev = p;
        prev_dir = dir;
        for (j = 0; j < dir && ok; j++) {
            if (p[j] == '/' && dta_find(table, mask, paths, p, j, h)->slot != 0) {
                ok = 0;
            }
            h = (h ^ (uint32_t)dta_lower(p[j])) * 16777619u;
        }
        if (ok && dta_find(table, mask, paths, p, dir, h)->slot != 0) {
            ok = 0;
        }
    }
    PyMem_Free(table);
    return PyBool_FromLong(ok);
}

/* ---- chunk_matches: one hashed task against the expected columns of verify_tree ---- */

static PyObject *
speedups_chunk_matches(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    PyObject *index, *rels, *want_hexes, *got_sizes, *got_hexes;
    Py_buffer view;
    Py_ssize_t n, m, i;
    const long long *want;
    const char *want_hex, *got_hex;
    int ok = 1;

    (void)module;
    if (nargs != 6) {
        PyErr_SetString(PyExc_TypeError,
                        "chunk_matches(index, rels, want_sizes, want_hexes, got_sizes, got_hexes)");
        return NULL;
    }
    index = args[0];
    rels = args[1];
    want_hexes = args[3];
    got_sizes = args[4];
    got_hexes = args[5];
    if (!PyDict_CheckExact(index) || !PyList_CheckExact(rels) || !PyTuple_CheckExact(got_sizes) ||
        !PyUnicode_CheckExact(want_hexes) || !PyUnicode_CheckExact(got_hexes) ||
        !PyUnicode_IS_ASCII(want_hexes) || !PyUnicode_IS_ASCII(got_hexes)) {
        Py_RETURN_FALSE;  /* not proven: the Python comparison decides */
    }
    n = PyList_GET_SIZE(rels);
    if (PyTuple_GET_SIZE(got_sizes) != n || PyUnicode_GET_LENGTH(got_hexes) != 64 * n) {
        Py_RETURN_FALSE;
    }
    if (PyObject_GetBuffer(args[2], &view, PyBUF_FORMAT | PyBUF_C_CONTIGUOUS) < 0) {
        PyErr_Clear();
        Py_RETURN_FALSE;
    }
    if (view.itemsize != 8 || view.format == NULL || strcmp(view.format, "q") != 0) {
        PyBuffer_Release(&view);
        Py_RETURN_FALSE;
    }
    want = (const long long *)view.buf;
    m = view.len / 8;
    if (PyUnicode_GET_LENGTH(want_hexes) < 64 * m) {
        m = PyUnicode_GET_LENGTH(want_hexes) / 64;
    }
    want_hex = (const char *)PyUnicode_1BYTE_DATA(want_hexes);
    got_hex = (const char *)PyUnicode_1BYTE_DATA(got_hexes);
    for (i = 0; i < n && ok; i++) {
        PyObject *rel = PyList_GET_ITEM(rels, i), *at, *size = PyTuple_GET_ITEM(got_sizes, i);
        Py_ssize_t p;
        int overflow = 0;
        long long got;
        if (!PyUnicode_CheckExact(rel) || !PyLong_CheckExact(size)) {
            ok = 0;
            break;
        }
        at = PyDict_GetItemWithError(index, rel);  /* borrowed; str keys run no Python code */
        if (at == NULL || !PyLong_CheckExact(at)) {
            PyErr_Clear();
            ok = 0;
            break;
        }
        p = PyLong_AsSsize_t(at);
        got = PyLong_AsLongLongAndOverflow(size, &overflow);
        if (p < 0 || p >= m || overflow || got != want[p] ||
            memcmp(got_hex + 64 * i, want_hex + 64 * p, 64) != 0) {
            PyErr_Clear();
            ok = 0;
        }
    }
    PyBuffer_Release(&view);
    return PyBool_FromLong(ok);
}

/* ---- manifest_columns: the item columns of verify_tree's bulk path ---- */

/* items[i][key] for an exact dict item, borrowed, or NULL (no exception left set). */
static PyObject *
dta_member(PyObject *item, PyObject *key)
{
    PyObject *value;
    if (!PyDict_CheckExact(item)) {
        return NULL;
    }
    value = PyDict_GetItemWithError(item, key);  /* exact str keys: no Python code runs */
    if (value == NULL) {
        PyErr_Clear();
    }
    return value;
}

static PyObject *dta_key_path, *dta_key_size, *dta_key_digest, *dta_key_sha256;

static PyObject *
speedups_manifest_columns(PyObject *module, PyObject *items)
{
    PyObject *paths = NULL, *sizes = NULL, *hexes = NULL, *result;
    Py_ssize_t n, i;
    long long *out;
    Py_UCS1 *hex_out;

    (void)module;
    if (!PyList_CheckExact(items)) {
        Py_RETURN_NONE;
    }
    if (dta_key_sha256 == NULL) {  /* set last: all four are ready once it is */
        if ((dta_key_path == NULL && !(dta_key_path = PyUnicode_InternFromString("path"))) ||
            (dta_key_size == NULL && !(dta_key_size = PyUnicode_InternFromString("size"))) ||
            (dta_key_digest == NULL &&
             !(dta_key_digest = PyUnicode_InternFromString("digest"))) ||
            !(dta_key_sha256 = PyUnicode_InternFromString("sha256"))) {
            return NULL;
        }
    }
    n = PyList_GET_SIZE(items);
    if (n > PY_SSIZE_T_MAX / 64) {
        Py_RETURN_NONE;
    }
    paths = PyList_New(n);
    sizes = PyBytes_FromStringAndSize(NULL, n * (Py_ssize_t)sizeof(long long));
    hexes = PyUnicode_New(64 * n, 127);
    if (paths == NULL || sizes == NULL || hexes == NULL) {
        goto error;
    }
    out = (long long *)PyBytes_AS_STRING(sizes);
    hex_out = PyUnicode_1BYTE_DATA(hexes);
    for (i = 0; i < n; i++) {
        PyObject *item = PyList_GET_ITEM(items, i);
        PyObject *path = dta_member(item, dta_key_path);
        PyObject *size = dta_member(item, dta_key_size);
        PyObject *digest = dta_member(item, dta_key_digest);
        PyObject *hex = digest == NULL ? NULL : dta_member(digest, dta_key_sha256);
        const Py_UCS1 *h;
        int overflow = 0, k;
        long long value;

        if (path == NULL || !PyUnicode_CheckExact(path) || size == NULL ||
            !PyLong_CheckExact(size) || hex == NULL || !PyUnicode_CheckExact(hex) ||
            !PyUnicode_IS_ASCII(hex) || PyUnicode_GET_LENGTH(hex) != 64) {
            goto not_proven;
        }
        value = PyLong_AsLongLongAndOverflow(size, &overflow);
        if (overflow || value < 0) {
            PyErr_Clear();
            goto not_proven;
        }
        h = PyUnicode_1BYTE_DATA(hex);
        for (k = 0; k < 64; k++) {
            if (!((h[k] >= '0' && h[k] <= '9') || (h[k] >= 'a' && h[k] <= 'f'))) {
                goto not_proven;
            }
        }
        memcpy(hex_out + 64 * i, h, 64);
        out[i] = value;
        Py_INCREF(path);
        PyList_SET_ITEM(paths, i, path);
    }
    result = PyTuple_Pack(3, paths, sizes, hexes);
    Py_DECREF(paths);
    Py_DECREF(sizes);
    Py_DECREF(hexes);
    return result;
not_proven:
    Py_DECREF(paths);  /* unset slots are NULL: list dealloc skips them */
    Py_DECREF(sizes);
    Py_DECREF(hexes);
    Py_RETURN_NONE;
error:
    Py_XDECREF(paths);
    Py_XDECREF(sizes);
    Py_XDECREF(hexes);
    return NULL;
}
