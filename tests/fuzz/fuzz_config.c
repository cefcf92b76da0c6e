/* fuzz_config: libFuzzer target for the INI parser (rp_config_load_string): no crash, no leak. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "rp_err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct rp_config cfg;
    char err[256];
    if (rp_config_init(&cfg) != RP_OK)
        return 0;
    int rc = rp_config_load_string(&cfg, "fuzz.ini", (const char *)data, size, err, sizeof(err));
    /* Either way the config must stay usable: a success validates, a failure leaves the
     * defaults, and both must be formattable and freeable. */
    if (rc == RP_OK && rp_scoring_config_validate(&cfg.scoring, err, sizeof(err)) != RP_OK)
        abort();
    if (rc != RP_OK && strlen(err) == 0)
        abort(); /* every failure explains itself */
    const char *const *keys;
    size_t n = rp_config_keys(&keys);
    char buf[128];
    for (size_t i = 0; i < n; i++) {
        const char *dot = strchr(keys[i], '.');
        char section[16];
        size_t sl = (size_t)(dot - keys[i]);
        memcpy(section, keys[i], sl);
        section[sl] = '\0';
        (void)rp_config_format_value(&cfg, section, dot + 1, buf, sizeof(buf));
    }
    if (!rp_config_kafka_get(&cfg, "group.id"))
        abort(); /* the default is always there */
    rp_config_fini(&cfg);
    return 0;
}
