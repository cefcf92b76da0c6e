/* bgnbd: P(alive) of the BG/NBD model (Fader, Hardie & Lee 2005) for one customer. */
#include "bgnbd.h"

#include <math.h>

double rp_bgnbd_p_alive(double r, double alpha, double a, double b, double x, double t_x, double T)
{
    if (x <= 0)
        return 1.0;
    if (T < t_x)
        T = t_x; /* observed at least until the last purchase */
    /* odds of having dropped out = a/(b+x-1) * ((alpha+T)/(alpha+t_x))^(r+x) */
    double log_odds = log(a / (b + x - 1.0)) + (r + x) * log((alpha + T) / (alpha + t_x));
    if (log_odds > 700)
        return 0.0;
    return 1.0 / (1.0 + exp(log_odds));
}
