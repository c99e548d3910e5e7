/*
 * sites.c: the culprits of a rule result (result.h).  Both modes hand
 * their culprits to the functions here, so what is kept (only culprits
 * with time charged to them), their order (worst first, ties by name so
 * that two runs print the same report) and the cut per group are decided
 * once.
 */
#include "aa/result.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void aa_site_clear(aa_site *s)
{
    if (s == NULL) {
        return;
    }
    free(s->site);
    free(s->chain);
    free(s->cls);
    free(s->hint);
    free(s->thread);
    free(s->executor);
    free(s->function);
    aa_labels_clear(&s->group);
    memset(s, 0, sizeof(*s));
}

/* strcmp with NULL before every string. */
static int cmp_opt(const char *a, const char *b)
{
    if (a == NULL || b == NULL) {
        return (a != NULL) - (b != NULL);
    }
    return strcmp(a, b);
}

static int site_cmp(const void *pa, const void *pb)
{
    const aa_site *a = pa, *b = pb;
    int c;

    if (a->seconds != b->seconds) {
        return a->seconds > b->seconds ? -1 : 1;
    }
    if ((c = cmp_opt(a->site, b->site)) != 0 ||
        (c = cmp_opt(a->thread, b->thread)) != 0 ||
        (c = cmp_opt(a->executor, b->executor)) != 0) {
        return c;
    }
    return cmp_opt(a->function, b->function);
}

/* Keeps the culprits of v[0..n) worth showing, worst first, at most top;
 * releases the rest.  Returns how many are kept at the front of v. */
static size_t keep_worst(aa_site *v, size_t n, size_t top)
{
    size_t i, kept = 0;

    for (i = 0; i < n; i++) {
        if (v[i].site != NULL && v[i].seconds > 0 && !isinf(v[i].seconds)) {
            v[kept++] = v[i];
        } else {
            aa_site_clear(&v[i]);
        }
    }
    if (kept > 0) {
        qsort(v, kept, sizeof(*v), site_cmp);
    }
    for (i = top; i < kept; i++) {
        aa_site_clear(&v[i]);
    }
    return kept > top ? top : kept;
}

int aa_rule_result_add_sites(aa_rule_result *rr, aa_site *v, size_t n,
                             size_t top)
{
    size_t kept = n > 0 ? keep_worst(v, n, top) : 0, i;
    aa_site *all;

    if (kept == 0) {
        free(v);
        return AA_OK;
    }
    if (rr->nsites == 0) {
        free(rr->sites);
        rr->sites = v;
        rr->nsites = kept;
        return AA_OK;
    }
    all = realloc(rr->sites, (rr->nsites + kept) * sizeof(*all));
    if (all == NULL) {
        for (i = 0; i < kept; i++) {
            aa_site_clear(&v[i]);
        }
        free(v);
        return AA_ENOMEM;
    }
    memcpy(all + rr->nsites, v, kept * sizeof(*v));
    free(v);
    rr->sites = all;
    rr->nsites += kept;
    return AA_OK;
}

void aa_rule_result_set_sites(aa_rule_result *rr, aa_site *v, size_t n,
                              size_t top)
{
    for (size_t i = 0; i < rr->nsites; i++) {
        aa_site_clear(&rr->sites[i]);
    }
    free(rr->sites);
    rr->sites = NULL;
    rr->nsites = 0;
    /* with no culprits before, adding takes v over and cannot fail */
    (void)aa_rule_result_add_sites(rr, v, n, top);
}
