/*
 * tool_scrape.c: scraping for scrape mode (contract §4).  The auditor
 * reads /metrics itself on a schedule and keeps what it read in an
 * in-memory store (aa_tsdb), which tool_local.c hands to the local
 * backend, so a CI job can gate a service without running Prometheus.
 * With "-- COMMAND" it scrapes while the command (a load test) runs,
 * forwarding signals to it; on a terminal a progress line shows the worst
 * live signal (tool_scrape_progress.c).
 *
 * Choices (documented in docs/scrape-mode.md):
 * - Every series gets job (--job, default "async-auditor") and
 *   instance="host:port" of its URL, unless the exposition gives it a job
 *   or an instance itself: those are kept, as with Prometheus's
 *   honor_labels: true, so a rule's where '{job="api"}' that works
 *   against Prometheus finds the same series here.  An "up" series (1 or
 *   0) is added per scrape with the scrape's own job and instance, as
 *   Prometheus does.
 * - A URL with no path (or "/") scrapes /metrics.
 * - COMMAND's failure (non-zero exit, killed by a signal, not found) is
 *   reported and the return value is AA_EXIT_COMMAND_FAILED (4) with the
 *   samples still kept; the caller makes 4 the exit code unless the gate
 *   fails with a higher-priority code (1, 2 or 3).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "aa/expo.h"
#include "aa/result.h"
#include "aa/tsdb.h"
#include "tool_cfg.h"
#include "tool_http.h"
#include "tool_samples.h"
#include "tool_scrape.h"
#include "tool_scrape_progress.h"

#define SCRAPE_JOB "async-auditor"
#define SCRAPE_MAX_BODY ((size_t)32 * 1024 * 1024)
#define SCRAPE_MAX_TIMEOUT_MS 10000
/* How long a command may take to exit after a signal before SIGKILL. */
#define KILL_GRACE_MS 5000

/* The job label of the scraped series: --job, else SCRAPE_JOB. */
static const char *scrape_job(const tool_config *cfg)
{
    return cfg->scrape_job != NULL ? cfg->scrape_job : SCRAPE_JOB;
}

static volatile sig_atomic_t got_signal;
/* The last signal came from the terminal (Ctrl-C), which delivered it to
 * the whole foreground process group, the command included. */
static volatile sig_atomic_t signal_from_tty;

static void on_signal(int sig, siginfo_t *si, void *uctx)
{
    (void)uctx;
    signal_from_tty = si != NULL && si->si_code == SI_KERNEL;
    got_signal = sig;
}

static int64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- targets -------------------------------------------------------------
 */

typedef struct scrape_target {
    char *url;       /* what is fetched (path defaulted to /metrics) */
    char shown[512]; /* url for messages: no user:password, no query */
    char *instance;  /* host:port */
    /* the samples of the scrape being parsed, stored only when the
     * whole body parsed (Prometheus keeps nothing of a failed scrape) */
    struct pending *pend;
    size_t npend, cappend;
    size_t tid; /* aa_tsdb target */
    unsigned ok, failed;
    bool dup_warned; /* duplicate series reported once */
    char last_error[320];
} scrape_target;

/*
 * arg -> fetched URL, its redacted form for messages, and the instance
 * "host:port" (default port by scheme).  AA_EINVAL after an error naming
 * the URL (without its user:password); AA_ENOMEM.
 */
static int target_init(scrape_target *t, const char *arg)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *port = NULL, *path = NULL;
    char *full = NULL, shown[sizeof(t->shown)];
    int rc = AA_EINVAL;
    CURLUcode uc;

    if (u == NULL) {
        return AA_ENOMEM;
    }
    tool_http_redact_url(arg, shown, sizeof(shown));
    uc = curl_url_set(u, CURLUPART_URL, arg, 0);
    if (uc != CURLUE_OK) {
        tool_error("--scrape %s: not a valid URL: %s", shown,
                   curl_url_strerror(uc));
        goto out;
    }
    if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) !=
            CURLUE_OK) {
        tool_error("--scrape %s: the URL needs a scheme and a host", shown);
        goto out;
    }
    if (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0) {
        tool_error("--scrape %s: only http and https URLs can be scraped",
                   shown);
        goto out;
    }
    if ((curl_url_get(u, CURLUPART_PATH, &path, 0) != CURLUE_OK ||
         strcmp(path, "/") == 0 || path[0] == '\0') &&
        curl_url_set(u, CURLUPART_PATH, "/metrics", 0) != CURLUE_OK) {
        rc = AA_ENOMEM;
        goto out;
    }
    if (curl_url_get(u, CURLUPART_URL, &full, 0) != CURLUE_OK) {
        rc = AA_ENOMEM;
        goto out;
    }
    t->url = aa_strdup(full);
    t->instance = malloc(strlen(host) + strlen(port) + 2);
    if (t->url == NULL || t->instance == NULL) {
        rc = AA_ENOMEM;
        goto out;
    }
    sprintf(t->instance, "%s:%s", host, port);
    tool_http_redact_url(t->url, t->shown, sizeof(t->shown));
    rc = AA_OK;
