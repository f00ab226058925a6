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
 * paths_safe_distinct, chunk_matches, manifest_columns: _speedups_columns.h.
 * scan_names: _speedups_dirscan.h (both included below, inside this header's platform test).
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

#include "_speedups_columns.h"
#include "_speedups_dirscan.h"

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
