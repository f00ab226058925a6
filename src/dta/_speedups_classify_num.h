/*
 * dta._speedups: classification, part 1 (issue 4, ADR 0103): code-point access, offset
 * buffers and the numeric-token tokeniser (cls_num_at, the _candidates.NUM pattern as a loop).
 * Included by _speedups_classify.h, which documents the contract and the bounds rules.
 */

#if defined(__SSE2__) && defined(__GNUC__)
#include <emmintrin.h>
#endif

#if defined(__GNUC__)
#define CLS_INLINE static inline __attribute__((always_inline))
#else
#define CLS_INLINE static inline
#endif

/* Every str is "ready" from Python 3.12 on (PyUnicode_READY is deprecated there). */
#if PY_VERSION_HEX < 0x030C0000
#define CLS_READY(s) PyUnicode_READY(s)
#else
#define CLS_READY(s) 0
#endif

#define CLS_NONE ((Py_UCS4)0xFFFFFFFFu)
#define CLS_DIG(c) ((Py_UCS4)((c) - (Py_UCS4)'0') < 10u)
#define CLS_D19(c) ((Py_UCS4)((c) - (Py_UCS4)'1') < 9u)
#define CLS_UP(c) ((Py_UCS4)((c) - (Py_UCS4)'A') < 26u)
#define CLS_LOW(c) ((Py_UCS4)((c) - (Py_UCS4)'a') < 26u)
#define CLS_ALPHA(c) (CLS_UP(c) || CLS_LOW(c))
#define CLS_ALNUM(c) (CLS_DIG(c) || CLS_ALPHA(c))
/* [0-9A-HJ-NPQRTUWXY]: digits and upper-case letters except I, O, S, V, Z */
#define CLS_USCC(c)                                                                          \
    (CLS_DIG(c) ||                                                                           \
     (CLS_UP(c) && (c) != 'I' && (c) != 'O' && (c) != 'S' && (c) != 'V' && (c) != 'Z'))
/* [0-9 .\-()] */
#define CLS_AHEAD(c) (CLS_DIG(c) || (c) == ' ' || (c) == '.' || (c) == '-' || (c) == '(' || (c) == ')')

/* A growable array of Py_ssize_t (pairs), usable without the GIL (plain malloc). */
typedef struct {
    Py_ssize_t *v;
    Py_ssize_t len;
    Py_ssize_t cap;
} cls_buf;

/* Room for `need` more entries (need <= 2: doubling from 64 always makes enough). */
static int
cls_reserve(cls_buf *b, Py_ssize_t need)
{
    Py_ssize_t cap;
    Py_ssize_t *v;
    if (b->len + need <= b->cap) {
        return 0;
    }
    cap = b->cap ? b->cap * 2 : 64;
    if (cap > PY_SSIZE_T_MAX / (Py_ssize_t)sizeof(Py_ssize_t) / 2) {
        return -1;
    }
    v = (Py_ssize_t *)realloc(b->v, (size_t)cap * sizeof(Py_ssize_t));
    if (v == NULL) {
        return -1;
    }
    b->v = v;
    b->cap = cap;
    return 0;
}

static int
cls_push2(cls_buf *b, Py_ssize_t x, Py_ssize_t y)
{
    if (cls_reserve(b, 2) < 0) {
        return -1;
    }
    b->v[b->len++] = x;
    b->v[b->len++] = y;
    return 0;
}

static int
cls_push1(cls_buf *b, Py_ssize_t x)
{
    if (cls_reserve(b, 1) < 0) {
        return -1;
    }
    b->v[b->len++] = x;
    return 0;
}

CLS_INLINE Py_UCS4
cls_at(int kind, const void *d, Py_ssize_t n, Py_ssize_t i)
{
    if (i < 0 || i >= n) {
        return CLS_NONE;
    }
    if (kind == PyUnicode_1BYTE_KIND) {
        return ((const Py_UCS1 *)d)[i];
    }
    if (kind == PyUnicode_2BYTE_KIND) {
        return ((const Py_UCS2 *)d)[i];
    }
    return ((const Py_UCS4 *)d)[i];
}

/* The code point at i, for 0 <= i < n only (the caller's loop bound). */
CLS_INLINE Py_UCS4
cls_get(int kind, const void *d, Py_ssize_t i)
{
    if (kind == PyUnicode_1BYTE_KIND) {
        return ((const Py_UCS1 *)d)[i];
    }
    if (kind == PyUnicode_2BYTE_KIND) {
        return ((const Py_UCS2 *)d)[i];
    }
    return ((const Py_UCS4 *)d)[i];
}

/* Number of ASCII digits at i, i+1, ... (at most cap). */
CLS_INLINE Py_ssize_t
cls_digits(int kind, const void *d, Py_ssize_t n, Py_ssize_t i, Py_ssize_t cap)
{
    Py_ssize_t k = 0;
    while (k < cap && CLS_DIG(cls_at(kind, d, n, i + k))) {
        k++;
    }
    return k;
}

/* True when the characters at i .. i + len - 1 are exactly the ASCII string w. */
CLS_INLINE int
cls_eq(int kind, const void *d, Py_ssize_t n, Py_ssize_t i, const char *w, Py_ssize_t len)
{
    Py_ssize_t k;
    if (i < 0 || len > n - i) {
        return 0;
    }
    for (k = 0; k < len; k++) {
        if (cls_at(kind, d, n, i + k) != (Py_UCS4)(unsigned char)w[k]) {
            return 0;
        }
    }
    return 1;
}

