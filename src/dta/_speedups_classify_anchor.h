/*
 * dta._speedups: classification, part 2 (issue 4, ADR 0103): the keyword anchors and the
 * per-character work of the walk (cls_char_k). Included by _speedups_classify.h after part 1.
 */

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
