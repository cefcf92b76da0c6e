/* timefmt: RFC 3339 parsing/formatting and UTC civil-day arithmetic (no locale, no time zone db).
 */
#ifndef RP_TIMEFMT_H
#define RP_TIMEFMT_H

#include <stddef.h>
#include <stdint.h>

/**
 * Parses an RFC 3339 date-time into ms since the Unix epoch (UTC):
 * `YYYY-MM-DD('T'|'t'|' ')HH:MM:SS[.fraction]('Z'|'z'|('+'|'-')HH:MM)`. The fraction may have any
 * number of digits; it is truncated to ms. A leap second (:60) rolls into the next minute.
 * Returns 0 (RP_OK), RP_ERR_BAD_FIELD_TYPE when the text is not of that form, or
 * RP_ERR_OUT_OF_RANGE when a component or the result is out of range (month 13, Feb 30, a time
 * before 1970-01-01T00:00:00Z or after year 9999). `s` need not be NUL-terminated.
 */
int rp_time_parse_rfc3339(const char *s, size_t len, int64_t *ms);

/**
 * Same for command-line use: also accepts a bare integer of ms since the epoch (optionally
 * negative, which is then out of range) and a date alone (`YYYY-MM-DD`, midnight UTC).
 */
int rp_time_parse(const char *s, size_t len, int64_t *ms);

/**
 * Formats `ms` (UTC) as "1997-09-30T00:00:00.000Z" (24 characters) plus a NUL. Returns the length
 * (24), or 0 when `cap` < 25 or the year falls outside 0..9999.
 */
size_t rp_time_format_rfc3339(int64_t ms, char *out, size_t cap);

/** Days since 1970-01-01 of the proleptic Gregorian date y-m-d (m 1..12, d 1..31). Exact for
 * years 0..9999 (and well beyond). */
int64_t rp_days_from_civil(int64_t y, unsigned m, unsigned d);
/** Inverse of rp_days_from_civil: the date of day `z` since 1970-01-01. */
void rp_civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d);

#endif
