/*
 * The canonical-line scanner of dta._speedups (included by _speedups.c: one translation unit).
 *
 * Grammar (RFC 8785 output restricted to what dta.loads accepts with floats refused): no
 * whitespace; objects with member names strictly increasing in UTF-16 code-unit order (so no
 * duplicates) and without escapes; strings of valid UTF-8 (no surrogates, no overlongs) with
 * exactly JCS's escapes (\" \\ \b \f \n \r \t, other C0 controls as \u00xx in lowercase hex,
 * nothing else escaped); integers in plain decimal within +-(2**53 - 1), no -0; true / false /
 * null; at most max_depth levels (a scalar is one level). Every function returns 1 when its part
 * of the input is in the grammar and 0 for "not proved" (the caller then decides on its precise
 * path). Nothing here touches Python objects.
 */
#if defined(__SSE2__) && defined(__GNUC__)
#include <emmintrin.h>
#endif

typedef struct {
    const unsigned char *p;
    const unsigned char *end;
    int max_depth;
    Py_ssize_t top_members; /* members of the outermost object scanned so far */
} scan_t;

static int scan_value(scan_t *s, int level);

/* Length of the valid UTF-8 sequence at p (2..4), or 0. Surrogates and overlongs are invalid. */
static int
utf8_len(const unsigned char *p, const unsigned char *end)
{
    unsigned char c = p[0];
#define CONT(i) (p + (i) < end && (p[i] & 0xC0) == 0x80)
    if (c >= 0xC2 && c <= 0xDF) {
        return CONT(1) ? 2 : 0;
    }
    if (c == 0xE0) {
        return (p + 1 < end && p[1] >= 0xA0 && p[1] <= 0xBF && CONT(2)) ? 3 : 0;
    }
    if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) {
        return (CONT(1) && CONT(2)) ? 3 : 0;
    }
    if (c == 0xED) { /* U+D000..U+D7FF only: U+D800..U+DFFF are surrogates */
        return (p + 1 < end && p[1] >= 0x80 && p[1] <= 0x9F && CONT(2)) ? 3 : 0;
    }
    if (c == 0xF0) {
        return (p + 1 < end && p[1] >= 0x90 && p[1] <= 0xBF && CONT(2) && CONT(3)) ? 4 : 0;
    }
    if (c >= 0xF1 && c <= 0xF3) {
        return (CONT(1) && CONT(2) && CONT(3)) ? 4 : 0;
    }
    if (c == 0xF4) {
        return (p + 1 < end && p[1] >= 0x80 && p[1] <= 0x8F && CONT(2) && CONT(3)) ? 4 : 0;
    }
#undef CONT
    return 0;
}

static int
hex_lower(unsigned char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    return -1;
}

/* The first byte at or after p that is not plain string text (0x20..0x7F other than '"' and
   '\\'), looking 16 (SSE2) or 8 (SWAR) bytes at a time; stops early, at a plain byte, only where
   fewer than 8 bytes remain. In the SWAR tests a borrow can flag a byte above a matching one,
   never below it, so the lowest flagged byte is the first match. */
static inline const unsigned char *
skip_plain(const unsigned char *p, const unsigned char *end)
{
#if defined(__SSE2__) && defined(__GNUC__)
    const __m128i quote = _mm_set1_epi8('"'), slash = _mm_set1_epi8('\\');
    const __m128i space = _mm_set1_epi8(0x20);
    while (end - p >= 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)(const void *)p);
        /* A signed x < 0x20 holds for the C0 controls and for every byte >= 0x80. */
        __m128i hit = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, quote), _mm_cmpeq_epi8(x, slash)),
                                   _mm_cmplt_epi8(x, space));
        int mask = _mm_movemask_epi8(hit);
        if (mask != 0) {
            return p + __builtin_ctz((unsigned)mask);
        }
        p += 16;
    }
#endif
    while (end - p >= 8) {
        uint64_t x, quote, slash, hit;
        memcpy(&x, p, 8);
        quote = x ^ 0x2222222222222222ULL;
        slash = x ^ 0x5C5C5C5C5C5C5C5CULL;
        hit = (x & 0x8080808080808080ULL) |
              ((x - 0x2020202020202020ULL) & ~x & 0x8080808080808080ULL) |
              ((quote - 0x0101010101010101ULL) & ~quote & 0x8080808080808080ULL) |
              ((slash - 0x0101010101010101ULL) & ~slash & 0x8080808080808080ULL);
        if (hit != 0) {
#if defined(__GNUC__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
            return p + (__builtin_ctzll(hit) >> 3);
#else
            return p; /* the byte loop finds it */
#endif
        }
        p += 8;
    }
    return p;
}

/* Scans a string after its opening quote; on success s->p is past the closing quote.
   In *flags, STR_ESCAPED is set if the string holds any escape and STR_NONASCII if it holds a
   byte >= 0x80. Returns 1 if canonical, else 0. */
#define STR_ESCAPED 1
#define STR_NONASCII 2

