/*
 * tsdb.h: the in-memory series store of scrape and samples mode.  Every
 * scraped or replayed sample lands here; the local evaluator (eval.h) and
 * the HTML report read it.
 *
 * A series is identified by its full label set (__name__ included) and
 * gets a dense id (0, 1, 2, ...) that stays valid for the store's life.
 * Points are appended in time order per series and kept compressed as
 * Prometheus keeps them (XOR chunks: about two bytes a point for regular
 * scrapes); label strings are stored once for all series, so a series
 * costs a few hundred bytes (docs/scrape-mode.md has the measured
 * costs).  Staleness follows Prometheus: when a target's
 * scrape no longer has a series, or the scrape fails, the series gets a
 * stale marker (a special NaN) at that scrape's time.  Readers skip stale
 * markers unless they ask for them.
 *
 * Ownership: the store owns everything; label sets and strings returned
 * are borrowed and valid until aa_tsdb_free.  Not thread-safe.
 * Conventions: see common.h.
 */
#ifndef AA_TSDB_H
#define AA_TSDB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "aa/common.h"
#include "aa/expo.h"
#include "aa/rules.h"
#include "aa/series.h"

typedef struct aa_tsdb aa_tsdb;

/* The default limits (aa_tsdb_opts). */
#define AA_TSDB_MAX_SERIES ((size_t)1000000)
#define AA_TSDB_MAX_POINTS ((size_t)100000000)

typedef struct aa_tsdb_opts {
    /* Most series the store holds: a new series past it is AA_ETOOBIG
     * (0: AA_TSDB_MAX_SERIES; at most UINT32_MAX - 1). */
    size_t max_series;
    /* Most points, stale markers included: a point past it is
     * AA_ETOOBIG (0: AA_TSDB_MAX_POINTS). */
    size_t max_points;
} aa_tsdb_opts;

/*
 * aa_tsdb_append's result for a point whose time equals the series'
 * last point's (a series listed twice in one scrape): the point is
 * dropped, the first one stays, and the stats count it.  Positive: not
 * an error.
 */
#define AA_TSDB_DUPLICATE 1

/* What the store holds and what it refused (aa_tsdb_stats). */
typedef struct aa_tsdb_stats {
    size_t series;
    size_t points;         /* stale markers included */
    size_t bytes;          /* aa_tsdb_bytes */
    size_t duplicates;     /* points dropped: AA_TSDB_DUPLICATE */
    size_t out_of_order;   /* points dropped: older than the last one */
    size_t series_refused; /* new series refused at max_series */
    size_t points_refused; /* points refused at max_points */
} aa_tsdb_stats;

/* Prometheus's stale marker (value.StaleNaN) and its test. */
double aa_stale_nan(void);
bool aa_is_stale_nan(double v);

/* A store with the default limits. */
int aa_tsdb_new(aa_tsdb **out);
/* A store with the limits of opts (NULL: the defaults). */
int aa_tsdb_new_opts(const aa_tsdb_opts *opts, aa_tsdb **out);
void aa_tsdb_free(aa_tsdb *db);

/* ---- writing -------------------------------------------------------------
 */

/*
 * The id of the series with label set ls (which must hold __name__),
 * created when new.  family is the exposition family the series belongs
 * to (may be NULL: the series name); it is recorded on creation only.
 * AA_ETOOBIG when creating it would exceed max_series (counted in
 * series_refused).  The labels must be sorted by name (aa_labels_add
 * keeps them so).
 */
int aa_tsdb_series(aa_tsdb *db, const aa_labels *ls, const char *family,
                   size_t *id);

/*
 * Appends a point.  Points of a series must come in increasing time: a
 * point at the time of the series' last one is AA_TSDB_DUPLICATE, an
 * older one AA_EINVAL; both are dropped and counted in the stats
 * (duplicates, out_of_order), as Prometheus drops and counts them.  A
 * point past max_points is AA_ETOOBIG (points_refused).  A stale marker
 * is appended like any value.
 */
int aa_tsdb_append(aa_tsdb *db, size_t id, int64_t t_ms, double v);

/* Records a family's # TYPE (the first type seen for a family wins). */
int aa_tsdb_set_type(aa_tsdb *db, const char *family, aa_expo_type type);

