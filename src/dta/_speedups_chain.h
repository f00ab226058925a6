/*
 * dta._speedups: the inner loop of audit-log chain verification (issue 3, ADR 0107).
 * Included by _speedups.c after _speedups_files.h (whose run-time SHA-256 it uses) and
 * _speedups_scan.h (whose canonical scanner proves the details); DTA_CHAIN_METHODS expands to
 * this header's method-table entry, or to nothing where _speedups_files.h has no SHA-256 loop.
 *
 * chain_run(lines, pos, index, prev_hex, head, tail, leaves, max_depth) -> (pos, prev_hex, tail)
 *     The accepting path of dta.audit._verify_fast._chain, line by line from lines[pos] (a
 *     list or tuple), for lines that start with head: an already-validated head (the caller
 *     proved it with head_end; it must end with "details":{). Line j = pos + i is accepted when
 *     it is exact bytes of at most 65,535 bytes, index + i <= 2**53 - 1, it starts with head,
 *     and it splits as HEAD + DETAILS + PRE + REST exactly as _chain splits it:
 *       - PRE = ,"index":<index + i>,"prev":"<prev>","spec_version":"1.0","subject":{"_type":"
 *         looked for first at len(line) - tail (tail from the line before), else at its last
 *         occurrence (then tail = len(line) - that place), and it must start after HEAD;
 *       - REST fullmatches _verify_fast._REST (chain_rest below: TEXT, HEX64, TEXT, a real
 *         Gregorian date 0001-9999, a 00:00:00-23:59:59 clock with 1-9 fraction digits or
 *         none, Z, then "} and the end);
 *       - DETAILS (from the { ending HEAD to PRE) is proved one canonical JSON value within
 *         max_depth levels by scan_value, exactly what canonical_line(DETAILS, max_depth) says.
 *     For each accepted line SHA-256(0x00 || line) (32 bytes) is appended to leaves and its
 *     lowercase hex becomes prev. The loop stops at the first line not accepted (or at the end)
 *     and returns its position, the hex leaf of the last accepted line (prev_hex if none) and
 *     tail as it was after that line: the caller then decides that line on its own path
 *     (a new head, or parsing) and calls again. It never accepts a line _chain would have to
 *     parse; a prev_hex that is not 64 bytes stops at once.
 *
 *     The GIL is held throughout (one line is about a microsecond of work; the parallel
 *     verifier uses processes). SHA-256 is _speedups_files.h's: EVP_Digest resolved at run
 *     time, else hashlib.sha256 through the C API (hash_sha256_backend selects it).
 */
#if (defined(__unix__) || defined(__APPLE__)) && defined(O_NOFOLLOW) && defined(O_CLOEXEC) && \
    defined(O_NONBLOCK) && defined(AT_FDCWD)

#define DTA_CHAIN_MAX_LINE 65535
#define DTA_CHAIN_MAX_INDEX ((((long long)1) << 53) - 1)
#define DTA_CHAIN_PRE_MAX 160

static const char dta_chain_details[] = "\"details\":{";

/* TEXT at *p: 1..1024 bytes of printable ASCII without " and \ (the regex's maximal run,
 * which is its only possible match since the next literal starts with "). */
static int
chain_text(const unsigned char **p, const unsigned char *end)
{
    const unsigned char *q = *p;
    while (q < end && *q >= 0x20 && *q <= 0x7e && *q != '"' && *q != '\\') {
        q++;
    }
    if (q == *p || q - *p > 1024) {
        return 0;
    }
    *p = q;
    return 1;
}

static int
chain_lit(const unsigned char **p, const unsigned char *end, const char *lit)
{
    size_t n = strlen(lit);
    if ((size_t)(end - *p) < n || memcmp(*p, lit, n) != 0) {
        return 0;
    }
    *p += n;
    return 1;
}

static int
chain_hex64(const unsigned char **p, const unsigned char *end)
{
    int i;
    if (end - *p < 64) {
        return 0;
    }
    for (i = 0; i < 64; i++) {
        unsigned char c = (*p)[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            return 0;
        }
    }
    *p += 64;
    return 1;
}

/* n decimal digits at p as an int, or -1. */
static int
chain_digits(const unsigned char *p, int n)
{
    int v = 0, i;
    for (i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9') {
            return -1;
        }
        v = v * 10 + (p[i] - '0');
    }
    return v;
}

