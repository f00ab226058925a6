/*
 * dta._speedups: the per-file work of transfer manifests and verify (issue 5, ADRs 0098, 0102).
 * Included by _speedups.c; DTA_FILES_METHODS expands to this header's method-table entries
 * (each ending in a comma), or to nothing (a platform without openat / O_NOFOLLOW).
 * Every function has a Python version it must agree with (the callers keep it as the fallback
 * and the tests compare both); the checks (paths_safe_distinct, chunk_matches,
 * manifest_columns) only prove: their False / None leaves the decision to the Python code.
 *
 * hash_small_run(dir_fd, names, start, small, sizes, digests) -> (index, changed)
 *     The exact contract of the Python loop dta._hashing_worker._hash_small_run. For i from
 *     start: stop, returning (i, False), on a name that is not exact bytes or holds a NUL, on
 *     any failed system call, or unless the file opened with
 *     openat(dir_fd, name, O_RDONLY|O_CLOEXEC|O_NOFOLLOW|O_NONBLOCK) is, by fstat, a regular
 *     file of fewer than small bytes (a link, FIFO, device, socket or directory is never read).
 *     Otherwise exactly st_size bytes are read into one buffer (EINTR retried, stopping at
 *     EOF), fstat is called again and the file closed; (i, True) is returned if the byte count,
 *     size, mtime, ctime, inode or device differ (the file changed during the read: no
 *     digest). Else the size (int) is appended to sizes and the raw SHA-256 digest (32 bytes)
 *     to digests. At the end: (len(names), False).
 *
 *     The GIL is released only around the system calls of one file and the hashing of the C
 *     buffer; names are read, and results appended, with it held (one reference to the name
 *     is kept while it is released). dir_fd < 0 stops at once, so nothing is ever opened
 *     relative to the working directory.
 *
 *     SHA-256: OpenSSL's EVP_Digest, resolved at run time (dlopen RTLD_NOLOAD + dlsym) from the
 *     _hashlib module Python already loaded, with the digest fetched once and checked against
 *     a known answer; where any of that is missing (no dlopen, no _hashlib, another library),
 *     hashlib.sha256 called through the C API. Nothing is linked at build time.
 *
 * hash_sha256_backend(choice) -> str
 *     Which SHA-256 the loop uses: "evp" or "hashlib". choice "" only reports (resolving it on
 *     first use), "hashlib" forces the hashlib call, "auto" resolves again (tests run both).
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
 *
 * scan_names(dir_fd) -> (regular file names, directory names, count of other entries)
 *     The entries os.scandir(dir_fd) would give, in its order and with its name decoding, split
 *     by d_type (DT_UNKNOWN counts as other); the shared offset is left at the start.
 */
#if defined(__unix__) || defined(__APPLE__)
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <dlfcn.h>
#include <dirent.h>
#endif

#if (defined(__unix__) || defined(__APPLE__)) && defined(O_NOFOLLOW) && defined(O_CLOEXEC) && \
    defined(O_NONBLOCK) && defined(AT_FDCWD)

/* Weak: a libc without dlopen (or one that needs -ldl, not linked) leaves them NULL, and the
 * loop then uses hashlib; the module still loads. */
#pragma weak dlopen
#pragma weak dlsym

#if defined(__APPLE__)
#define DTA_MTIM(s) ((s).st_mtimespec)
#define DTA_CTIM(s) ((s).st_ctimespec)
#else
#define DTA_MTIM(s) ((s).st_mtim)
#define DTA_CTIM(s) ((s).st_ctim)
#endif

#define DTA_FILE_FLAGS (O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK)
#define DTA_SMALL_MAX ((Py_ssize_t)1 << 30)

typedef int (*dta_evp_digest_t)(const void *, size_t, unsigned char *, unsigned int *,
                                const void *, void *);
typedef const void *(*dta_evp_md_t)(void);
typedef void *(*dta_evp_fetch_t)(void *, const char *, const char *);

/* Set once with the GIL held; never freed (they live as long as the process's libcrypto). */
static dta_evp_digest_t dta_evp_digest = NULL;
static const void *dta_evp_sha256 = NULL;
static int dta_sha_mode = 0;              /* 0 unresolved, 1 EVP, 2 hashlib */
static PyObject *dta_sha256_ctor = NULL;  /* hashlib.sha256 */
static PyObject *dta_digest_name = NULL;  /* "digest" */

static const unsigned char dta_sha256_abc[32] = {
    0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40, 0xde, 0x5d, 0xae, 0x22, 0x23,
    0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad,
};

