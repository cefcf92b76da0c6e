/* test_timefmt: RFC 3339 parsing/formatting and civil-day arithmetic (schemas/timefmt). */
#include <criterion/criterion.h>
#include <string.h>

#include "event.h"
#include "rp_err.h"
#include "timefmt.h"

static int parse(const char *s, int64_t *ms)
{
    return rp_time_parse_rfc3339(s, strlen(s), ms);
}

Test(timefmt, civil_known_days)
{
    cr_assert_eq(rp_days_from_civil(1970, 1, 1), 0);
    cr_assert_eq(rp_days_from_civil(1969, 12, 31), -1);
    cr_assert_eq(rp_days_from_civil(2000, 3, 1), 11017);
    cr_assert_eq(rp_days_from_civil(2023, 11, 14), 19675);
    cr_assert_eq(rp_days_from_civil(0, 1, 1), -719528);
    cr_assert_eq(rp_days_from_civil(9999, 12, 31), 2932896);
}

Test(timefmt, civil_round_trip_every_day_0_to_9999)
{
    int64_t first = rp_days_from_civil(0, 1, 1), last = rp_days_from_civil(9999, 12, 31);
    int64_t py = 0;
    unsigned pm = 1, pd = 0;
    for (int64_t z = first; z <= last; z++) {
        int64_t y;
        unsigned m, d;
        rp_civil_from_days(z, &y, &m, &d);
        cr_assert_eq(rp_days_from_civil(y, m, d), z, "day %lld", (long long)z);
        /* consecutive days advance the calendar by exactly one day */
        bool next = (y == py && m == pm && d == pd + 1) || (y == py && m == pm + 1 && d == 1) ||
                    (y == py + 1 && m == 1 && d == 1 && pm == 12 && pd == 31);
        cr_assert(z == first || next, "day %lld: %lld-%u-%u after %lld-%u-%u", (long long)z,
                  (long long)y, m, d, (long long)py, pm, pd);
        py = y, pm = m, pd = d;
    }
    cr_assert_eq(py, 9999);
}

Test(timefmt, format)
{
    char b[32];
    cr_assert_eq(rp_time_format_rfc3339(0, b, sizeof b), 24);
    cr_assert_str_eq(b, "1970-01-01T00:00:00.000Z");
    rp_time_format_rfc3339(875577600000, b, sizeof b);
    cr_assert_str_eq(b, "1997-09-30T00:00:00.000Z");
    rp_time_format_rfc3339(1700000000123, b, sizeof b);
    cr_assert_str_eq(b, "2023-11-14T22:13:20.123Z");
    rp_time_format_rfc3339(RP_TS_MAX, b, sizeof b);
    cr_assert_str_eq(b, "9999-12-31T23:59:59.999Z");
    rp_time_format_rfc3339(-1, b, sizeof b);
    cr_assert_str_eq(b, "1969-12-31T23:59:59.999Z");
    cr_assert_eq(rp_time_format_rfc3339(0, b, 24), 0); /* no room for the NUL */
    cr_assert_eq(rp_time_format_rfc3339(RP_TS_MAX + 1, b, sizeof b), 0);
}

Test(timefmt, parse_variants)
{
    int64_t ms = -1;
    cr_assert_eq(parse("2023-11-14T22:13:20Z", &ms), RP_OK);
    cr_assert_eq(ms, 1700000000000);
    cr_assert_eq(parse("2023-11-14t22:13:20z", &ms), RP_OK);
    cr_assert_eq(ms, 1700000000000);
    cr_assert_eq(parse("2023-11-14 22:13:20Z", &ms), RP_OK);
    cr_assert_eq(ms, 1700000000000);
    cr_assert_eq(parse("2023-11-14T22:13:20.5Z", &ms), RP_OK);
    cr_assert_eq(ms, 1700000000500);
    cr_assert_eq(parse("2023-11-14T22:13:20.123Z", &ms), RP_OK);
    cr_assert_eq(ms, 1700000000123);
    cr_assert_eq(parse("2023-11-14T22:13:20.123999999Z", &ms), RP_OK); /* truncated to ms */
    cr_assert_eq(ms, 1700000000123);
    cr_assert_eq(parse("2023-11-14T23:13:20+01:00", &ms), RP_OK);
    cr_assert_eq(ms, 1700000000000);
    cr_assert_eq(parse("2023-11-14T16:43:20.001-05:30", &ms), RP_OK);
    cr_assert_eq(ms, 1700000000001);
    cr_assert_eq(parse("2024-02-29T00:00:00Z", &ms), RP_OK); /* leap year */
    cr_assert_eq(parse("1970-01-01T00:00:00Z", &ms), RP_OK);
    cr_assert_eq(ms, 0);
    cr_assert_eq(parse("9999-12-31T23:59:59.999Z", &ms), RP_OK);
    cr_assert_eq(ms, RP_TS_MAX);
    cr_assert_eq(parse("2016-12-31T23:59:60Z", &ms), RP_OK); /* leap second rolls over */
    cr_assert_eq(ms, rp_days_from_civil(2017, 1, 1) * 86400000);
}

