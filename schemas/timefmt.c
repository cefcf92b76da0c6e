/* timefmt: RFC 3339 parsing/formatting and UTC civil-day arithmetic (no locale, no time zone db).
 */
#include "timefmt.h"

#include <stdbool.h>

#include "event.h"
#include "rp_err.h"

/*
 * Howard Hinnant's days_from_civil / civil_from_days: eras of 400 years (146097 days) make the
 * Gregorian rules a few integer divisions; the year starts in March so that the leap day is last.
 */
int64_t rp_days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);                       /* [0, 399] */
    const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1; /* [0, 365] */
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;           /* [0, 146096] */
    return era * 146097 + (int64_t)doe - 719468;
}

void rp_civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const unsigned doe = (unsigned)(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static bool is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static unsigned days_in_month(int64_t y, unsigned m)
{
    static const unsigned char dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : dim[m - 1];
}

/* Reads exactly `n` decimal digits at s[*i]; false when one is not a digit or the text ends. */
static bool digits(const char *s, size_t len, size_t *i, unsigned n, unsigned *out)
{
    unsigned v = 0;
    if (len - *i < n)
        return false;
    for (unsigned k = 0; k < n; k++) {
        unsigned c = (unsigned char)s[*i + k] - '0';
        if (c > 9)
            return false;
        v = v * 10 + c;
    }
    *i += n;
    *out = v;
    return true;
}

static bool lit(const char *s, size_t len, size_t *i, char c)
{
    if (*i < len && s[*i] == c) {
        (*i)++;
        return true;
    }
    return false;
}

/* Parses the date part; `date_only` accepts the text ending right after it. */
static int parse_date_time(const char *s, size_t len, int64_t *ms, bool date_only)
{
    size_t i = 0;
    unsigned y, mo, d, h = 0, mi = 0, se = 0, frac = 0;
    int64_t offset_min = 0;
    if (!digits(s, len, &i, 4, &y) || !lit(s, len, &i, '-') || !digits(s, len, &i, 2, &mo) ||
        !lit(s, len, &i, '-') || !digits(s, len, &i, 2, &d))
        return RP_ERR_BAD_FIELD_TYPE;
    bool has_time = true;
    if (i == len && date_only) {
        has_time = false;
    } else {
        if (!(lit(s, len, &i, 'T') || lit(s, len, &i, 't') || lit(s, len, &i, ' ')))
            return RP_ERR_BAD_FIELD_TYPE;
        if (!digits(s, len, &i, 2, &h) || !lit(s, len, &i, ':') || !digits(s, len, &i, 2, &mi) ||
            !lit(s, len, &i, ':') || !digits(s, len, &i, 2, &se))
            return RP_ERR_BAD_FIELD_TYPE;
        if (lit(s, len, &i, '.')) {
            unsigned nd = 0;
            while (i < len && (unsigned)((unsigned char)s[i] - '0') <= 9) {
                if (nd < 3)
                    frac = frac * 10 + (unsigned)(s[i] - '0');
                nd++;
                i++;
            }
            if (nd == 0)
                return RP_ERR_BAD_FIELD_TYPE;
            for (; nd < 3; nd++)
                frac *= 10;
        }
        if (lit(s, len, &i, 'Z') || lit(s, len, &i, 'z')) {
            offset_min = 0;
        } else if (i < len && (s[i] == '+' || s[i] == '-')) {
            int sign = s[i] == '-' ? -1 : 1;
            unsigned oh, om;
            i++;
            if (!digits(s, len, &i, 2, &oh) || !lit(s, len, &i, ':') || !digits(s, len, &i, 2, &om))
                return RP_ERR_BAD_FIELD_TYPE;
            if (oh > 23 || om > 59)
                return RP_ERR_OUT_OF_RANGE;
            offset_min = sign * (int64_t)(oh * 60 + om);
        } else {
            return RP_ERR_BAD_FIELD_TYPE;
        }
    }
    if (i != len)
        return RP_ERR_BAD_FIELD_TYPE;
    (void)has_time;
    if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || se > 60)
        return RP_ERR_OUT_OF_RANGE;
    int64_t days = rp_days_from_civil(y, mo, d);
    int64_t t = ((days * 24 + h) * 60 + mi) * 60 + se;
    t -= offset_min * 60; /* local = UTC + offset */
    t = t * 1000 + frac;
    if (t < 0 || t > RP_TS_MAX)
        return RP_ERR_OUT_OF_RANGE;
    *ms = t;
    return RP_OK;
}

int rp_time_parse_rfc3339(const char *s, size_t len, int64_t *ms)
{
    return parse_date_time(s, len, ms, false);
}

int rp_time_parse(const char *s, size_t len, int64_t *ms)
{
    size_t i = 0;
    bool neg = false;
    if (len > 0 && s[0] == '-') {
        neg = true;
        i = 1;
    }
    if (i < len) {
        size_t j = i;
        uint64_t v = 0;
        while (j < len && (unsigned)((unsigned char)s[j] - '0') <= 9) {
            if (v > (UINT64_MAX - 9) / 10)
                return RP_ERR_OUT_OF_RANGE;
            v = v * 10 + (unsigned)(s[j] - '0');
            j++;
        }
        if (j == len) { /* a bare integer of ms */
            if (neg)
                return RP_ERR_OUT_OF_RANGE;
            if (v > (uint64_t)RP_TS_MAX)
                return RP_ERR_OUT_OF_RANGE;
            *ms = (int64_t)v;
            return RP_OK;
        }
    }
    if (neg)
        return RP_ERR_BAD_FIELD_TYPE;
    return parse_date_time(s, len, ms, true);
}

size_t rp_time_format_rfc3339(int64_t ms, char *out, size_t cap)
{
    if (cap < 25)
        return 0;
    int64_t days = ms >= 0 ? ms / 86400000 : -((-ms + 86399999) / 86400000);
    int64_t rem = ms - days * 86400000; /* [0, 86399999] */
    int64_t y;
    unsigned m, d;
    rp_civil_from_days(days, &y, &m, &d);
    if (y < 0 || y > 9999)
        return 0;
    unsigned msec = (unsigned)(rem % 1000), sec = (unsigned)(rem / 1000);
    unsigned v[7] = {(unsigned)y, m, d, sec / 3600, sec / 60 % 60, sec % 60, msec};
    /* Written by hand rather than snprintf: fixed widths, and it is on the signal/JSON path. */
    char *p = out;
    static const unsigned width[7] = {4, 2, 2, 2, 2, 2, 3};
    static const char sep[7] = {'-', '-', 'T', ':', ':', '.', 'Z'};
    for (int k = 0; k < 7; k++) {
        unsigned x = v[k];
        for (unsigned w = width[k]; w > 0; w--) {
            p[w - 1] = (char)('0' + x % 10);
            x /= 10;
        }
        p += width[k];
        *p++ = sep[k];
    }
    *p = '\0';
    return (size_t)(p - out);
}