/*
 * Scrape bookkeeping for staleness.  A target is any string (the
 * instance).  Between begin and end, aa_tsdb_scrape_seen marks each series
 * the scrape returned; aa_tsdb_scrape_end(ok=true) then appends a stale
 * marker at t_ms to every series the previous scrape of that target had
 * and this one has not; ok=false (a failed scrape) marks all of them.
 * aa_tsdb_scrape_seen is AA_ETOOBIG (counted in points_refused) when
 * the points of the scrape so far would pass max_points, so that a
 * scrape that would fill the store fails while it is parsed, before any
 * of it is stored, as one that adds too many series does.  Stale
 * markers past the limit are dropped.
 */
int aa_tsdb_target(aa_tsdb *db, const char *target, size_t *tid);
void aa_tsdb_scrape_begin(aa_tsdb *db, size_t tid);
int aa_tsdb_scrape_seen(aa_tsdb *db, size_t tid, size_t id);
int aa_tsdb_scrape_end(aa_tsdb *db, size_t tid, int64_t t_ms, bool ok);

/* ---- reading -------------------------------------------------------------
 */

size_t aa_tsdb_nseries(const aa_tsdb *db);
size_t aa_tsdb_npoints(const aa_tsdb *db); /* stale markers included */
/* Bytes allocated for points, labels and indexes (malloc's own overhead
 * estimated at 8 bytes a block). */
size_t aa_tsdb_bytes(const aa_tsdb *db);
/* The counters above and what was dropped or refused; all zero for a
 * NULL db. */
void aa_tsdb_stats_get(const aa_tsdb *db, aa_tsdb_stats *out);

const aa_labels *aa_tsdb_labels(const aa_tsdb *db, size_t id);
const char *aa_tsdb_name(const aa_tsdb *db, size_t id); /* __name__ */
const char *aa_tsdb_family(const aa_tsdb *db, size_t id);
/* The # TYPE of a family; AA_EXPO_UNTYPED when none was recorded. */
aa_expo_type aa_tsdb_family_type(const aa_tsdb *db, const char *family);
/* The type of the family a metric name belongs to (metric may be a
 * family name, or a series name like x_bucket or x_total). */
aa_metric_type aa_tsdb_metric_type(const aa_tsdb *db, const char *metric);

/* Time of the first and last point in the store; AA_ENOTFOUND if empty. */
int aa_tsdb_time_range(const aa_tsdb *db, int64_t *min_ms, int64_t *max_ms);

/*
 * Ids of the series named metric (NULL: any name) that match every matcher
 * of a and of b (either may be NULL).  Matchers follow PromQL: a missing
 * label is the empty string; =~ and !~ are fully anchored RE2 regular
 * expressions (aa/regex.h).  A regex that does not compile (a matcher
 * that did not come through aa_matchers_parse) is AA_ESYNTAX, one the
 * engine cannot run (a Unicode class) AA_EUNSUPPORTED, both with the diag
 * naming the matcher.  *ids is malloc'd (NULL when *n is 0).
 */
int aa_tsdb_select(const aa_tsdb *db, const char *metric, const aa_matchers *a,
                   const aa_matchers *b, size_t **ids, size_t *n,
                   aa_diag *diag);

/*
 * The points of series id with from_ms <= t <= to_ms, oldest first, into
 * *buf (grown with realloc as needed; *cap is its capacity in points; the
 * caller frees *buf).  Stale markers are left out unless keep_stale.
 */
int aa_tsdb_points(const aa_tsdb *db, size_t id, int64_t from_ms,
                   int64_t to_ms, bool keep_stale, aa_point **buf, size_t *cap,
                   size_t *n);

/*
 * The store's scrape interval: the median gap between the points of the
 * first series that has two, rounded to 100 ms (at least 100 ms; the
 * median, because a scrape run ends with an extra scrape right after its
 * command exits).  0 when no series has two points or memory runs out.
 * What a replayed recording's default step and the HTML charts use.
 */
int64_t aa_tsdb_scrape_interval(const aa_tsdb *db);

/* The families recorded with a # TYPE, in first-seen order. */
size_t aa_tsdb_nfamilies(const aa_tsdb *db);
const char *aa_tsdb_family_name(const aa_tsdb *db, size_t i);

#endif