out:
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_free(path);
    curl_free(full);
    curl_url_cleanup(u);
    return rc;
}

/* ---- one scrape ----------------------------------------------------------
 */

typedef struct pending {
    size_t id;
    int64_t t_ms;
    double v;
} pending;

typedef struct scrape_ctx {
    aa_tsdb *db;
    scrape_target *t;
    int64_t t_ms;
    aa_label extra[2]; /* instance, job: the target's own labels */
    unsigned out_of_order;
} scrape_ctx;

/* Whether the exposed sample carries the label itself (a non-empty
 * value: an empty one is no label). */
static bool exposes(const aa_expo_sample *s, const char *name)
{
    for (size_t i = 0; i < s->nlabels; i++) {
        if (strcmp(s->labels[i].name, name) == 0 &&
            s->labels[i].value[0] != '\0') {
            return true;
        }
    }
    return false;
}

static int scrape_meta(void *ctx, const aa_expo_meta *m)
{
    scrape_ctx *sc = ctx;

    return tool_samples_meta(sc->db, m);
}

static int scrape_sample(void *ctx, const aa_expo_sample *s)
{
    scrape_ctx *sc = ctx;
    scrape_target *t = sc->t;
    pending *np;
    aa_label extra[2];
    size_t id, n = 0;
    int rc;

    /* honor_labels: the target's labels only where the sample has none */
    for (size_t i = 0; i < 2; i++) {
        if (!exposes(s, sc->extra[i].name)) {
            extra[n++] = sc->extra[i];
        }
    }
    rc = tool_samples_add(sc->db, s, extra, n, &id);
    if (rc != AA_OK) {
        return rc;
    }
    rc = aa_tsdb_scrape_seen(sc->db, sc->t->tid, id);
    if (rc != AA_OK) {
        return rc;
    }
    np = aa_grow(t->pend, &t->cappend, t->npend, sizeof(*np), 256);
    if (np == NULL) {
        return AA_ENOMEM;
    }
    t->pend = np;
    t->pend[t->npend].id = id;
    t->pend[t->npend].t_ms = s->has_timestamp ? s->t_ms : sc->t_ms;
    t->pend[t->npend].v = s->value;
    t->npend++;
    return AA_OK;
}

/* Stores the samples of a scrape that parsed; *dropped counts those out
 * of order or duplicate (Prometheus drops them too).  AA_ENOMEM only. */
/* Appends the scrape's samples.  A point older than the series' last is
 * counted in *dropped; a second sample of a series in the same scrape is
 * dropped as Prometheus drops it (the first is kept), counted in *dups,
 * and the first such series is remembered in *dup_id. */
static int commit(aa_tsdb *db, scrape_target *t, unsigned *dropped,
                  unsigned *dups, size_t *dup_id)
{
    size_t i;

    for (i = 0; i < t->npend; i++) {
        const pending *pd = &t->pend[i];
        int rc = aa_tsdb_append(db, pd->id, pd->t_ms, pd->v);

        if (rc == AA_TSDB_DUPLICATE) {
            if ((*dups)++ == 0) {
                *dup_id = pd->id;
            }
        } else if (rc == AA_EINVAL) {
            (*dropped)++;
        } else if (rc != AA_OK) {
            return rc;
        }
    }
    return AA_OK;
}

/* Says once per target that its exposition repeats a series: the second
 * sample is lost, which a user must hear about (the exporter is broken,
 * or two collectors export the same family). */
static void warn_duplicates(scrape_target *t, const aa_tsdb *db, unsigned dups,
                            size_t dup_id)
{
    char labels[512];

    if (dups == 0 || t->dup_warned) {
        return;
    }
    t->dup_warned = true;
    aa_labels_format(aa_tsdb_labels(db, dup_id), labels, sizeof(labels));
    tool_warn("scrape %s: %u duplicate sample%s in one scrape, first %s; "
              "the first sample of each series is kept, the others dropped",
              t->shown, dups, dups == 1 ? "" : "s", labels);
}

