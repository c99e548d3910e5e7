/*
 * test_probe_state.c: the series store and its readers: allocation and
 * rendering, two arenas rendered together (one HELP per family, a worker
 * label each, a dead one's gauges dropped), kept series adopted by the
 * next owner, a group member killed with SIGKILL seen dead with its
 * counters kept, a forked child writing its own arena, and a relabel
 * racing a reader thread (never a label with another series' value).
 */
#include "aap_int.h"
#include "aap_stateview.h"
#include "check.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* The text of views rendered at time now. */
static char *render(const aap_view *v, size_t n)
{
    aat_buf t;

    aat_buf_init(&t, AAP_TEXT_MAX);
    aat_buf_append(&t, "", 0);
    CHECK_INT_EQ(aap_render_views(&t, v, n, aap_now_ns()), 0);
    return aat_buf_steal(&t);
}

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;

    while ((hay = strstr(hay, needle)) != NULL) {
        n++;
        hay += strlen(needle);
    }
    return n;
}

static void own_view(aap_view *v)
{
    size_t len;
    const aap_arena_hdr *h = aap_state_arena(&len);

    CHECK(h != NULL);
    CHECK_INT_EQ(aap_view_init(v, h, len, 1), 0);
}

static void test_alloc_render(void)
{
    aap_label lab[2] = {{"loop", "main"}, {"executor", "x\"y\n\xff"}};
    _Atomic uint64_t *c, *g;
    aap_rec *rc, *rg, *rh;
    aap_hist h;
    aap_view v[2];
    uint8_t *copy;
    char *text, want[256];
    size_t len;

    CHECK_INT_EQ(aap_state_cell(AAP_F_TASKS_CREATED, lab, 1, 0, &rc, &c), 0);
    CHECK_INT_EQ(aap_state_cell(AAP_F_EXEC_PENDING, lab, 2, 0, &rg, &g), 0);
    CHECK_INT_EQ(aap_state_hist(AAP_F_LOOP_BLOCK, lab, 1, 0, &rh, &h), 0);
    atomic_store(c, 7);
    atomic_store(g, (uint64_t)-3);
    aap_hist_observe(&h, 100000000, 2);
    own_view(&v[0]);
    text = render(v, 1);
    snprintf(want, sizeof(want),
             "python_asyncio_tasks_created_total{worker=\"%d\"} 7\n",
             (int)getpid());
    CHECK_STR_CONTAINS(text, want); /* one loop: no loop label */
    /* label values escaped, invalid UTF-8 replaced */
    CHECK_STR_CONTAINS(text, "executor=\"x\\\"y\\n\xef\xbf\xbd\"} -3\n");
    CHECK_STR_CONTAINS(text, "python_asyncio_loop_block_duration_seconds_"
                             "count{worker=");
    CHECK_INT_EQ(count(text, "# TYPE python_asyncio_tasks_created_total"), 1);
    free(text);

    /* a second arena (a copy, as another process's file would be): each
     * series per worker, one HELP per family, the dead one's gauges
     * dropped and its counters kept */
    len = (size_t)atomic_load(&((aap_arena_hdr *)(void *)v[0].base)->used);
    copy = malloc(len);
    memcpy(copy, v[0].base, len);
    ((aap_arena_hdr *)(void *)copy)->pid = 999999;
    CHECK_INT_EQ(aap_view_init(&v[1], copy, len, 0), 0);
    text = render(v, 2);
    CHECK_INT_EQ(count(text, "# HELP python_asyncio_tasks_created_total"), 1);
    CHECK_INT_EQ(count(text, "python_asyncio_tasks_created_total{"), 2);
    CHECK_STR_CONTAINS(text, "python_asyncio_tasks_created_total{worker="
                             "\"999999\"} 7\n");
    CHECK_INT_EQ(count(text, "python_asyncio_executor_pending{"), 1);
    CHECK_INT_EQ(count(text, "python_asyncio_loop_block_duration_seconds_"
                             "count{"),
                 2);
    /* families stay contiguous: no family's samples after another's */
    CHECK(strstr(text, "python_asyncio_executor_pending{") >
          strstr(text, "python_asyncio_tasks_created_total{worker=\"99"));
    free(text);
    /* garbage in the copy's records is skipped, not rendered or trusted */
    memset(copy + AAP_ARENA_HDR + 8, 0xff, 8);
    CHECK_INT_EQ(aap_view_init(&v[1], copy, len, 0), 0);
    text = render(v, 2);
    CHECK(text != NULL);
    free(text);
    free(copy);

    /* hidden series are not exported until shown; freed ones vanish */
    aap_rec_hide(rg);
    text = render(v, 1);
    CHECK(strstr(text, "python_asyncio_executor_pending") == NULL);
    free(text);
    aap_rec_free(rg);
    aap_rec_show(rg);
    text = render(v, 1);
    CHECK(strstr(text, "python_asyncio_executor_pending") == NULL);
    free(text);
    /* ungrouped: released counters are freed, and their space reused */
    aap_rec_release(rc);
    CHECK_INT_EQ(aap_state_cell(AAP_F_TASKS_CREATED, lab, 1, 0, &rg, &g), 0);
    CHECK(rg == rc);
    CHECK_INT_EQ(atomic_load(g), 0);
    aap_rec_free(rg);
    aap_rec_free(rh);
}

