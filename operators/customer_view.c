/* customer_view: one customer's state and scores as a JSON object (`rapport score --state-out`). */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>

#include "pipeline.h"

struct out {
    char *p;
    size_t cap, len;
    int overflow;
};

static void put(struct out *o, const char *fmt, ...)
{
    if (o->overflow)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(o->p + o->len, o->cap - o->len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= o->cap - o->len)
        o->overflow = 1;
    else
        o->len += (size_t)n;
}

/* A JSON string: quotes, backslashes and control bytes escaped (cids are valid UTF-8). */
static void put_str(struct out *o, const char *s, size_t len)
{
    put(o, "\"");
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '"' || ch == '\\')
            put(o, "\\%c", ch);
        else if (ch < 0x20)
            put(o, "\\u%04x", ch);
        else
            put(o, "%c", ch);
    }
    put(o, "\"");
}

/* Numbers: finite by construction; 10 significant digits (plenty for scores and weeks). */
static void put_num(struct out *o, const char *key, double v)
{
    if (!isfinite(v))
        v = 0;
    put(o, ",\"%s\":%.10g", key, v);
}

size_t rp_customer_view_json(const struct rp_customer_view *v, char *out, size_t cap)
{
    if (cap == 0)
        return 0;
    struct out o = {out, cap, 0, 0};
    put(&o, "{\"cid\":");
    put_str(&o, v->cid.bytes, v->cid.len);
    put_num(&o, "churn_risk", v->churn_risk);
    put_num(&o, "advocate", v->advocate);
    put(&o, ",\"segment\":\"%s\"", rp_segment_name(v->segment));
    put_num(&o, "p_alive", v->p_alive);
    put(&o, ",\"x\":%u", v->x);
    put_num(&o, "t_x_weeks", v->t_x_weeks);
    put_num(&o, "T_weeks", v->T_weeks);
    put_num(&o, "engagement_short", v->engagement_short);
    put_num(&o, "engagement_long", v->engagement_long);
    /* reasons: those of churn_risk, then those of advocate, each largest first */
    put(&o, ",\"reasons\":[");
    int first = 1;
    for (int k = 0; k < 2; k++) {
        const struct rp_reason *r = k == 0 ? v->churn_reasons : v->advocate_reasons;
        int n = k == 0 ? v->n_churn_reasons : v->n_advocate_reasons;
        for (int i = 0; i < n; i++) {
            put(&o, "%s{\"code\":\"%s\",\"weight\":%.6g}", first ? "" : ",",
                rp_reason_name(r[i].code), r[i].weight);
            first = 0;
        }
    }
    put(&o, "]}");
    if (o.overflow) {
        out[0] = '\0';
        return 0;
    }
    return o.len;
}
