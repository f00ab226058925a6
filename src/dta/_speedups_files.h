/*
 * dta._speedups: the per-file hashing loop of transfer verify (issue 5).
 * Included by _speedups.c; DTA_FILES_METHODS expands to this header's method-table entries
 * (each ending in a comma), or to nothing.
 */
#define DTA_FILES_METHODS