/* A group of this test's own (a directory under the arenas' home). */
static int test_group(void)
{
    char path[512];
    int err = 0, fd;

    fd = aap_group_open("test-state", (int)getpid(), path, sizeof(path), &err);
    CHECK(fd >= 0);
    return fd;
}

static void test_keep_adopt(int gfd)
{
    aap_label lab[1] = {{"loop", "adopted"}};
    _Atomic uint64_t *c;
    aap_rec *r, *r2;
    int err = 0;

    CHECK_INT_EQ(aap_state_join(gfd, &err), 0);
    CHECK(aap_group_member());
    CHECK_INT_EQ(aap_state_cell(AAP_F_TASKS_CREATED, lab, 1, 0, &r, &c), 0);
    atomic_store(c, 41);
    aap_rec_release(r); /* grouped: kept, still exported */
    CHECK_INT_EQ(aap_state_cell(AAP_F_TASKS_CREATED, lab, 1, 0, &r2, &c), 0);
    CHECK(r2 == r);
    CHECK_INT_EQ(atomic_load(c), 41); /* goes on counting */
    aap_rec_release(r2);
    /* a gauge is never kept */
    CHECK_INT_EQ(aap_state_cell(AAP_F_TASKS, lab, 1, 0, &r, &c), 0);
    atomic_store(c, 5);
    aap_rec_release(r);
    CHECK_INT_EQ(
        aap_state_cell(AAP_F_TASKS, lab, 1, AAP_SERIES_ADOPT_ONLY, &r2, &c),
        AAP_EINVAL);
}

/* A forked member of the group, killed with SIGKILL: alive while it
 * runs, dead after, its counter still exported, its gauge gone, its
 * writes never in the parent's arena. */
static void test_dead_member(int gfd)
{
    aap_member m[8];
    aap_view v[9];
    size_t n = 0, skipped = 0, i;
    uint64_t dev, ino;
    int p[2], status;
    char *text, want[128], ok;
    pid_t pid;

    CHECK(pipe(p) == 0);
    pid = fork(); /* the library's fork handlers split the arena */
    if (pid == 0) {
        aap_label lab[1] = {{"loop", "child"}};
        _Atomic uint64_t *c, *g;
        aap_rec *r;

        aap_state_cell(AAP_F_TASKS_CREATED, lab, 1, 0, &r, &c);
        aap_state_cell(AAP_F_TASKS, lab, 1, 0, &r, &g);
        atomic_store(c, 12345);
        atomic_store(g, 3);
        ok = aap_group_member() ? 'y' : 'n';
        if (write(p[1], &ok, 1) != 1) {
            _exit(1);
        }
        pause();
        _exit(0);
    }
    CHECK(read(p[0], &ok, 1) == 1);
    CHECK_INT_EQ(ok, 'y');
    aap_state_file_id(&dev, &ino);
    CHECK_INT_EQ(aap_group_collect(gfd, dev, ino, m, 8, &n, &skipped), 0);
    CHECK_INT_EQ(n, 1);
    CHECK_INT_EQ(skipped, 0);
    CHECK_INT_EQ(m[0].alive, 1);
    aap_group_release(m, n);
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    CHECK_INT_EQ(aap_group_collect(gfd, dev, ino, m, 8, &n, &skipped), 0);
    CHECK_INT_EQ(n, 1); /* its supervisor (us) lives: kept */
    CHECK_INT_EQ(m[0].alive, 0);
    for (i = 0; i < n; i++) {
        CHECK_INT_EQ(aap_view_init(&v[i], m[i].base, m[i].len, m[i].alive), 0);
    }
    text = render(v, n);
    /* (no loop label: the "loop" label shows with several loops) */
    snprintf(want, sizeof(want),
             "python_asyncio_tasks_created_total{worker=\"%d\"} 12345\n",
             (int)pid);
    CHECK_STR_CONTAINS(text, want);
    CHECK(strstr(text, "python_asyncio_tasks{") == NULL);
    free(text);
    aap_group_release(m, n);
    /* the child's writes went to its own arena */
    own_view(&v[0]);
    text = render(v, 1);
    CHECK(strstr(text, "12345") == NULL);
    free(text);
    close(p[0]);
    close(p[1]);
}