Test(timefmt, parse_rejects)
{
    int64_t ms;
    const char *syntax[] = {"",
                            "yesterday",
                            "2023-11-14",
                            "2023-11-14T22:13:20",
                            "2023-11-14T22:13Z",
                            "2023-11-14T22:13:20.Z",
                            "2023-11-14T22:13:20+0100",
                            "2023-11-14T22:13:20Zjunk",
                            "2023/11/14T22:13:20Z",
                            "02023-11-14T22:13:20Z",
                            "1700000000000"};
    for (size_t i = 0; i < sizeof syntax / sizeof *syntax; i++)
        cr_assert_eq(parse(syntax[i], &ms), RP_ERR_BAD_FIELD_TYPE, "%s", syntax[i]);
    const char *range[] = {"2023-13-01T00:00:00Z",      "2023-00-01T00:00:00Z",
                           "2023-02-29T00:00:00Z",      "2023-04-31T00:00:00Z",
                           "2023-11-14T24:00:00Z",      "2023-11-14T22:60:00Z",
                           "2023-11-14T22:13:61Z",      "1969-12-31T23:59:59Z",
                           "2023-11-14T22:13:20+24:00", "1970-01-01T00:30:00+01:00"};
    for (size_t i = 0; i < sizeof range / sizeof *range; i++)
        cr_assert_eq(parse(range[i], &ms), RP_ERR_OUT_OF_RANGE, "%s", range[i]);
}

Test(timefmt, cli_parse)
{
    int64_t ms = -1;
    cr_assert_eq(rp_time_parse("1700000000000", 13, &ms), RP_OK);
    cr_assert_eq(ms, 1700000000000);
    cr_assert_eq(rp_time_parse("0", 1, &ms), RP_OK);
    cr_assert_eq(ms, 0);
    cr_assert_eq(rp_time_parse("2023-11-14", 10, &ms), RP_OK);
    cr_assert_eq(ms, 19675 * INT64_C(86400000));
    cr_assert_eq(rp_time_parse("2023-11-14T22:13:20Z", 20, &ms), RP_OK);
    cr_assert_eq(ms, 1700000000000);
    cr_assert_eq(rp_time_parse("-5", 2, &ms), RP_ERR_OUT_OF_RANGE);
    cr_assert_eq(rp_time_parse("99999999999999999999", 20, &ms), RP_ERR_OUT_OF_RANGE);
    cr_assert_eq(rp_time_parse("253402300800000", 15, &ms), RP_ERR_OUT_OF_RANGE);
    cr_assert_eq(rp_time_parse("12x", 3, &ms), RP_ERR_BAD_FIELD_TYPE);
    cr_assert_eq(rp_time_parse("-", 1, &ms), RP_ERR_BAD_FIELD_TYPE);
    cr_assert_eq(rp_time_parse("", 0, &ms), RP_ERR_BAD_FIELD_TYPE);
}

Test(timefmt, format_parse_round_trip)
{
    char b[32];
    for (int64_t ms = 0; ms < RP_TS_MAX; ms += INT64_C(987654321987)) {
        int64_t back;
        size_t n = rp_time_format_rfc3339(ms, b, sizeof b);
        cr_assert_eq(n, 24);
        cr_assert_eq(rp_time_parse_rfc3339(b, n, &back), RP_OK, "%s", b);
        cr_assert_eq(back, ms, "%s", b);
    }
}