static int add_up(aa_tsdb *db, scrape_target *t, const char *job, int64_t t_ms,
                  double v)
{
    aa_labels ls = {NULL, 0};
    size_t id;
    int rc;

    rc = aa_labels_add(&ls, "__name__", "up");
    if (rc == AA_OK) {
        rc = aa_labels_add(&ls, "job", job);
    }
    if (rc == AA_OK) {
        rc = aa_labels_add(&ls, "instance", t->instance);
    }
    if (rc == AA_OK) {
        rc = aa_tsdb_series(db, &ls, NULL, &id);
    }
    if (rc == AA_OK) {
        rc = aa_tsdb_set_type(db, "up", AA_EXPO_GAUGE);
    }
    if (rc == AA_OK) {
        rc = aa_tsdb_append(db, id, t_ms, v);
        if (rc == AA_EINVAL) {
            rc = AA_OK;
        }
    }
    aa_labels_clear(&ls);
    return rc;
}

/* Stores one finished request; a failure of any kind counts as a failed
 * scrape (its series go stale).  Returns AA_ENOMEM only. */
static int ingest(const tool_config *cfg, aa_tsdb *db, scrape_target *t,
                  tool_http_req *req, int64_t t_ms)
{
    scrape_ctx sc;
    aa_expo_handler h = {scrape_sample, scrape_meta, &sc};
    aa_diag diag;
    int rc = AA_OK;

    memset(&sc, 0, sizeof(sc));
    sc.db = db;
    sc.t = t;
    sc.t_ms = t_ms;
    sc.extra[0].name = "instance";
    sc.extra[0].value = t->instance;
    sc.extra[1].name = "job";
    sc.extra[1].value = (char *)scrape_job(cfg);
    aa_tsdb_scrape_begin(db, t->tid);
    t->npend = 0;
    if (req->err != 0) {
        snprintf(t->last_error, sizeof(t->last_error), "%s", req->errmsg);
        rc = AA_EIO;
    } else if (req->status != 200) {
        snprintf(t->last_error, sizeof(t->last_error), "HTTP status %ld",
                 req->status);
        rc = AA_EIO;
    } else {
        rc = aa_expo_parse(req->body.data, req->body.len,
                           aa_expo_format_sniff(req->body.data, req->body.len),
                           NULL, &h, &diag);
        if (rc == AA_ENOMEM) {
            return rc;
        }
        if (rc != AA_OK) {
            snprintf(t->last_error, sizeof(t->last_error),
                     "malformed exposition: %.280s", diag.message);
        }
    }
    if (rc == AA_OK) {
        t->ok++;
        unsigned dups = 0;
        size_t dup_id = 0;

        if (commit(db, t, &sc.out_of_order, &dups, &dup_id) != AA_OK) {
            return AA_ENOMEM;
        }
        warn_duplicates(t, db, dups, dup_id);
        tool_verbose(cfg, "scrape %s: %zu bytes", t->shown, req->body.len);
    } else {
        t->failed++;
        if (t->failed == 1 || cfg->verbosity > 0) {
            tool_warn("scrape %s: %s", t->shown, t->last_error);
        }
    }
    if (sc.out_of_order > 0) {
        tool_verbose(cfg, "scrape %s: %u out-of-order samples dropped",
                     t->shown, sc.out_of_order);
    }
    if (aa_tsdb_scrape_end(db, t->tid, t_ms, rc == AA_OK) == AA_ENOMEM) {
        return AA_ENOMEM;
    }
    return add_up(db, t, scrape_job(cfg), t_ms, rc == AA_OK ? 1.0 : 0.0) ==
                   AA_ENOMEM
               ? AA_ENOMEM
               : AA_OK;
}

/* ---- the command ---------------------------------------------------------
 */

/* Starts argv with stdout/stderr inherited.  An exec failure is reported
 * through a close-on-exec pipe so the message names the real error. */
