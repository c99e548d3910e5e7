/*
 * aap_siterules.c: which frame of a blocking episode's stack names its
 * site.  Frames of the event loop's own machinery (asyncio, the probe)
 * and the stdlib helpers asyncio calls are skipped so the site is the
 * code the loop ran, not a line inside asyncio.
 */
#include "aap.h"

#include <string.h>

int aap_site_rules_add(aap_site_rules *r, const char *prefix, int helper)
{
    size_t len = prefix ? strlen(prefix) : 0;

    if (len == 0 || len >= AAP_FILE_MAX) {
        return AAP_EINVAL;
    }
    if (r->n >= AAP_SITE_RULES_MAX) {
        return AAP_ETOOBIG;
    }
    memcpy(r->prefix[r->n], prefix, len + 1);
    r->helper[r->n] = helper ? 1 : 0;
    r->n++;
    return 0;
}

/* 0: user code, 1: machinery, 2: helper. */
static int site_kind(const char *file, const aap_site_rules *r)
{
    size_t i;

    for (i = 0; r && i < r->n; i++) {
        if (strncmp(file, r->prefix[i], strlen(r->prefix[i])) == 0) {
            return r->helper[i] ? 2 : 1;
        }
    }
    return 0;
}

int aap_stack_site_frame(const aap_stack *st, const aap_site_rules *r)
{
    int i = 0, site;

    if (st->n <= 0) {
        return -1;
    }
    while (i < st->n && site_kind(st->frames[i].file, r) == 2) {
        i++;
    }
    if (i == st->n || site_kind(st->frames[i].file, r) != 1) {
        return 0; /* the innermost code is the user's (or only helpers) */
    }
    while (i < st->n && site_kind(st->frames[i].file, r) != 0) {
        i++;
    }
    site = i;
    for (i = site + 1; i < st->n; i++) {
        if (site_kind(st->frames[i].file, r) == 1) {
            return site;
        }
    }
    return 0; /* only the program's entry point around asyncio.run() */
}
