/*
 * dta._speedups: one directory's entries for the safe tree walk (issue 5, ADR 0102).
 * Included by _speedups_files.h inside its platform test; defines DTA_SCAN_NAMES_ENTRY.
 *
 * scan_names(dir_fd) -> (regular file names, directory names, count of other entries)
 *     The entries os.scandir(dir_fd) would give, in its order and with its name decoding, split
 *     by d_type (DT_UNKNOWN counts as other); the shared offset is left at the start.
 */

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