static pid_t start_command(char **argv)
{
    int fds[2];
    pid_t pid;
    int err = 0;
    ssize_t n;

    if (pipe2(fds, O_CLOEXEC) != 0) {
        tool_error("cannot start %s: %s", argv[0], strerror(errno));
        return -1;
    }
    fflush(NULL);
    pid = fork();
    if (pid < 0) {
        tool_error("cannot start %s: %s", argv[0], strerror(errno));
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    if (pid == 0) {
        sigset_t none;

        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        close(fds[0]);
        execvp(argv[0], argv);
        err = errno;
        if (write(fds[1], &err, sizeof(err)) < 0) {
            _exit(127);
        }
        _exit(127);
    }
    close(fds[1]);
    do {
        n = read(fds[0], &err, sizeof(err));
    } while (n < 0 && errno == EINTR);
    close(fds[0]);
    if (n == (ssize_t)sizeof(err)) {
        waitpid(pid, NULL, 0);
        tool_error("cannot run %s: %s", argv[0], strerror(err));
        return -1;
    }
    return pid;
}

/* ---- the scrape loop -----------------------------------------------------
 */

/*
 * The scrape client: the access options of check mode (the same flags,
 * environment variables and secret handling, tool_http_from_cfg), no
 * retries (a failed scrape is counted, and the next one comes on
 * schedule), a timeout of one interval at most.  Returns 0 or an aa_exit
 * code after printing why.
 */
static int make_scrape_http(const tool_config *cfg, int64_t interval_ms,
                            tool_http **out)
{
    tool_http_opts o;
    const char **hdrs;
    int rc;

    *out = NULL;
    memset(&o, 0, sizeof(o));
    hdrs = calloc(cfg->nheaders + 1, sizeof(*hdrs));
    if (hdrs == NULL) {
        tool_error("%s", aa_strerror(AA_ENOMEM));
        return AA_EXIT_UNKNOWN;
    }
    if (cfg->nheaders > 0) {
        memcpy(hdrs, cfg->headers, cfg->nheaders * sizeof(*hdrs));
    }
    hdrs[cfg->nheaders] = "Accept: text/plain;version=0.0.4;q=1,*/*;q=0.1";
    o.headers = hdrs;
    o.nheaders = cfg->nheaders + 1;
    o.timeout_ms = interval_ms < SCRAPE_MAX_TIMEOUT_MS ? interval_ms
                                                       : SCRAPE_MAX_TIMEOUT_MS;
    o.max_body = SCRAPE_MAX_BODY;
    rc = tool_http_from_cfg(cfg, &o, out);
    free(hdrs);
    return rc;
}

/* Waits until deadline (monotonic ms) in slices, returning early on a
 * signal or when the command exited (*status set, *pid cleared). */
static void idle_until(int64_t deadline, pid_t *pid, int *status)
{
    for (;;) {
        int64_t left = deadline - mono_ms();
        struct timespec ts;

        if (*pid > 0) {
            int st;
            pid_t r = waitpid(*pid, &st, WNOHANG);

            if (r == *pid) {
                *status = st;
                *pid = 0;
                return;
            }
            if (r < 0 && errno == ECHILD) {
                /* Reaped elsewhere: the exit status is unknown. */
                *pid = 0;
                return;
            }
        }
        if (left <= 0 || got_signal != 0) {
            return;
        }
        if (left > 50) {
            left = 50;
        }
        ts.tv_sec = 0;
        ts.tv_nsec = (long)left * 1000000L;
        nanosleep(&ts, NULL);
    }
}

typedef struct scrape_run {
    scrape_target *targets;
    size_t ntargets;
    int64_t first_ms, last_ms; /* wall times of the first and last scrape */
    unsigned ok, failed;
    bool command_failed;
} scrape_run;

/*
 * Ends the command after an internal error: SIGTERM, then SIGKILL if it
 * has not exited KILL_GRACE_MS later, so that a command ignoring SIGTERM
 * cannot hang the auditor.  Reaps it into *status.
 */
static void end_command(pid_t pid, int *status)
{
    int64_t deadline = mono_ms() + KILL_GRACE_MS;

    kill(pid, SIGTERM);
    while (waitpid(pid, status, WNOHANG) == 0) {
        struct timespec ts = {0, 20 * 1000000L};

        if (mono_ms() >= deadline) {
            kill(pid, SIGKILL);
            while (waitpid(pid, status, 0) < 0 && errno == EINTR) {
            }
            return;
        }
        nanosleep(&ts, NULL);
    }
}

static void command_outcome(char **argv, int status, scrape_run *run)
{
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        return;
    }
    run->command_failed = true;
    if (WIFEXITED(status)) {
        tool_error("command %s: exited with status %d", argv[0],
                   WEXITSTATUS(status));
    } else if (WIFSIGNALED(status)) {
        tool_error("command %s: killed by signal %d (%s)", argv[0],
                   WTERMSIG(status), strsignal(WTERMSIG(status)));
    }
}

