/*
 * tsdb_select.c: selecting series of the store by metric name and
 * PromQL label matchers (aa_tsdb_select), the regular expressions run by
 * the linear-time engine of aa/regex.h.
 */
#include <stdlib.h>
#include <string.h>

#include "aa/regex.h"
#include "tsdb_int.h"

typedef struct cmatcher {
    const aa_matcher *m;
    aa_re *re; /* =~ and !~ only */
} cmatcher;

static int compile_matchers(const aa_matchers *ms, cmatcher *out, size_t *n,
                            aa_diag *diag)
{
    size_t i;

    for (i = 0; ms != NULL && i < ms->n; i++) {
        cmatcher *c = &out[*n];

        c->m = &ms->v[i];
        c->re = NULL;
        (*n)++;
        if (c->m->op == AA_MATCH_RE || c->m->op == AA_MATCH_NRE) {
            aa_diag why;
            int rc;

            aa_diag_clear(&why);
            rc = aa_re_compile(c->m->value, &c->re, &why);
            if (rc == AA_ENOMEM) {
                return rc;
            }
            if (rc != AA_OK) {
                aa_diag_set(diag, NULL, 0, 0, "label matcher %s%s\"%s\": %s%s",
                            c->m->name, c->m->op == AA_MATCH_RE ? "=~" : "!~",
                            c->m->value,
                            rc == AA_EUNSUPPORTED
                                ? ""
                                : "invalid regular expression: ",
                            why.message);
                return rc == AA_EUNSUPPORTED ? rc : AA_ESYNTAX;
            }
        }
    }
    return AA_OK;
}

static bool matches(const cmatcher *c, const aa_labels *ls)
{
    const char *v = aa_labels_get(ls, c->m->name);

    if (v == NULL) {
        v = "";
    }
    switch (c->m->op) {
    case AA_MATCH_EQ:
        return strcmp(v, c->m->value) == 0;
    case AA_MATCH_NE:
        return strcmp(v, c->m->value) != 0;
    case AA_MATCH_RE:
        return aa_re_match(c->re, v, strlen(v));
    case AA_MATCH_NRE:
        return !aa_re_match(c->re, v, strlen(v));
    }
    return false;
}

int aa_tsdb_select(const aa_tsdb *db, const char *metric, const aa_matchers *a,
                   const aa_matchers *b, size_t **ids, size_t *n,
                   aa_diag *diag)
{
    size_t nm = (a != NULL ? a->n : 0) + (b != NULL ? b->n : 0);
    cmatcher *cm = NULL;
    size_t ncm = 0, i, j, cnt = 0;
    size_t *res = NULL;
    const char *name = NULL;
    int rc;

    *ids = NULL;
    *n = 0;
    if (db == NULL) {
        return AA_EINVAL;
    }
    if (nm > 0) {
        cm = calloc(nm, sizeof(cmatcher));
        if (cm == NULL) {
            return AA_ENOMEM;
        }
    }
    rc = compile_matchers(a, cm, &ncm, diag);
    if (rc == AA_OK) {
        rc = compile_matchers(b, cm, &ncm, diag);
    }
    if (rc != AA_OK) {
        goto out;
    }
    /* names are interned: a name never seen selects nothing */
    if (metric != NULL && (name = tsdb_str_find(&db->str, metric)) == NULL) {
        goto out;
    }
    for (i = 0; i < db->n; i++) {
        const tsdb_series *s = tsdb_get(db, i);

        if (name != NULL && s->name != name) {
            continue;
        }
        for (j = 0; j < ncm; j++) {
            if (!matches(&cm[j], &s->labels)) {
                break;
            }
        }
        if (j < ncm) {
            continue;
        }
        if (res == NULL) {
            res = malloc(db->n * sizeof(size_t));
            if (res == NULL) {
                rc = AA_ENOMEM;
                goto out;
            }
        }
        res[cnt++] = i;
    }
    *ids = res;
    *n = cnt;
    res = NULL;
out:
    for (j = 0; j < ncm; j++) {
        aa_re_free(cm[j].re);
    }
    free(cm);
    free(res);
    return rc;
}