/* EVP_Digest and a SHA-256 EVP_MD from the libcrypto of the loaded _hashlib: 1 found and
 * checked, 0 not available (no exception left set). */
static int
dta_evp_resolve(void)
{
#ifdef RTLD_NOLOAD
    PyObject *mod, *file, *path;
    void *handle, *fetch, *legacy;
    dta_evp_digest_t digest;
    const void *md = NULL;
    unsigned char out[64];
    unsigned int len = 0;

    if (dlopen == NULL || dlsym == NULL) {
        return 0;
    }
    mod = PyImport_ImportModule("_hashlib");
    if (mod == NULL) {
        PyErr_Clear();
        return 0;
    }
    file = PyObject_GetAttrString(mod, "__file__");
    Py_DECREF(mod);
    if (file == NULL || !PyUnicode_Check(file)) {
        Py_XDECREF(file);
        PyErr_Clear();
        return 0;
    }
    path = PyUnicode_EncodeFSDefault(file);
    Py_DECREF(file);
    if (path == NULL) {
        PyErr_Clear();
        return 0;
    }
    /* RTLD_NOLOAD: only a library already loaded; nothing new is mapped. Never closed. */
    handle = dlopen(PyBytes_AS_STRING(path), RTLD_NOW | RTLD_NOLOAD);
    Py_DECREF(path);
    if (handle == NULL) {
        return 0;
    }
    digest = (dta_evp_digest_t)dlsym(handle, "EVP_Digest");
    fetch = dlsym(handle, "EVP_MD_fetch");   /* OpenSSL 3: fetch once, not per digest */
    legacy = dlsym(handle, "EVP_sha256");
    if (digest == NULL) {
        return 0;
    }
    if (fetch != NULL) {
        md = ((dta_evp_fetch_t)fetch)(NULL, "SHA256", NULL);
    }
    if (md == NULL && legacy != NULL) {
        md = ((dta_evp_md_t)legacy)();
    }
    if (md == NULL || digest("abc", 3, out, &len, md, NULL) != 1 || len != 32 ||
        memcmp(out, dta_sha256_abc, 32) != 0) {
        return 0;  /* a fetched md is leaked on purpose: a few bytes, once */
    }
    dta_evp_digest = digest;
    dta_evp_sha256 = md;
    return 1;
#else
    return 0;
#endif
}

/* Resolve the SHA-256 to use: 0 ready, -1 with an exception set. */
static int
dta_sha_ready(void)
{
    PyObject *hashlib, *ctor, *name;

    if (dta_sha_mode != 0) {
        return 0;
    }
    if (dta_sha256_ctor == NULL) {
        hashlib = PyImport_ImportModule("hashlib");
        if (hashlib == NULL) {
            return -1;
        }
        ctor = PyObject_GetAttrString(hashlib, "sha256");
        Py_DECREF(hashlib);
        if (ctor == NULL) {
            return -1;
        }
        if (dta_sha256_ctor == NULL) {  /* the import may have let another thread in first */
            dta_sha256_ctor = ctor;
        }
        else {
            Py_DECREF(ctor);
        }
    }
    if (dta_digest_name == NULL) {
        name = PyUnicode_InternFromString("digest");
        if (name == NULL) {
            return -1;
        }
        if (dta_digest_name == NULL) {
            dta_digest_name = name;
        }
        else {
            Py_DECREF(name);
        }
    }
    dta_sha_mode = dta_evp_digest != NULL || dta_evp_resolve() ? 1 : 2;
    return 0;
}

/* Outcome of one file. */
enum { DTA_STOP = 0, DTA_CHANGED = 1, DTA_HASHED = 2 };

/* Open, check, read and re-check one file; called without the GIL. On DTA_HASHED *size holds
 * the byte count and, when hash, md the digest; *buf may be grown (raw allocator). */
