/*
 * tsdb.h: the in-memory series store of scrape and samples mode.  Every
 * scraped or replayed sample lands here; the local evaluator (eval.h) and
 * the HTML report read it.
 *
 * A series is identified by its full label set (__name__ included) and
 * gets a dense id (0, 1, 2, ...) that stays valid for the store's life.
 * Points are appended in time order per series and kept compactly
 * (about 12 bytes each).  Staleness follows Prometheus: when a target's
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

/* Most series one store holds; a new series beyond it is AA_ETOOBIG. */
#define AA_TSDB_MAX_SERIES ((size_t)1000000)

/* Prometheus's stale marker (value.StaleNaN) and its test. */
double aa_stale_nan(void);
bool aa_is_stale_nan(double v);

int aa_tsdb_new(aa_tsdb **out);
void aa_tsdb_free(aa_tsdb *db);

/* ---- writing -------------------------------------------------------------
 */

/*
 * The id of the series with label set ls (which must hold __name__),
 * created when new.  family is the exposition family the series belongs
 * to (may be NULL: the series name); it is recorded on creation only.
 * AA_ETOOBIG when creating it would exceed AA_TSDB_MAX_SERIES.
 */
int aa_tsdb_series(aa_tsdb *db, const aa_labels *ls, const char *family,
                   size_t *id);

/*
 * Appends a point.  Points of a series must come in increasing time:
 * an older or equal timestamp is AA_EINVAL and the point is dropped (as
 * Prometheus drops out-of-order samples).  A stale marker is appended
 * like any value.
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
 */
int aa_tsdb_target(aa_tsdb *db, const char *target, size_t *tid);
void aa_tsdb_scrape_begin(aa_tsdb *db, size_t tid);
int aa_tsdb_scrape_seen(aa_tsdb *db, size_t tid, size_t id);
int aa_tsdb_scrape_end(aa_tsdb *db, size_t tid, int64_t t_ms, bool ok);

/* ---- reading -------------------------------------------------------------
 */

size_t aa_tsdb_nseries(const aa_tsdb *db);
size_t aa_tsdb_npoints(const aa_tsdb *db); /* stale markers included */
/* Bytes allocated for points, labels and indexes (an estimate). */
size_t aa_tsdb_bytes(const aa_tsdb *db);

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
 * label is the empty string; =~ and !~ are fully anchored POSIX extended
 * regular expressions (see docs/scrape-mode.md for how they differ from
 * RE2).  A regex that does not compile is AA_ESYNTAX with the diag naming
 * it.  *ids is malloc'd (NULL when *n is 0).
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
