/* tsan_metrics: the metrics concurrency scenario as a plain program, to run under ThreadSanitizer
 * (Criterion's runner cannot start under TSan). Exit status 0 = exact totals, monotonic reads. */
#include <stdio.h>

#include "metrics_stress.h"

int main(void)
{
    long bad = run_concurrent();
    if (bad != 0) {
        fprintf(stderr, "tsan_metrics: FAILED (%ld)\n", bad);
        return 1;
    }
    printf("tsan_metrics: ok\n");
    return 0;
}