/* _DATE "T" _CLOCK: YYYY-MM-DDTHH:MM:SS(.f{1,9})?Z, a real date with year 0001-9999. */
static int
chain_time(const unsigned char **p, const unsigned char *end)
{
    static const int days[13] = {0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    const unsigned char *q = *p;
    int year, month, day, hour, minute, second, n;

    if (end - q < 20 || q[4] != '-' || q[7] != '-' || q[10] != 'T' || q[13] != ':' ||
        q[16] != ':') {
        return 0;
    }
    year = chain_digits(q, 4);
    month = chain_digits(q + 5, 2);
    day = chain_digits(q + 8, 2);
    hour = chain_digits(q + 11, 2);
    minute = chain_digits(q + 14, 2);
    second = chain_digits(q + 17, 2);
    if (year < 1 || month < 1 || month > 12 || day < 1 || day > days[month] || hour < 0 ||
        hour > 23 || minute < 0 || minute > 59 || second < 0 || second > 59) {
        return 0;
    }
    if (month == 2 && day == 29 && !(year % 4 == 0 && (year % 100 != 0 || year % 400 == 0))) {
        return 0;
    }
    q += 19;
    if (*q == '.') {
        q++;
        for (n = 0; q < end && *q >= '0' && *q <= '9'; n++) {
            q++;
        }
        if (n < 1 || n > 9) {
            return 0;
        }
    }
    if (q >= end || *q != 'Z') {
        return 0;
    }
    *p = q + 1;
    return 1;
}

/* _REST.fullmatch(line, p). */
static int
chain_rest(const unsigned char *p, const unsigned char *end)
{
    return chain_text(&p, end) && chain_lit(&p, end, "\",\"digest\":{\"sha256\":\"") &&
           chain_hex64(&p, end) && chain_lit(&p, end, "\"},\"id\":\"") && chain_text(&p, end) &&
           chain_lit(&p, end, "\"},\"time\":\"") && chain_time(&p, end) &&
           chain_lit(&p, end, "\"}") && p == end;
}

/* bytes.rfind(pre) over line[0:n], or -1. */
static Py_ssize_t
chain_rfind(const unsigned char *line, Py_ssize_t n, const unsigned char *pre, Py_ssize_t m)
{
    Py_ssize_t i;
    for (i = n - m; i >= 0; i--) {
        if (line[i] == pre[0] && memcmp(line + i, pre, (size_t)m) == 0) {
            return i;
        }
    }
    return -1;
}

static PyObject *
speedups_chain_run(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    static const char hexdigits[] = "0123456789abcdef";
    PyObject *lines, *leaves, *head, *item, *leaf, *result = NULL;
    Py_ssize_t pos, tail, tail_before, k, n, cut, m, i;
    long long index;
    long max_depth;
    const unsigned char *line;
    unsigned char pre[DTA_CHAIN_PRE_MAX], md[32];
    char prev[64];
    unsigned char *buf = NULL;
    unsigned int mdlen;
    size_t cap = 0;
    int overflow = 0, evp;
    scan_t s;

    (void)module;
    if (nargs != 8 || !(PyList_Check(args[0]) || PyTuple_Check(args[0])) ||
        !PyBytes_Check(args[3]) || !PyBytes_Check(args[4]) || !PyList_Check(args[6])) {
        PyErr_SetString(PyExc_TypeError,
                        "chain_run(lines: list, pos: int, index: int, prev_hex: bytes, "
                        "head: bytes, tail: int, leaves: list, max_depth: int)");
        return NULL;
    }
    lines = args[0];
    head = args[4];
    leaves = args[6];
    pos = PyLong_AsSsize_t(args[1]);
    if (pos == -1 && PyErr_Occurred()) {
        return NULL;
    }
    index = PyLong_AsLongLongAndOverflow(args[2], &overflow);
    if (index == -1 && PyErr_Occurred()) {
        return NULL;
    }
    tail = PyLong_AsSsize_t(args[5]);
    if (tail == -1 && PyErr_Occurred()) {
        return NULL;
    }
    max_depth = depth_arg(args[7]);
    if (max_depth < 0) {
        return NULL;
    }
    if (pos < 0) {
        PyErr_SetString(PyExc_ValueError, "pos must be >= 0");
        return NULL;
    }
    if (dta_sha_ready() < 0) {
        return NULL;
    }
    evp = dta_sha_mode == 1;
    k = PyBytes_GET_SIZE(head);
    memcpy(prev, PyBytes_AS_STRING(args[3]), PyBytes_GET_SIZE(args[3]) == 64 ? 64 : 0);
    /* The fixed part of PRE before the index; the index and prev are written per line. */
    memcpy(pre, ",\"index\":", 9);
    if (overflow || index < 0 || PyBytes_GET_SIZE(args[3]) != 64 || k < 12 ||
        memcmp(PyBytes_AS_STRING(head) + k - 11, dta_chain_details, 11) != 0) {
        goto done;  /* nothing accepted: the caller's path decides */
    }
    for (; pos < (PyList_Check(lines) ? PyList_GET_SIZE(lines) : PyTuple_GET_SIZE(lines));
         pos++) {
        char digits[24];
        int nd = 0;
        long long v = index;
        int ok;

        item = PyList_Check(lines) ? PyList_GET_ITEM(lines, pos) : PyTuple_GET_ITEM(lines, pos);
        if (!PyBytes_CheckExact(item) || index > DTA_CHAIN_MAX_INDEX) {
            break;
        }
        line = (const unsigned char *)PyBytes_AS_STRING(item);
        n = PyBytes_GET_SIZE(item);
        if (n > DTA_CHAIN_MAX_LINE || n < k || memcmp(line, PyBytes_AS_STRING(head), k) != 0) {
            break;
        }
        /* PRE for this index and prev (_PRE % (index, prev)). */
        do {
            digits[nd++] = (char)('0' + v % 10);
            v /= 10;
        } while (v);
        m = 9;
        while (nd) {
            pre[m++] = (unsigned char)digits[--nd];
        }
        memcpy(pre + m, ",\"prev\":\"", 9);
        m += 9;
        memcpy(pre + m, prev, 64);
        m += 64;
        memcpy(pre + m, "\",\"spec_version\":\"1.0\",\"subject\":{\"_type\":\"", 43);
        m += 43;
        tail_before = tail;  /* restored if the line is not accepted */
        cut = (tail >= 0 && tail <= n) ? n - tail : -1;
        if (cut <= k || cut > n - m || memcmp(line + cut, pre, (size_t)m) != 0) {
            cut = chain_rfind(line, n, pre, m);
            tail = n - cut;
        }
        ok = cut > k && chain_rest(line + cut + m, line + n);
        if (ok) {
            s.p = line + k - 1;
            s.end = line + cut;
            s.max_depth = (int)max_depth;
            s.top_members = 0;
            ok = scan_value(&s, 1) && s.p == s.end;
        }
        if (!ok) {
            tail = tail_before;
            break;
        }
        if ((size_t)n + 1 > cap) {
            unsigned char *grown = PyMem_Realloc(buf, (size_t)n + 1);
            if (grown == NULL) {
                PyErr_NoMemory();
                goto error;
            }
            buf = grown;
            cap = (size_t)n + 1;
        }
        buf[0] = 0;
        memcpy(buf + 1, line, (size_t)n);
        if (evp) {
            mdlen = 0;
            if (dta_evp_digest(buf, (size_t)n + 1, md, &mdlen, dta_evp_sha256, NULL) != 1 ||
                mdlen != 32) {
                tail = tail_before;
                break;  /* not expected; the caller's path hashes it instead */
            }
            leaf = PyBytes_FromStringAndSize((const char *)md, 32);
        }
        else {
            Py_INCREF(item);  /* hashlib runs Python code: keep the line alive */
            leaf = dta_hashlib_digest((const char *)buf, n + 1);
            Py_DECREF(item);
            if (leaf != NULL && (!PyBytes_Check(leaf) || PyBytes_GET_SIZE(leaf) != 32)) {
                Py_DECREF(leaf);
                PyErr_SetString(PyExc_RuntimeError, "sha256 digest is not 32 bytes");
                goto error;
            }
        }
        if (leaf == NULL) {
            goto error;
        }
        if (PyList_Append(leaves, leaf) < 0) {
            Py_DECREF(leaf);
            goto error;
        }
        for (i = 0; i < 32; i++) {
            unsigned char c = (unsigned char)PyBytes_AS_STRING(leaf)[i];
            prev[2 * i] = hexdigits[c >> 4];
            prev[2 * i + 1] = hexdigits[c & 15];
        }
        Py_DECREF(leaf);
        index++;
    }
done:
    if (PyBytes_GET_SIZE(args[3]) == 64) {
        result = Py_BuildValue("(ny#n)", pos, prev, (Py_ssize_t)64, tail);
    }
    else {
        result = Py_BuildValue("(nOn)", pos, args[3], tail);
    }
error:
    PyMem_Free(buf);
    return result;
}

#define DTA_CHAIN_METHODS                                                                       \
    {"chain_run", (PyCFunction)(void (*)(void))speedups_chain_run, METH_FASTCALL,              \
     "chain_run(lines, pos, index, prev_hex, head, tail, leaves, max_depth) -> "               \
     "(pos, prev_hex, tail)"},

#else
#define DTA_CHAIN_METHODS
#endif