/* Returns 0 or an aa_exit code (already reported). */
static int scrape_loop(const tool_config *cfg, const aa_ruleset *rs,
                       aa_tsdb *db, scrape_run *run)
{
    int64_t interval = cfg->interval_ms > 0 ? cfg->interval_ms : 1000;
    int64_t start, next, now, kill_at = 0, total = cfg->duration_ms;
    tool_http *http = NULL;
    tool_http_req *reqs = NULL;
    struct sigaction sa, old_int, old_term, old_chld;
    pid_t pid = 0;
    int status = 0, exit_rc = 0;
    bool tty = isatty(STDERR_FILENO) && cfg->verbosity >= 0;
    bool final = false, progressed = false;
    size_t i;

    run->first_ms = -1;
    if (cfg->command_argv == NULL && total <= 0) {
        tool_error("--scrape: --duration is required (or a command after "
                   "\"--\" to scrape while it runs)");
        return AA_EXIT_USAGE;
    }
    run->targets = calloc(cfg->nscrape, sizeof(*run->targets));
    reqs = calloc(cfg->nscrape, sizeof(*reqs));
    if (run->targets == NULL || reqs == NULL) {
        tool_error("%s", aa_strerror(AA_ENOMEM));
        free(reqs);
        return AA_EXIT_UNKNOWN;
    }
    run->ntargets = cfg->nscrape;
    for (i = 0; i < cfg->nscrape; i++) {
        int rc = target_init(&run->targets[i], cfg->scrape_urls[i]);

        if (rc == AA_OK) {
            rc = aa_tsdb_target(db, run->targets[i].instance,
                                &run->targets[i].tid);
        }
        if (rc != AA_OK) {
            if (rc == AA_ENOMEM) {
                tool_error("%s", aa_strerror(rc));
            }
            free(reqs);
            return rc == AA_EINVAL ? AA_EXIT_USAGE : AA_EXIT_UNKNOWN;
        }
    }
    exit_rc = make_scrape_http(cfg, interval, &http);
    if (exit_rc != 0) {
        free(reqs);
        return exit_rc;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = on_signal;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    got_signal = 0;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    /* An inherited SIG_IGN would have the kernel reap the command, and
     * its exit status would be lost. */
    sa.sa_handler = SIG_DFL;
    sa.sa_flags = 0;
    sigaction(SIGCHLD, &sa, &old_chld);
    if (cfg->command_argv != NULL) {
        pid = start_command(cfg->command_argv);
        if (pid < 0) {
            run->command_failed = true;
            exit_rc = AA_EXIT_COMMAND_FAILED;
            goto out;
        }
    }
    start = mono_ms();
    next = start;
    for (;;) {
        int64_t t_ms = wall_ms();
        int rc;

        for (i = 0; i < run->ntargets; i++) {
            tool_http_req_clear(&reqs[i]);
            memset(&reqs[i], 0, sizeof(reqs[i]));
            reqs[i].url = aa_strdup(run->targets[i].url);
            if (reqs[i].url == NULL) {
                exit_rc = AA_EXIT_UNKNOWN;
                tool_error("%s", aa_strerror(AA_ENOMEM));
                goto out;
            }
        }
        rc = tool_http_run(http, reqs, run->ntargets);
        for (i = 0; rc == AA_OK && i < run->ntargets; i++) {
            rc = ingest(cfg, db, &run->targets[i], &reqs[i], t_ms);
        }
        if (rc != AA_OK) {
            tool_error("scrape: %s", aa_strerror(rc));
            exit_rc = AA_EXIT_UNKNOWN;
            goto out;
        }
        if (run->first_ms < 0) {
            run->first_ms = t_ms;
        }
        run->last_ms = t_ms;
        run->ok = run->failed = 0;
        for (i = 0; i < run->ntargets; i++) {
            run->ok += run->targets[i].ok;
            run->failed += run->targets[i].failed;
        }
        if (tty) {
            tool_scrape_progress(cfg, rs, db, mono_ms() - start,
                                 cfg->command_argv != NULL ? 0 : total,
                                 run->ok, run->failed, t_ms,
                                 t_ms - run->first_ms);
            progressed = true;
        }
        if (final) {
            break;
        }
        next += interval;
        now = mono_ms();
        if (next < now) {
            /* A scrape overran the interval: skip to the next tick of the
             * schedule, which stays on start + k * interval. */
            next = now + interval - (now - start) % interval;
        }
        if (cfg->command_argv == NULL && next - start > total) {
            break;
        }
        idle_until(kill_at > 0 && kill_at < next ? kill_at : next, &pid,
                   &status);
        if (got_signal != 0 && pid <= 0 && cfg->command_argv == NULL) {
            tool_warn("interrupted: evaluating the %u scrapes so far",
                      run->ok + run->failed);
            break;
        }
        while (got_signal != 0 && pid > 0) {
            int sig = got_signal;

            got_signal = 0;
            if (kill_at == 0) {
                /* A Ctrl-C already reached the command: sending it again
                 * would make a load test like k6 abort its summary. */
                if (!signal_from_tty) {
                    kill(pid, sig);
                }
                kill_at = mono_ms() + KILL_GRACE_MS;
            } else {
                /* A second signal: stop waiting for it. */
                kill_at = mono_ms();
            }
            idle_until(next < kill_at ? next : kill_at, &pid, &status);
        }
        if (pid > 0 && kill_at > 0 && mono_ms() >= kill_at) {
            tool_warn("command %s: still running %d s after the signal: "
                      "killing it",
                      cfg->command_argv[0], KILL_GRACE_MS / 1000);
            kill(pid, SIGKILL);
            kill_at = INT64_MAX;
            idle_until(mono_ms() + KILL_GRACE_MS, &pid, &status);
        }
        if (cfg->command_argv != NULL && pid == 0) {
            /* One last scrape right after the command ended. */
            final = true;
        }
    }
out:
    if (progressed) {
        fprintf(stderr, "\r\033[K");
        fflush(stderr);
    }
    if (pid > 0) {
        /* Only on an internal error: end the command we started. */
        end_command(pid, &status);
    }
    if (cfg->command_argv != NULL && exit_rc == 0) {
        command_outcome(cfg->command_argv, status, run);
    }
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    sigaction(SIGCHLD, &old_chld, NULL);
    for (i = 0; i < run->ntargets; i++) {
        tool_http_req_clear(&reqs[i]);
    }
    free(reqs);
    tool_http_free(http);
    return exit_rc;
}

static char *join_targets(const scrape_run *run)
{
    aat_buf b;
    size_t i;

    aat_buf_init(&b, 1 << 20);
    for (i = 0; i < run->ntargets; i++) {
        if (aat_buf_appendf(&b, "%s%s", i > 0 ? ", " : "",
                            run->targets[i].shown) != AA_OK) {
            aat_buf_release(&b);
            return NULL;
        }
    }
    if (b.data == NULL) {
        return aa_strdup("");
    }
    return aat_buf_steal(&b);
}

static void free_run(scrape_run *run)
{
    size_t i;

    for (i = 0; i < run->ntargets; i++) {
        free(run->targets[i].url);
        free(run->targets[i].pend);
        free(run->targets[i].instance);
    }
    free(run->targets);
}

/* Scrapes into db; see tool_scrape.h. */
int tool_scrape(const tool_config *cfg, const aa_ruleset *rs, aa_tsdb *db,
                tool_scrape_result *res)
{
    scrape_run run;
    int rc;

    memset(res, 0, sizeof(*res));
    memset(&run, 0, sizeof(run));
    rc = scrape_loop(cfg, rs, db, &run);
    res->first_ms = run.first_ms;
    res->last_ms = run.last_ms;
    res->ok = run.ok;
    res->failed = run.failed;
    res->command_failed = run.command_failed;
    if (rc == 0 || rc == AA_EXIT_COMMAND_FAILED) {
        res->targets = join_targets(&run);
        if (res->targets == NULL) {
            tool_error("%s", aa_strerror(AA_ENOMEM));
            rc = AA_EXIT_UNKNOWN;
        }
    }
    if ((rc == 0 || rc == AA_EXIT_COMMAND_FAILED) && run.first_ms >= 0 &&
        run.ok == 0 && run.ntargets > 0 && run.failed > 0) {
        tool_error("%s: the audit could not be completed: every scrape "
                   "failed (last: %s)",
                   run.targets[0].shown, run.targets[0].last_error);
    }
    free_run(&run);
    return rc;
}

void tool_scrape_result_clear(tool_scrape_result *res)
{
    free(res->targets);
    memset(res, 0, sizeof(*res));
}
