/*
 * dta._speedups: classification scanning (issue 4).
 * Included by _speedups.c; DTA_CLASSIFY_METHODS expands to this header's method-table entries
 * (each ending in a comma), or to nothing.
 */
#define DTA_CLASSIFY_METHODS
