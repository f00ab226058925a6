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

static int
cls_push2(cls_buf *b, Py_ssize_t x, Py_ssize_t y)
{
    if (b->len + 2 > b->cap) {
        Py_ssize_t cap = b->cap ? b->cap * 2 : 64;
        Py_ssize_t *v;
        if (cap > PY_SSIZE_T_MAX / (Py_ssize_t)sizeof(Py_ssize_t) / 2) {
            return -1;
        }
        v = (Py_ssize_t *)realloc(b->v, (size_t)cap * sizeof(Py_ssize_t));
        if (v == NULL) {
            return -1;
        }
        b->v = v;
        b->cap = cap;
    }
    b->v[b->len++] = x;
    b->v[b->len++] = y;
    return 0;
}

static int
cls_push1(cls_buf *b, Py_ssize_t x)
{
    if (b->len + 1 > b->cap) {
        Py_ssize_t cap = b->cap ? b->cap * 2 : 64;
        Py_ssize_t *v;
        if (cap > PY_SSIZE_T_MAX / (Py_ssize_t)sizeof(Py_ssize_t) / 2) {
            return -1;
        }
        v = (Py_ssize_t *)realloc(b->v, (size_t)cap * sizeof(Py_ssize_t));
        if (v == NULL) {
            return -1;
        }
        b->v = v;
        b->cap = cap;
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

/* 1: a cluster can start at c ([0-9+(]); 2: c ends a cluster start ([0-9_.+\-/]). */

/* Keyword anchors. Word indices are those of _candidates.ANCHOR_WORDS; groups are the order in
 * which anchored lists them. */
enum {
    CLS_W_AWS = 0,      /* 0..10: the AWS prefixes, in cls_aws order */
    CLS_W_SIMPLE = 11,  /* 11..21: cls_simple, in order */
    CLS_W_PLT = 22,     /* P< */
    CLS_W_TLP = 23,     /* TLP: */
    CLS_W_NEIBU = 24,   /* 内部 */
    CLS_W_HUZHAO = 25,  /* 护照 */
    CLS_W_CONF = 26,    /* CONFIDENTIAL */
    CLS_W_PHRASE = 27,  /* 27..29: cls_phrases, in order */
    CLS_W_SEAL = 30,    /* 商业秘密, 秘密, 机密, 绝密 */
};
enum {
    CLS_G_AWS = 0,
    CLS_G_SIMPLE = 1, /* 1..11 */
    CLS_G_PLT = 12,
    CLS_G_TLP = 13,
    CLS_G_NEIBU = 14,
    CLS_G_HUZHAO = 15,
    CLS_G_CONF = 16,
    CLS_G_PHRASE = 17,
    CLS_G_SEAL = 18,
    CLS_GROUPS = 19,
};
/* Buffers: numeric spans, the anchor groups, then the marks. */
enum {
    CLS_B_NUM = 0,
    CLS_B_ASSIGN = 1 + CLS_GROUPS, /* = : and the full-width colon, by position */
    CLS_B_AT = 2 + CLS_GROUPS,     /* @ */
    CLS_B_JWT = 3 + CLS_GROUPS,    /* eyJ */
    CLS_BUFS = 4 + CLS_GROUPS,
};

static const char *const cls_aws[11] = {"KIA", "SIA", "BIA", "CCA", "GPA", "IDA",
                                        "ROA", "IPA", "NPA", "NVA", "PKA"};
static const char *const cls_simple[11] = {
    "-----BEGIN ", "EAR99",        "ITAR",         "USML",    "CUI",    "CONTROLLED UNCLASSIFIED INFORMATION",
    "PROPRIETARY", "TRADE SECRET", "Trade Secret", "assport", "ASSPORT",
};
static const Py_ssize_t cls_simple_len[11] = {11, 5, 4, 4, 3, 35, 11, 12, 12, 7, 7};
/* offset: of the "onfidential" match minus one (as _candidates._PHRASES states it) */
static const struct {
    const char *text;
    Py_ssize_t len;
    Py_ssize_t offset;
} cls_phrases[3] = {
    {"Company Confidential", 20, 8},
    {"Confidential and Proprietary", 28, 0},
    {"Proprietary and Confidential", 28, 17},
};

/* Characters that can begin an anchor (or be the one character it is found by). */

/* Per ASCII character: 1 it can start a numeric token ([0-9+(]); 2 it stops the next
 * character from starting one ([0-9_.+\-/]); 4 a keyword anchor is checked at it (the first
 * letter of an upper-case keyword, "p" of "assport", "f" of "onfidential", "-", "<", ":");
 * 8 it is a mark of the other passes ("=" and ":" assignments, "@", the "J" of "eyJ"). */
static const unsigned char cls_tab[128] = {
    ['0'] = 3, ['1'] = 3, ['2'] = 3, ['3'] = 3, ['4'] = 3, ['5'] = 3, ['6'] = 3, ['7'] = 3,
    ['8'] = 3, ['9'] = 3, ['+'] = 3, ['('] = 1, ['_'] = 2, ['.'] = 2, ['/'] = 2, ['-'] = 6,
    ['A'] = 4, ['C'] = 4, ['E'] = 4, ['I'] = 4, ['O'] = 4, ['P'] = 4, ['T'] = 4, ['U'] = 4,
    ['p'] = 4, ['f'] = 4, ['<'] = 4, [':'] = 12, ['='] = 8, ['@'] = 8, ['J'] = 8,
};

/* Second letters of the AWS prefixes (A + KIA SIA BIA CCA GPA IDA ROA IPA NPA NVA PKA). */
#define CLS_AWS_SECOND                                                                       \
    ((1u << ('K' - 'A')) | (1u << ('S' - 'A')) | (1u << ('B' - 'A')) | (1u << ('C' - 'A')) | \
     (1u << ('G' - 'A')) | (1u << ('I' - 'A')) | (1u << ('R' - 'A')) | (1u << ('N' - 'A')) | \
     (1u << ('P' - 'A')))

/* Where the next occurrence of each keyword may start: a str.find (or finditer) resumes after
 * the previous occurrence, so occurrences of one keyword never overlap. */
typedef struct {
    Py_ssize_t aws, simple[11], conf, onf;
} cls_next;

#define CLS_PUSH(grp, pos, word)                                                             \
    do {                                                                                     \
        if (cls_push2(&g[1 + (grp)], (pos), (word)) < 0) {                                   \
            return -1;                                                                       \
        }                                                                                    \
    } while (0)

/* cls_simple[k] starting at `start`, unless it overlaps the previous occurrence */
#define CLS_SIMPLE(k, start)                                                                 \
    do {                                                                                     \
        Py_ssize_t s_ = (start);                                                             \
        if (s_ >= 0 && s_ >= nx->simple[(k)] &&                                              \
            cls_eq(kind, d, n, s_, cls_simple[(k)], cls_simple_len[(k)])) {                  \
            CLS_PUSH(CLS_G_SIMPLE + (k), s_, CLS_W_SIMPLE + (k));                            \
            nx->simple[(k)] = s_ + cls_simple_len[(k)];                                      \
        }                                                                                    \
    } while (0)

/* The anchors at ASCII character c = text[i] (cls_tab[c] & 4); -1 when out of memory. */
CLS_INLINE int
cls_anchor_at(int kind, const void *d, Py_ssize_t n, Py_ssize_t i, Py_UCS4 c, cls_next *nx,
              cls_buf *g)
{
    Py_UCS4 c1 = cls_at(kind, d, n, i + 1);
    Py_ssize_t k, s;

    switch (c) {
    case 'A':
        if (c1 - (Py_UCS4)'A' < 26u && ((CLS_AWS_SECOND >> (c1 - 'A')) & 1u) && i >= nx->aws) {
            for (k = 0; k < 11; k++) {
                if (cls_eq(kind, d, n, i + 1, cls_aws[k], 3)) {
                    CLS_PUSH(CLS_G_AWS, i, CLS_W_AWS + k);
                    nx->aws = i + 4;
                    break;
                }
            }
        }
        if (c1 == 'S') {
            CLS_SIMPLE(10, i); /* ASSPORT */
        }
        break;
    case '-':
        if (c1 == '-') {
            CLS_SIMPLE(0, i); /* -----BEGIN */
        }
        break;
    case 'E':
        if (c1 == 'A') {
            CLS_SIMPLE(1, i); /* EAR99 */
        }
        break;
    case 'I':
        if (c1 == 'T') {
            CLS_SIMPLE(2, i); /* ITAR */
        }
        break;
    case 'U':
        if (c1 == 'S') {
            CLS_SIMPLE(3, i); /* USML */
        }
        break;
    case 'C':
        if (c1 == 'U') {
            CLS_SIMPLE(4, i); /* CUI */
        }
        else if (c1 == 'O') {
            CLS_SIMPLE(5, i); /* CONTROLLED UNCLASSIFIED INFORMATION */
        }
        break;
    case 'P':
        if (c1 == 'R') {
            CLS_SIMPLE(6, i); /* PROPRIETARY */
        }
        break;
    case 'T':
        if (c1 == 'R') {
            CLS_SIMPLE(7, i); /* TRADE SECRET */
        }
        else if (c1 == 'r') {
            CLS_SIMPLE(8, i); /* Trade Secret */
        }
        break;
    case 'p':
        if (c1 == 'o') {
            CLS_SIMPLE(9, i - 3); /* assport, by its "p" */
        }
        break;
    case 'f':
        s = i - 2; /* onfidential, by its "f" */
        if (c1 == 'i' && s >= 0 && s >= nx->onf && cls_eq(kind, d, n, s, "onfidential", 11)) {
            nx->onf = s + 11;
            for (k = 0; k < 3; k++) {
                Py_ssize_t start = s - 1 - cls_phrases[k].offset;
                if (start >= 0 &&
                    cls_eq(kind, d, n, start, cls_phrases[k].text, cls_phrases[k].len)) {
                    CLS_PUSH(CLS_G_PHRASE, start, CLS_W_PHRASE + k);
                }
            }
        }
        break;
    case 'O':
        if (c1 == 'N' && i >= nx->conf && cls_eq(kind, d, n, i, "ONFIDENTIAL", 11)) {
            nx->conf = i + 11;
            if (i > 0 && cls_get(kind, d, i - 1) == 'C') {
                CLS_PUSH(CLS_G_CONF, i - 1, CLS_W_CONF);
            }
        }
        break;
    case '<':
        if (i > 0 && cls_get(kind, d, i - 1) == 'P') {
            CLS_PUSH(CLS_G_PLT, i - 1, CLS_W_PLT);
        }
        break;
    case ':':
        if (i >= 3 && cls_eq(kind, d, n, i - 3, "TLP", 3)) {
            CLS_PUSH(CLS_G_TLP, i - 3, CLS_W_TLP);
        }
        break;
    default:
        break;
    }
    return 0;
}

/* The anchors at c = text[i], one of 内 护 密 (a 2- or 4-byte str); -1 when out of memory. */
CLS_INLINE int
cls_cjk_at(int kind, const void *d, Py_ssize_t n, Py_ssize_t i, Py_UCS4 c, cls_buf *g)
{
    if (c == 0x5185) {
        if (cls_at(kind, d, n, i + 1) == 0x90E8) { /* 内部 */
            CLS_PUSH(CLS_G_NEIBU, i, CLS_W_NEIBU);
        }
    }
    else if (c == 0x62A4) {
        if (cls_at(kind, d, n, i + 1) == 0x7167) { /* 护照 */
            CLS_PUSH(CLS_G_HUZHAO, i, CLS_W_HUZHAO);
        }
    }
    else if (i > 0) { /* 密 after 秘 (商业秘), 机 or 绝 */
        Py_UCS4 p = cls_get(kind, d, i - 1);
        if (p == 0x79D8) {
            if (i >= 3 && cls_get(kind, d, i - 3) == 0x5546 && cls_get(kind, d, i - 2) == 0x4E1A) {
                CLS_PUSH(CLS_G_SEAL, i - 3, CLS_W_SEAL);
            }
            else {
                CLS_PUSH(CLS_G_SEAL, i - 1, CLS_W_SEAL + 1);
            }
        }
        else if (p == 0x673A) {
            CLS_PUSH(CLS_G_SEAL, i - 1, CLS_W_SEAL + 2);
        }
        else if (p == 0x7EDD) {
            CLS_PUSH(CLS_G_SEAL, i - 1, CLS_W_SEAL + 3);
        }
    }
    return 0;
}
#undef CLS_SIMPLE
#undef CLS_PUSH

/* The work at text[i] = c of the walk (any c); -1 when out of memory. */
CLS_INLINE int
cls_char_k(int kind, const void *d, Py_ssize_t n, Py_ssize_t i, Py_UCS4 c, cls_buf *g,
           cls_next *nx, Py_ssize_t *resume)
{
    unsigned f;
    Py_ssize_t e;

    if (c >= 128) {
        if (kind == PyUnicode_1BYTE_KIND) {
            return 0;
        }
        if (c == 0xFF1A) { /* full-width colon */
            return cls_push1(&g[CLS_B_ASSIGN], i);
        }
        if (c == 0x5185 || c == 0x62A4 || c == 0x5BC6) {
            return cls_cjk_at(kind, d, n, i, c, g);
        }
        return 0;
    }
    f = cls_tab[c];
    if (!f) {
        return 0;
    }
    if (f & 8) {
        int rc = 0;
        if (c == '=' || c == ':') {
            rc = cls_push1(&g[CLS_B_ASSIGN], i);
        }
        else if (c == '@') {
            rc = cls_push1(&g[CLS_B_AT], i);
        }
        else if (i >= 2 && cls_get(kind, d, i - 1) == 'y' && cls_get(kind, d, i - 2) == 'e') {
            rc = cls_push1(&g[CLS_B_JWT], i - 2); /* eyJ */
        }
        if (rc < 0) {
            return -1;
        }
    }
    /* [0-9+(](?<![0-9_.+\-/].) then the branches; digits inside a run fail the look-behind */
    if ((f & 1) && i >= *resume) {
        Py_UCS4 p = i > 0 ? cls_get(kind, d, i - 1) : CLS_NONE;
        if (!(p < 128 && (cls_tab[p] & 2))) {
            e = cls_num_at(kind, d, n, i);
            if (e >= 0) {
                if (cls_push2(&g[CLS_B_NUM], i, e) < 0) {
                    return -1;
                }
                *resume = e;
            }
        }
    }
    if ((f & 4) && cls_anchor_at(kind, d, n, i, c, nx, g) < 0) {
        return -1;
    }
    return 0;
}

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
