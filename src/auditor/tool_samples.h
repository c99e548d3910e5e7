/*
 * tool_samples.h: recordings of scraped samples (--save-samples writes
 * them, --samples replays them) as OpenMetrics text with timestamps, the
 * format `promtool tsdb create-blocks-from openmetrics` loads.
 * Ownership: the store is borrowed; nothing is retained.
 */
#ifndef TOOL_SAMPLES_H
#define TOOL_SAMPLES_H

#include "aa/common.h"
#include "aa/expo.h"
#include "aa/series.h"
#include "aa/tsdb.h"

/* Largest recording --samples reads. */
#define TOOL_SAMPLES_MAX_FILE ((size_t)2 * 1024 * 1024 * 1024 - 1)

/*
 * Loads the recording at path into db.  Every sample needs a timestamp;
 * a series' samples must be in increasing time.  Errors name the file
 * and line in diag: AA_EIO (unreadable, or not a regular file: a FIFO is
 * refused, not waited on), AA_ESYNTAX, AA_ETOOBIG.
 */
int tool_samples_load(const char *path, aa_tsdb *db, aa_diag *diag);

/*
 * Writes every point of db (stale markers left out) to path as
 * OpenMetrics text: families grouped, one # TYPE line each, timestamps in
 * seconds with millisecond precision, "# EOF" last, through
 * tool_file_write (a fresh temporary file beside path, renamed into
 * place; nothing at a guessable name is opened).  AA_EIO (or AA_ENOMEM)
 * with diag on failure.
 */
int tool_samples_save(const char *path, const aa_tsdb *db, aa_diag *diag);

/*
 * Adds one parsed sample to db as series name{labels, extra...} (at most
 * 8 extra labels); an exposition label with an empty value is left out,
 * and one named like an extra label is renamed "exported_<name>" (more
 * "exported_" prefixes while that name is taken), as Prometheus does with
 * honor_labels: false.  *id is the series.  Used by both the scraper and
 * the loader.  AA_ENOMEM, or aa_tsdb_series's errors.
 */
int tool_samples_add(aa_tsdb *db, const aa_expo_sample *s,
                     const aa_label *extra, size_t nextra, size_t *id);

/* The parsers' meta callback body: records a # TYPE line's type in db;
 * HELP and UNIT lines are ignored. */
int tool_samples_meta(aa_tsdb *db, const aa_expo_meta *m);

#endif
