/* bgnbd: P(alive) of the BG/NBD model (Fader, Hardie & Lee 2005) for one customer. */
#ifndef RP_BGNBD_H
#define RP_BGNBD_H

/**
 * Probability that a customer with x repeat purchases, the last at t_x, observed for T (t_x and T
 * in the model's time unit, measured from the first purchase) is still alive, under the BG/NBD
 * population parameters r, alpha, a, b:
 *   P = 1                                                       if x = 0
 *     = 1 / (1 + a/(b+x-1) * ((alpha+T)/(alpha+t_x))^(r+x))     otherwise.
 * Computed in log space so that large x or T cannot overflow; always in [0, 1].
 */
double rp_bgnbd_p_alive(double r, double alpha, double a, double b, double x, double t_x, double T);

#endif