/* The end of the _NUM match starting at s (whose first character is in [0-9+(] and whose
 * predecessor passed the cluster-start test), or -1 when no branch matches there. */
CLS_INLINE Py_ssize_t
cls_num_at(int kind, const void *d, Py_ssize_t n, Py_ssize_t s)
{
#define AT(i) cls_at(kind, d, n, (i))
    Py_UCS4 c0 = AT(s), p1 = AT(s - 1), p2 = AT(s - 2);
    Py_ssize_t j, k, r;

    /* (?<=[A-Z]{2}[0-9])[0-9](?= ?[A-Z0-9]{4}) */
    if (CLS_DIG(c0) && CLS_UP(p2) && CLS_UP(p1) && CLS_DIG(AT(s + 1))) {
        j = s + 2;
        if (AT(j) == ' ') {
            j++;
        }
        for (k = 0; k < 4; k++) {
            Py_UCS4 c = AT(j + k);
            if (!(CLS_UP(c) || CLS_DIG(c))) {
                break;
            }
        }
        if (k == 4) {
            return s + 2;
        }
    }
    /* (?<=[ANY][1-9])(?<![0-9A-Za-z]..)[0-9]{6}USCC{10}(?![0-9A-Za-z]) */
    if ((p1 == 'A' || p1 == 'N' || p1 == 'Y') && CLS_D19(c0) && !CLS_ALNUM(p2) &&
        cls_digits(kind, d, n, s + 1, 6) == 6) {
        for (k = 7; k < 17; k++) {
            if (!CLS_USCC(AT(s + k))) {
                break;
            }
        }
        if (k == 17 && !CLS_ALNUM(AT(s + 17))) {
            return s + 17;
        }
    }
    /* (?<![A-Za-z].)(?: ... ) */
    if (CLS_ALPHA(p1)) {
        return -1;
    }
    if (CLS_DIG(c0)) {
        Py_UCS4 c1 = AT(s + 1);
        /* [A-E][0-9]{3} */
        if ((Py_UCS4)(c1 - (Py_UCS4)'A') < 5u && cls_digits(kind, d, n, s + 2, 3) == 3) {
            return s + 5;
        }
        /* [0-9]{0,2}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}(?![0-9.]) */
        r = cls_digits(kind, d, n, s + 1, 3);
        if (r <= 2 && AT(s + 1 + r) == '.') {
            j = s + 2 + r;
            for (k = 0; k < 3; k++) {
                Py_UCS4 after;
                r = cls_digits(kind, d, n, j, 4);
                if (r < 1 || r > 3) {
                    break;
                }
                after = AT(j + r);
                if (k < 2) {
                    if (after != '.') {
                        break;
                    }
                    j += r + 1;
                }
                else {
                    if (CLS_DIG(after) || after == '.') {
                        break;
                    }
                    return j + r;
                }
            }
        }
        /* (?<=[1-9])[1-9][0-9]{6}USCC{10}(?![0-9A-Za-z]) */
        if (CLS_D19(c0) && CLS_D19(c1) && cls_digits(kind, d, n, s + 2, 6) == 6) {
            for (k = 8; k < 18; k++) {
                if (!CLS_USCC(AT(s + k))) {
                    break;
                }
            }
            if (k == 18 && !CLS_ALNUM(AT(s + 18))) {
                return s + 18;
            }
        }
    }
    /* (?=[0-9 .\-()]{8}) */
    for (k = 1; k <= 8; k++) {
        Py_UCS4 c = AT(s + k);
        if (!CLS_AHEAD(c)) {
            return -1;
        }
    }
    /* (?![0-9]{3}-[01][0-9]-[0-3][0-9](?![0-9])) */
    if (cls_digits(kind, d, n, s + 1, 3) == 3 && AT(s + 4) == '-' &&
        (AT(s + 5) == '0' || AT(s + 5) == '1') && CLS_DIG(AT(s + 6)) && AT(s + 7) == '-' &&
        (Py_UCS4)(AT(s + 8) - (Py_UCS4)'0') < 4u && CLS_DIG(AT(s + 9)) && !CLS_DIG(AT(s + 10))) {
        return -1;
    }
    /* (?:[ .\-]?[0-9]|\)[ ]?[0-9]){8,}+[Xx]? -- each repetition is determined by its first
     * character, so the possessive repeat is the longest run of units */
    j = s + 1;
    k = 0;
    for (;;) {
        Py_UCS4 c = AT(j);
        if (CLS_DIG(c)) {
            j += 1;
        }
        else if ((c == ' ' || c == '.' || c == '-') && CLS_DIG(AT(j + 1))) {
            j += 2;
        }
        else if (c == ')' && AT(j + 1) == ' ' && CLS_DIG(AT(j + 2))) {
            j += 3;
        }
        else if (c == ')' && CLS_DIG(AT(j + 1))) {
            j += 2;
        }
        else {
            break;
        }
        k++;
    }
    if (k < 8) {
        return -1;
    }
    if (AT(j) == 'X' || AT(j) == 'x') {
        j++;
    }
    return j;
#undef AT
}