static int
dta_small_file(int dir_fd, const char *name, Py_ssize_t small, char **buf, size_t *cap,
               Py_ssize_t *size, int hash, unsigned char *md)
{
    struct stat before, after;
    size_t want, got = 0;
    ssize_t r;
    unsigned int len = 0;
    int fd, status = DTA_STOP;

    do {
        fd = openat(dir_fd, name, DTA_FILE_FLAGS);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0) {
        return DTA_STOP;
    }
    if (fstat(fd, &before) != 0 || !S_ISREG(before.st_mode) || before.st_size < 0 ||
        before.st_size >= (off_t)small) {
        goto done;
    }
    want = (size_t)before.st_size;
    if (want > *cap) {
        char *grown = PyMem_RawRealloc(*buf, want);
        if (grown == NULL) {
            goto done;  /* the Python path then tries (and reports) it */
        }
        *buf = grown;
        *cap = want;
    }
    while (got < want) {
        r = read(fd, *buf + got, want - got);
        if (r < 0) {
            if (errno == EINTR) {
                continue;
            }
            goto done;
        }
        if (r == 0) {
            break;
        }
        got += (size_t)r;
    }
    if (fstat(fd, &after) != 0) {
        goto done;
    }
    if (got != want || after.st_size != before.st_size ||
        DTA_MTIM(after).tv_sec != DTA_MTIM(before).tv_sec ||
        DTA_MTIM(after).tv_nsec != DTA_MTIM(before).tv_nsec ||
        DTA_CTIM(after).tv_sec != DTA_CTIM(before).tv_sec ||
        DTA_CTIM(after).tv_nsec != DTA_CTIM(before).tv_nsec ||
        after.st_ino != before.st_ino || after.st_dev != before.st_dev) {
        status = DTA_CHANGED;
        goto done;
    }
    *size = (Py_ssize_t)want;
    status = DTA_HASHED;
done:
    close(fd);  /* not retried on EINTR: the descriptor is released either way */
    if (status == DTA_HASHED && hash &&
        (dta_evp_digest(*buf ? *buf : "", want, md, &len, dta_evp_sha256, NULL) != 1 ||
         len != 32)) {
        status = DTA_STOP;  /* not expected; the Python path hashes it instead */
    }
    return status;
}

/* hashlib.sha256(data).digest() of the first size bytes of buf (a new reference or NULL). */
static PyObject *
dta_hashlib_digest(const char *buf, Py_ssize_t size)
{
    PyObject *data, *h, *digest;

    data = PyBytes_FromStringAndSize(size ? buf : "", size);
    if (data == NULL) {
        return NULL;
    }
    h = PyObject_CallOneArg(dta_sha256_ctor, data);
    Py_DECREF(data);
    if (h == NULL) {
        return NULL;
    }
    digest = PyObject_CallMethodNoArgs(h, dta_digest_name);
    Py_DECREF(h);
    return digest;
}