typedef struct race {
    aap_rec *r;
    _Atomic int stop;
    long torn, seen;
} race;

/* Reader: a site label "s<N>-pppp..." must come with value 0 or N. */
static void *reader(void *arg)
{
    race *x = arg;
    aap_view v;
    aap_vrec rec;

    while (!atomic_load(&x->stop)) {
        size_t off = AAP_ARENA_HDR, at, len;
        const aap_arena_hdr *h = aap_state_arena(&len);
        uint32_t fam;

        /* (no CHECK here: the check counters are the main thread's) */
        if (aap_view_init(&v, h, len, 1) < 0) {
            x->torn++;
            break;
        }
        while (aap_view_next(&v, &off, &at, &fam)) {
            const char *site;
            unsigned long want;

            if ((const uint8_t *)x->r != v.base + at ||
                !aap_view_read(&v, at, &rec)) {
                continue;
            }
            /* "loop\0race\0site\0<value>\0" */
            site = rec.label_len > 15 ? rec.labels + 15 : NULL;
            x->seen++;
            if (!site || sscanf(site, "s%lu-", &want) != 1 ||
                (rec.cells[0] != 0 && rec.cells[0] != want)) {
                x->torn++;
            }
        }
    }
    return NULL;
}

static void test_relabel_race(void)
{
    aap_label lab[2] = {{"loop", "race"}, {"site", "s1-"}};
    char site[300];
    _Atomic uint64_t *c;
    pthread_t t;
    race x;
    unsigned long i;

    memset(&x, 0, sizeof(x));
    CHECK_INT_EQ(aap_state_series(AAP_F_SITE, 0, lab, 2, 0, &x.r), 0);
    c = aap_rec_cells(x.r);
    atomic_store(c, 1);
    pthread_create(&t, NULL, reader, &x);
    for (i = 2; i < 20000; i++) {
        int pad = (int)(i % 200);

        snprintf(site, sizeof(site), "s%lu-%.*s", i, pad,
                 "pppppppppppppppppppppppppppppppppppppppppppppppppppppppppp"
                 "pppppppppppppppppppppppppppppppppppppppppppppppppppppppppp"
                 "pppppppppppppppppppppppppppppppppppppppppppppppppppppppppp"
                 "ppppppppppppppppppppppppppppppppppppppppp");
        lab[1].value = site;
        CHECK_INT_EQ(aap_rec_relabel(x.r, lab, 2), 0);
        atomic_store(c, i);
    }
    atomic_store(&x.stop, 1);
    pthread_join(t, NULL);
    CHECK(x.seen > 0);
    CHECK_INT_EQ(x.torn, 0);
    aap_rec_free(x.r);
}

int main(void)
{
    int gfd;

    CHECK_INT_EQ(aap_state_ensure(), 0);
    test_alloc_render();
    test_relabel_race();
    gfd = test_group();
    if (gfd >= 0) {
        test_keep_adopt(gfd);
        test_dead_member(gfd);
        aap_state_leave();
        CHECK(!aap_group_member());
        close(gfd);
    }
    return check_report("test_probe_state");
}