static int
scan_string(scan_t *s, int *flags)
{
    const unsigned char *p = s->p, *end = s->end;
    while (p < end) {
        unsigned char c;
        p = skip_plain(p, end);
        if (p >= end) {
            break;
        }
        c = *p;
        if (c == '"') {
            s->p = p + 1;
            return 1;
        }
        if (c == '\\') {
            *flags |= STR_ESCAPED;
            if (p + 1 >= end) {
                return 0;
            }
            c = p[1];
            if (c == '"' || c == '\\' || c == 'b' || c == 'f' || c == 'n' || c == 'r' || c == 't') {
                p += 2;
                continue;
            }
            if (c == 'u' && p + 5 < end && p[2] == '0' && p[3] == '0') {
                int hi = hex_lower(p[4]), lo = hex_lower(p[5]);
                int code = hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
                /* Only C0 controls without a short form are written as \u00xx. */
                if (code >= 0 && code < 0x20 && code != 0x08 && code != 0x09 && code != 0x0A &&
                    code != 0x0C && code != 0x0D) {
                    p += 6;
                    continue;
                }
            }
            return 0;
        }
        if (c < 0x20) {
            return 0;
        }
        if (c < 0x80) {
            p++;
            continue;
        }
        {
            int n = utf8_len(p, end);
            if (n == 0) {
                return 0;
            }
            *flags |= STR_NONASCII;
            p += n;
        }
    }
    return 0;
}

/* -1, 0 or 1: order of two unescaped UTF-8 member names by UTF-16 code units. */
static int
utf16_order(const unsigned char *a, Py_ssize_t na, const unsigned char *b, Py_ssize_t nb)
{
    Py_ssize_t i, n = na < nb ? na : nb;
    for (i = 0; i < n; i++) {
        if (a[i] != b[i]) {
            /* Equal prefixes end on a character boundary or inside characters with the same lead
               byte; only a BMP character >= U+E000 against one >= U+10000 (a surrogate pair in
               UTF-16) orders differently from code points. */
            int a_astral = a[i] >= 0xF0, b_astral = b[i] >= 0xF0;
            int a_high = a[i] >= 0xEE && a[i] <= 0xEF, b_high = b[i] >= 0xEE && b[i] <= 0xEF;
            if ((a_high && b_astral) || (a_astral && b_high)) {
                return a_astral ? -1 : 1;
            }
            return a[i] < b[i] ? -1 : 1;
        }
    }
    return na == nb ? 0 : (na < nb ? -1 : 1);
}

/* On success *out holds the integer (canonical_line passes a scratch variable). */
static int
scan_number(scan_t *s, long long *out)
{
    const unsigned char *p = s->p, *end = s->end, *digits;
    int negative = 0, count;
    unsigned long long value = 0;
    if (*p == '-') {
        negative = 1;
        p++;
    }
    digits = p;
    while (p < end && *p >= '0' && *p <= '9') {
        if (p - digits >= 16) {
            return 0; /* more than 16 digits: beyond 2**53 - 1 */
        }
        value = value * 10 + (unsigned long long)(*p - '0');
        p++;
    }
    count = (int)(p - digits);
    if (count == 0 || (digits[0] == '0' && count > 1) || value > 9007199254740991ULL ||
        (negative && value == 0)) {
        return 0;
    }
    if (p < end && (*p == '.' || *p == 'e' || *p == 'E')) {
        return 0; /* a float: decided by the precise path */
    }
    s->p = p;
    *out = negative ? -(long long)value : (long long)value;
    return 1;
}

static int
scan_literal(scan_t *s, const char *word, Py_ssize_t n)
{
    if (s->end - s->p < n || memcmp(s->p, word, (size_t)n) != 0) {
        return 0;
    }
    s->p += n;
    return 1;
}

static int
scan_object(scan_t *s, int level)
{
    const unsigned char *prev = NULL;
    Py_ssize_t prev_len = 0;
    s->p++; /* '{' */
    if (s->p < s->end && *s->p == '}') {
        s->p++;
        return 1;
    }
    for (;;) {
        const unsigned char *name;
        int flags = 0;
        if (s->p >= s->end || *s->p != '"') {
            return 0;
        }
        s->p++;
        name = s->p;
        if (!scan_string(s, &flags) || (flags & STR_ESCAPED)) {
            return 0; /* names with escapes are ordered by the precise path */
        }
        if (prev != NULL && utf16_order(prev, prev_len, name, s->p - 1 - name) >= 0) {
            return 0; /* out of order or duplicate */
        }
        prev = name;
        prev_len = s->p - 1 - name;
        if (s->p >= s->end || *s->p != ':') {
            return 0;
        }
        s->p++;
        if (!scan_value(s, level + 1)) {
            return 0;
        }
        if (level == 1) {
            s->top_members++;
        }
        if (s->p >= s->end) {
            return 0;
        }
        if (*s->p == '}') {
            s->p++;
            return 1;
        }
        if (*s->p != ',') {
            return 0;
        }
        s->p++;
    }
}

static int
scan_array(scan_t *s, int level)
{
    s->p++; /* '[' */
    if (s->p < s->end && *s->p == ']') {
        s->p++;
        return 1;
    }
    for (;;) {
        if (!scan_value(s, level + 1) || s->p >= s->end) {
            return 0;
        }
        if (*s->p == ']') {
            s->p++;
            return 1;
        }
        if (*s->p != ',') {
            return 0;
        }
        s->p++;
    }
}

static int
scan_value(scan_t *s, int level)
{
    int flags = 0;
    long long number;
    if (level > s->max_depth || s->p >= s->end) {
        return 0;
    }
    switch (*s->p) {
    case '{':
        return scan_object(s, level);
    case '[':
        return scan_array(s, level);
    case '"':
        s->p++;
        return scan_string(s, &flags);
    case 't':
        return scan_literal(s, "true", 4);
    case 'f':
        return scan_literal(s, "false", 5);
    case 'n':
        return scan_literal(s, "null", 4);
    default:
        if (*s->p == '-' || (*s->p >= '0' && *s->p <= '9')) {
            return scan_number(s, &number);
        }
        return 0;
    }
}