static PyObject *
speedups_hash_small_run(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    PyObject *names, *sizes, *digests, *item, *value, *result = NULL;
    Py_ssize_t start, small, i, size = 0;
    long dir_fd;
    char *buf = NULL;
    size_t cap = 0;
    unsigned char md[32];
    int status, evp, changed = 0;

    (void)module;
    if (nargs != 6 || !PyList_Check(args[1]) || !PyList_Check(args[4]) ||
        !PyList_Check(args[5])) {
        PyErr_SetString(PyExc_TypeError,
                        "hash_small_run(dir_fd: int, names: list, start: int, small: int, "
                        "sizes: list, digests: list)");
        return NULL;
    }
    names = args[1];
    sizes = args[4];
    digests = args[5];
    dir_fd = PyLong_AsLong(args[0]);
    if (dir_fd == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (dir_fd > INT_MAX || dir_fd < INT_MIN) {
        PyErr_SetString(PyExc_OverflowError, "dir_fd out of range");
        return NULL;
    }
    start = PyLong_AsSsize_t(args[2]);
    if (start == -1 && PyErr_Occurred()) {
        return NULL;
    }
    small = PyLong_AsSsize_t(args[3]);
    if (small == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (start < 0 || small < 1 || small > DTA_SMALL_MAX) {
        PyErr_SetString(PyExc_ValueError, "start must be >= 0 and small in 1..2**30");
        return NULL;
    }
    if (dta_sha_ready() < 0) {
        return NULL;
    }
    evp = dta_sha_mode == 1;
    /* The list's length is read again each time: it cannot change without the GIL, but the
     * Python calls of the hashlib path could run code that changes it. */
    for (i = start; i < PyList_GET_SIZE(names); i++) {
        const char *name;
        item = PyList_GET_ITEM(names, i);
        if (!PyBytes_CheckExact(item) || dir_fd < 0) {
            break;
        }
        name = PyBytes_AS_STRING(item);
        if (strlen(name) != (size_t)PyBytes_GET_SIZE(item)) {
            break;  /* a NUL inside the name */
        }
        Py_INCREF(item);
        Py_BEGIN_ALLOW_THREADS
        status = dta_small_file((int)dir_fd, name, small, &buf, &cap, &size, evp, md);
        Py_END_ALLOW_THREADS
        Py_DECREF(item);
        if (status == DTA_STOP) {
            break;
        }
        if (status == DTA_CHANGED) {
            changed = 1;
            break;
        }
        value = evp ? PyBytes_FromStringAndSize((const char *)md, 32)
                    : dta_hashlib_digest(buf, size);
        if (value == NULL) {
            goto error;
        }
        if (PyList_Append(digests, value) < 0) {
            /* Keep sizes and digests the same length: nothing of this file is kept. */
            Py_DECREF(value);
            goto error;
        }
        Py_DECREF(value);
        value = PyLong_FromSsize_t(size);
        if (value == NULL || PyList_Append(sizes, value) < 0) {
            Py_XDECREF(value);
            (void)PySequence_DelItem(digests, PyList_GET_SIZE(digests) - 1);
            goto error;
        }
        Py_DECREF(value);
        if (PyErr_CheckSignals() < 0) {
            goto error;  /* like the Python loop: a handler's exception leaves the loop */
        }
    }
    if (!changed && i > PyList_GET_SIZE(names)) {
        i = PyList_GET_SIZE(names);  /* start beyond the end, as range(start, len) */
    }
    result = Py_BuildValue("(nO)", i, changed ? Py_True : Py_False);
error:
    PyMem_RawFree(buf);
    return result;
}

static PyObject *
speedups_hash_sha256_backend(PyObject *module, PyObject *arg)
{
    (void)module;
    if (!PyUnicode_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "hash_sha256_backend(choice: str)");
        return NULL;
    }
    if (PyUnicode_CompareWithASCIIString(arg, "hashlib") == 0) {
        if (dta_sha_ready() < 0) {
            return NULL;
        }
        dta_sha_mode = 2;
    }
    else if (PyUnicode_CompareWithASCIIString(arg, "auto") == 0) {
        dta_sha_mode = 0;
    }
    else if (PyUnicode_GET_LENGTH(arg) != 0) {
        PyErr_SetString(PyExc_ValueError, "choice must be '', 'hashlib' or 'auto'");
        return NULL;
    }
    if (dta_sha_ready() < 0) {
        return NULL;
    }
    return PyUnicode_FromString(dta_sha_mode == 1 ? "evp" : "hashlib");
}

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

/* ---- scan_names: one directory's entries by d_type: regular files, directories, others ---- */
#if defined(DT_REG) && defined(F_DUPFD_CLOEXEC)

typedef struct {
    char *buf;       /* names, each NUL-terminated */
    size_t len, cap;
    size_t count, regular, dirs;
    unsigned char *types;  /* 1 = DT_REG, 2 = DT_DIR, 0 = anything else (DT_UNKNOWN too) */
    size_t types_cap;
} dta_names_t;

static int
dta_names_add(dta_names_t *acc, const char *name, int type)
{
    size_t n = strlen(name) + 1;
    if (acc->len + n > acc->cap) {
        size_t cap = acc->cap ? acc->cap * 2 : 16384;
        char *grown;
        while (cap < acc->len + n) {
            cap *= 2;
        }
        grown = PyMem_RawRealloc(acc->buf, cap);
        if (grown == NULL) {
            return -1;
        }
        acc->buf = grown;
        acc->cap = cap;
    }
    if (acc->count == acc->types_cap) {
        size_t cap = acc->types_cap ? acc->types_cap * 2 : 1024;
        unsigned char *grown = PyMem_RawRealloc(acc->types, cap);
        if (grown == NULL) {
            return -1;
        }
        acc->types = grown;
        acc->types_cap = cap;
    }
    memcpy(acc->buf + acc->len, name, n);
    acc->len += n;
    acc->types[acc->count++] = (unsigned char)type;
    acc->regular += type == 1;
    acc->dirs += type == 2;
    return 0;
}

/* Read every entry of a duplicate of dir_fd (from its start, as os.scandir(fd) does), without
 * the GIL: 0 done, else an errno value (ENOMEM for a failed allocation). */
static int
dta_read_names(int dir_fd, dta_names_t *acc)
{
    int fd, err = 0;
    DIR *dir;
    struct dirent *entry;

    fd = fcntl(dir_fd, F_DUPFD_CLOEXEC, 0);
    if (fd < 0) {
        return errno;
    }
    dir = fdopendir(fd);
    if (dir == NULL) {
        err = errno;
        close(fd);
        return err;
    }
    rewinddir(dir);
    for (;;) {
        errno = 0;
        entry = readdir(dir);
        if (entry == NULL) {
            err = errno;
            break;
        }
        if (entry->d_name[0] == '.' &&
            (entry->d_name[1] == '\0' || (entry->d_name[1] == '.' && entry->d_name[2] == '\0'))) {
            continue;
        }
        if (dta_names_add(acc, entry->d_name,
                          entry->d_type == DT_REG ? 1 : entry->d_type == DT_DIR ? 2 : 0) < 0) {
            err = ENOMEM;
            break;
        }
    }
    rewinddir(dir);  /* the offset is shared with dir_fd: leave it at the start, as
                        os.scandir(fd) does, so the next scan of dir_fd sees every entry */
    closedir(dir);
    return err;
}

static PyObject *
speedups_scan_names(PyObject *module, PyObject *arg)
{
    dta_names_t acc = {NULL, 0, 0, 0, 0, 0, NULL, 0};
    PyObject *regular = NULL, *dirs = NULL, *result = NULL;
    long dir_fd;
    size_t i, at = 0, r = 0, d = 0;
    int err;

    (void)module;
    dir_fd = PyLong_AsLong(arg);
    if (dir_fd == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (dir_fd < 0 || dir_fd > INT_MAX) {
        PyErr_SetString(PyExc_ValueError, "scan_names: dir_fd must be a descriptor");
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    err = dta_read_names((int)dir_fd, &acc);
    Py_END_ALLOW_THREADS
    if (err != 0) {
        errno = err;
        if (err == ENOMEM) {
            PyErr_NoMemory();
        }
        else {
            PyErr_SetFromErrno(PyExc_OSError);
        }
        goto done;
    }
    regular = PyList_New((Py_ssize_t)acc.regular);
    dirs = PyList_New((Py_ssize_t)acc.dirs);
    if (regular == NULL || dirs == NULL) {
        goto done;
    }
    for (i = 0; i < acc.count; i++) {
        size_t n = strlen(acc.buf + at);
        /* The file-system encoding with surrogateescape: the str os.scandir(fd) gives. */
        PyObject *name;
        if (acc.types[i] == 0) {
            at += n + 1;
            continue;  /* counted only: the caller scans such a directory itself */
        }
        name = PyUnicode_DecodeFSDefaultAndSize(acc.buf + at, (Py_ssize_t)n);
        if (name == NULL) {
            goto done;
        }
        if (acc.types[i] == 1) {
            PyList_SET_ITEM(regular, (Py_ssize_t)r++, name);
        }
        else {
            PyList_SET_ITEM(dirs, (Py_ssize_t)d++, name);
        }
        at += n + 1;
    }
    result = Py_BuildValue("(OOn)", regular, dirs,
                           (Py_ssize_t)(acc.count - acc.regular - acc.dirs));
done:
    Py_XDECREF(regular);  /* slots not yet set are NULL: list dealloc skips them */
    Py_XDECREF(dirs);
    PyMem_RawFree(acc.buf);
    PyMem_RawFree(acc.types);
    return result;
}
#define DTA_SCAN_NAMES_ENTRY                                                                    \
    {"scan_names", speedups_scan_names, METH_O,                                                \
     "scan_names(dir_fd: int) -> (regular file names, directory names, count of others)"},
#else
#define DTA_SCAN_NAMES_ENTRY
#endif

#define DTA_FILES_METHODS                                                                       \
    {"hash_small_run", (PyCFunction)(void (*)(void))speedups_hash_small_run, METH_FASTCALL,    \
     "hash_small_run(dir_fd, names, start, small, sizes, digests) -> (index, changed)"},        \
    {"hash_sha256_backend", speedups_hash_sha256_backend, METH_O,                                \
     "hash_sha256_backend(choice: str) -> str ('evp' or 'hashlib')"},                          \
    {"paths_safe_distinct", speedups_paths_safe_distinct, METH_O,                              \
     "paths_safe_distinct(paths: list) -> bool"},                                              \
    {"chunk_matches", (PyCFunction)(void (*)(void))speedups_chunk_matches, METH_FASTCALL,      \
     "chunk_matches(index, rels, want_sizes, want_hexes, got_sizes, got_hexes) -> bool"},      \
    {"manifest_columns", speedups_manifest_columns, METH_O,                                    \
     "manifest_columns(items: list) -> (paths, sizes as int64 bytes, hex digests) | None"},     \
    DTA_SCAN_NAMES_ENTRY

#else
#define DTA_FILES_METHODS
#endif
