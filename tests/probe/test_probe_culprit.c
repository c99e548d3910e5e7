/*
 * test_probe_culprit.c: which frame names a blocking episode's site (the
 * innermost in-app frame; the loop machinery's rule when there is none),
 * the call chain below it and the culprit class, on synthetic stacks with
 * standard-library, site-packages, dist-packages, frozen and application
 * paths (aap_culprit.c).
 */
#include "aap.h"
#include "check.h"

#include <stdlib.h>

/* A frame as "path:line function". */
typedef struct spec {
    const char *file;
    int line;
    const char *func;
} spec;

static void set_stack(aap_stack *st, const spec *f, int n)
{
    int i;

    memset(st, 0, sizeof(*st));
    for (i = 0; i < n; i++) {
        snprintf(st->frames[i].file, AAP_FILE_MAX, "%s", f[i].file);
        snprintf(st->frames[i].func, AAP_FUNC_MAX, "%s", f[i].func);
        st->frames[i].line = f[i].line;
    }
    st->n = n;
}

/* The rules install() would give on an interpreter in /py/lib with a venv
 * at /venv/site-packages, the application under /app. */
static void std_rules(aap_inapp_rules *r)
{
    memset(r, 0, sizeof(*r));
    CHECK_INT_EQ(aap_inapp_add(r, "/py/lib/", AAP_PATH_STDLIB, 1), 0);
    CHECK_INT_EQ(aap_inapp_add(r, "/venv/site-packages/", AAP_PATH_LIBRARY, 1),
                 0);
    CHECK_INT_EQ(aap_inapp_add(r, "/py/lib/asyncio/", AAP_PATH_MACHINERY, 0),
                 0);
    CHECK_INT_EQ(aap_inapp_add(r, "/venv/site-packages/async_auditor/",
                               AAP_PATH_MACHINERY, 0),
                 0);
    CHECK_INT_EQ(aap_inapp_add(r, "/app/", AAP_PATH_ROOT, 1), 0);
}

#define N(a) ((int)(sizeof(a) / sizeof(a[0])))

static void test_requests(const aap_inapp_rules *r, aap_stack *st)
{
    static const spec f[] = {
        {"/py/lib/socket.py", 706, "readinto"},
        {"/py/lib/http/client.py", 286, "_read_status"},
        {"/venv/site-packages/urllib3/connectionpool.py", 534,
         "_make_request"},
        {"/venv/site-packages/requests/sessions.py", 589, "request"},
        {"/venv/site-packages/requests/api.py", 73, "get"},
        {"/app/svc/fx.py", 15, "refresh_fx_rate"},
        {"/app/svc/handlers.py", 30, "handler"},
        {"/py/lib/asyncio/events.py", 84, "_run"},
        {"/py/lib/asyncio/base_events.py", 1936, "_run_once"},
        {"/app/main.py", 5, "<module>"},
    };
    aap_culprit c;

    set_stack(st, f, N(f));
    aap_culprit_of(st, r, AAP_CLASS_NETWORK, &c);
    CHECK_INT_EQ(c.frame, 5);
    CHECK_INT_EQ(aap_culprit_frame(st, r), 5);
    CHECK_STR_EQ(c.site, "/app/svc/fx.py:15 refresh_fx_rate");
    CHECK_STR_EQ(c.chain, "svc/fx.py:15 refresh_fx_rate \xe2\x86\x92 "
                          "requests.get \xe2\x86\x92 socket.py:706 "
                          "readinto");
    CHECK_STR_EQ(aap_class_name(c.cls), "http_client");
}

static void test_library_classes(const aap_inapp_rules *r, aap_stack *st)
{
    /* a logging HTTPHandler: logging is the library the user called */
    static const spec logh[] = {
        {"/py/lib/socket.py", 706, "readinto"},
        {"/py/lib/http/client.py", 286, "_read_status"},
        {"/py/lib/logging/handlers.py", 1268, "emit"},
        {"/py/lib/logging/__init__.py", 1700, "handle"},
        {"/py/lib/logging/__init__.py", 1520, "warning"},
        {"/app/svc/audit.py", 9, "record"},
    };
    /* redis-py from Debian's dist-packages (the built-in rule) */
    static const spec red[] = {
        {"/usr/lib/python3/dist-packages/redis/_parsers/socket.py", 64,
         "_read_from_socket"},
        {"/usr/lib/python3/dist-packages/redis/client.py", 600,
         "execute_command"},
        {"/usr/lib/python3/dist-packages/redis/commands/core.py", 1800, "get"},
        {"/app/svc/cache.py", 22, "lookup"},
    };
    /* json.dumps of a large payload */
    static const spec js[] = {
        {"/py/lib/json/encoder.py", 258, "iterencode"},
        {"/py/lib/json/encoder.py", 200, "encode"},
        {"/py/lib/json/__init__.py", 231, "dumps"},
        {"/app/svc/api.py", 40, "render"},
    };
    /* an unknown library wrapping a known one: the known one decides */
    static const spec boto[] = {
        {"/venv/site-packages/urllib3/response.py", 900, "read"},
        {"/venv/site-packages/botocore/endpoint.py", 200, "_send"},
        {"/app/svc/s3.py", 5, "fetch"},
    };
    /* frozen modules are the standard library */
    static const spec frozen[] = {
        {"<frozen importlib._bootstrap>", 1360, "_find_and_load"},
        {"/app/svc/lazy.py", 3, "load"},
    };
    aap_culprit c;

    set_stack(st, logh, N(logh));
    aap_culprit_of(st, r, AAP_CLASS_NETWORK, &c);
    CHECK_INT_EQ(c.frame, 5);
    CHECK_STR_EQ(aap_class_name(c.cls), "logging");
    CHECK_STR_CONTAINS(c.chain, "logging.warning");
    CHECK_STR_EQ(aap_class_hint(c.cls),
                 "log through a `QueueHandler` so handlers run in a thread");

    set_stack(st, red, N(red));
    aap_culprit_of(st, r, AAP_CLASS_NETWORK, &c);
    CHECK_INT_EQ(c.frame, 3);
    CHECK_STR_EQ(aap_class_name(c.cls), "redis");
    CHECK_STR_EQ(c.chain, "svc/cache.py:22 lookup \xe2\x86\x92 redis.get "
                          "\xe2\x86\x92 redis/_parsers/socket.py:64 "
                          "_read_from_socket");

    set_stack(st, js, N(js));
    aap_culprit_of(st, r, AAP_CLASS_CPU, &c);
    CHECK_STR_EQ(aap_class_name(c.cls), "serialization");
    CHECK_STR_EQ(c.chain, "svc/api.py:40 render \xe2\x86\x92 json.dumps "
                          "\xe2\x86\x92 json/encoder.py:258 iterencode");

    set_stack(st, boto, N(boto));
    aap_culprit_of(st, r, AAP_CLASS_NETWORK, &c);
    CHECK_STR_EQ(aap_class_name(c.cls), "http_client");

    set_stack(st, frozen, N(frozen));
    CHECK_INT_EQ(aap_path_kind(r, frozen[0].file), AAP_PATH_STDLIB);
    aap_culprit_of(st, r, AAP_CLASS_FILE_IO, &c);
    CHECK_INT_EQ(c.frame, 1);
    CHECK_STR_EQ(c.chain, "svc/lazy.py:3 load \xe2\x86\x92 "
                          "importlib._find_and_load");
    CHECK_STR_EQ(aap_class_name(c.cls), "file_io");
}

static void test_kernel_class(const aap_inapp_rules *r, aap_stack *st)
{
    /* the user's line calls C directly (time.sleep, sock.recv): the site
     * is that line and the kernel says what it waits for */
    static const spec own[] = {
        {"/app/svc/jobs.py", 12, "tick"},
        {"/py/lib/asyncio/events.py", 84, "_run"},
        {"/app/main.py", 5, "<module>"},
    };
    aap_culprit c;

    set_stack(st, own, N(own));
    aap_culprit_of(st, r, AAP_CLASS_SLEEP, &c);
    CHECK_INT_EQ(c.frame, 0);
    CHECK_STR_EQ(c.chain, "svc/jobs.py:12 tick");
    CHECK_STR_EQ(aap_class_name(c.cls), "sleep");
    aap_culprit_of(st, r, AAP_CLASS_NONE, &c);
    CHECK_STR_EQ(aap_class_name(c.cls), "");
    CHECK_STR_EQ(aap_class_hint(c.cls), "");
}

static void test_fallbacks(const aap_inapp_rules *r, aap_stack *st)
{
    /* a pure-library stack: uvicorn's own code run by the loop; the only
     * in-app frame is the entry point around the loop */
    static const spec lib[] = {
        {"/venv/site-packages/h11/_connection.py", 486, "send"},
        {"/venv/site-packages/uvicorn/protocols/http/h11_impl.py", 400, "run"},
        {"/py/lib/asyncio/events.py", 84, "_run"},
        {"/py/lib/asyncio/base_events.py", 1936, "_run_once"},
        {"/venv/site-packages/uvicorn/server.py", 70, "serve"},
        {"/app/main.py", 5, "<module>"},
    };
    /* library code the loop ran that called into asyncio (a fan-out) */
    static const spec fan[] = {
        {"/py/lib/_weakrefset.py", 88, "add"},
        {"/py/lib/asyncio/base_events.py", 450, "create_task"},
        {"/venv/site-packages/lib/spawn.py", 7, "spawn_all"},
        {"/py/lib/asyncio/events.py", 84, "_run"},
        {"/py/lib/asyncio/base_events.py", 1936, "_run_once"},
        {"/app/main.py", 5, "<module>"},
    };
    /* the loop's own bookkeeping */
    static const spec mach[] = {
        {"/py/lib/heapq.py", 80, "heappop"},
        {"/py/lib/asyncio/base_events.py", 1900, "_run_once"},
        {"/py/lib/asyncio/base_events.py", 600, "run_forever"},
        {"/app/main.py", 5, "<module>"},
    };
    /* a worker thread (a GIL holder): no machinery, the job is in-app */
    static const spec worker[] = {
        {"/app/svc/crunch.py", 31, "crunch"},
        {"/venv/site-packages/async_auditor/_install.py", 120, "run"},
        {"/py/lib/concurrent/futures/thread.py", 58, "run"},
        {"/py/lib/threading.py", 1010, "run"},
    };
    /* a directory that only shares the machinery prefix's text is the
     * standard library (a helper), not the machinery */
    static const spec near[] = {
        {"/py/lib/asyncio_extra/x.py", 3, "f"},
        {"/py/lib/asyncio/base_events.py", 1, "g"},
        {"/venv/site-packages/s/s.py", 2, "h"},
        {"/py/lib/asyncio/events.py", 84, "_run"},
    };
    aap_culprit c;

    set_stack(st, lib, N(lib));
    CHECK_INT_EQ(aap_culprit_frame(st, r), 0);
    aap_culprit_of(st, r, AAP_CLASS_CPU, &c);
    CHECK_STR_EQ(c.site, "/venv/site-packages/h11/_connection.py:486 send");
    CHECK_STR_EQ(c.chain, "h11/_connection.py:486 send");
    set_stack(st, fan, N(fan));
    CHECK_INT_EQ(aap_culprit_frame(st, r), 2);
    set_stack(st, mach, N(mach));
    CHECK_INT_EQ(aap_culprit_frame(st, r), 0);
    set_stack(st, worker, N(worker));
    CHECK_INT_EQ(aap_culprit_frame(st, r), 0);
    set_stack(st, near, N(near));
    CHECK_INT_EQ(aap_path_kind(r, near[0].file), AAP_PATH_STDLIB);
    CHECK_INT_EQ(aap_path_kind(r, near[1].file), AAP_PATH_MACHINERY);
    CHECK_INT_EQ(aap_culprit_frame(st, r), 2);
    /* no rules at all: the application is everything but the built-in
     * library paths */
    set_stack(st, lib, N(lib));
    CHECK_INT_EQ(aap_culprit_frame(st, NULL), 2);
    set_stack(st, lib, 0);
    CHECK_INT_EQ(aap_culprit_frame(st, r), -1);
    aap_culprit_of(st, r, AAP_CLASS_SLEEP, &c);
    CHECK_INT_EQ(c.frame, -1);
    CHECK_STR_EQ(c.site, "");
}

static void test_include_exclude(aap_inapp_rules *r, aap_stack *st)
{
    static const spec f[] = {
        {"/venv/site-packages/requests/api.py", 73, "get"},
        {"/venv/site-packages/mycorp/client.py", 20, "fetch"},
        {"/app/vendor/shim.py", 4, "call"},
        {"/app/svc/x.py", 8, "handler"},
    };
    aap_culprit c;

    set_stack(st, f, N(f));
    CHECK_INT_EQ(aap_culprit_frame(st, r), 2);
    /* include a package under site-packages: it is the user's */
    CHECK_INT_EQ(
        aap_inapp_add(r, "/venv/site-packages/mycorp/", AAP_PATH_APP, 0), 0);
    aap_culprit_of(st, r, AAP_CLASS_NETWORK, &c);
    CHECK_INT_EQ(c.frame, 1);
    CHECK_STR_EQ(c.chain, "mycorp/client.py:20 fetch \xe2\x86\x92 "
                          "requests.get");
    /* exclude an application directory: a library, named from its root */
    r->n--;
    CHECK_INT_EQ(aap_inapp_add(r, "/app/vendor/", AAP_PATH_LIBRARY, 0), 0);
    aap_culprit_of(st, r, AAP_CLASS_NETWORK, &c);
    CHECK_INT_EQ(c.frame, 3);
    CHECK_STR_EQ(c.chain, "svc/x.py:8 handler \xe2\x86\x92 vendor.call "
                          "\xe2\x86\x92 requests/api.py:73 get");
    /* on the same prefix the later rule wins */
    CHECK_INT_EQ(aap_inapp_add(r, "/app/vendor/", AAP_PATH_APP, 0), 0);
    CHECK_INT_EQ(aap_culprit_frame(st, r), 2);
}

static void test_chain_bounds(const aap_inapp_rules *r, aap_stack *st)
{
    spec f[3];
    char longfile[AAP_FILE_MAX], longfunc[AAP_FUNC_MAX];
    aap_culprit c;
    size_t i;

    /* 200 bytes of path of 2-byte characters, then a 90-byte function */
    memcpy(longfile, "/app/", 5);
    for (i = 5; i + 2 < 205; i += 2) {
        memcpy(longfile + i, "\xc3\xa9", 2);
    }
    memcpy(longfile + i, ".py", 4);
    memset(longfunc, 'f', 90);
    longfunc[90] = '\0';
    f[0].file = "/venv/site-packages/pkg/deep/module.py";
    f[0].line = 1;
    f[0].func = longfunc;
    f[1].file = "/venv/site-packages/pkg/api.py";
    f[1].line = 2;
    f[1].func = longfunc;
    f[2].file = longfile;
    f[2].line = 3;
    f[2].func = longfunc;
    set_stack(st, f, 3);
    aap_culprit_of(st, r, AAP_CLASS_CPU, &c);
    CHECK_INT_EQ(c.frame, 2);
    CHECK(strlen(c.chain) < AAP_CHAIN_LEN);
    CHECK(strlen(c.chain) > AAP_CHAIN_LEN - 16);
    CHECK(aat_utf8_valid(c.chain, strlen(c.chain)));
    /* the middle went first; the site's head and the innermost frame's
     * tail are kept */
    CHECK(strncmp(c.chain, "\xc3\xa9\xc3\xa9", 4) == 0);
    CHECK_STR_CONTAINS(c.chain, " \xe2\x86\x92 \xe2\x80\xa6 \xe2\x86\x92 ");
    CHECK(strcmp(c.chain + strlen(c.chain) - 5, "fffff") == 0);
    /* two parts too long: both cut, still valid */
    set_stack(st, f + 1, 2);
    aap_culprit_of(st, r, AAP_CLASS_CPU, &c);
    CHECK(strlen(c.chain) < AAP_CHAIN_LEN);
    CHECK(aat_utf8_valid(c.chain, strlen(c.chain)));
}

static void test_rules_table(void)
{
    aap_inapp_rules *r = calloc(1, sizeof(*r));
    char longp[AAP_FILE_MAX + 1];
    int i;

    CHECK(r != NULL);
    if (!r) {
        return;
    }
    CHECK_INT_EQ(aap_inapp_add(r, "", AAP_PATH_APP, 0), AAP_EINVAL);
    CHECK_INT_EQ(aap_inapp_add(r, NULL, AAP_PATH_APP, 0), AAP_EINVAL);
    CHECK_INT_EQ(aap_inapp_add(r, "/x/", 9, 0), AAP_EINVAL);
    memset(longp, 'a', AAP_FILE_MAX);
    longp[AAP_FILE_MAX] = '\0';
    CHECK_INT_EQ(aap_inapp_add(r, longp, AAP_PATH_APP, 0), AAP_EINVAL);
    for (i = 0; i < AAP_INAPP_RULES_MAX; i++) {
        CHECK_INT_EQ(aap_inapp_add(r, "/x/", AAP_PATH_LIBRARY, 0), 0);
    }
    CHECK_INT_EQ(aap_inapp_add(r, "/x/", AAP_PATH_LIBRARY, 0), AAP_ETOOBIG);
    free(r);
}

static void test_class_table(void)
{
    int a, b;

    CHECK_STR_EQ(aap_class_name(AAP_CLASS_NONE), "");
    CHECK_STR_EQ(aap_class_name(AAP_CLASS_N), "");
    CHECK_STR_EQ(aap_class_name(-1), "");
    for (a = 1; a < AAP_CLASS_N; a++) {
        CHECK(aap_class_name(a)[0] != '\0');
        CHECK(strlen(aap_class_hint(a)) > 20);
        for (b = a + 1; b < AAP_CLASS_N; b++) {
            CHECK(strcmp(aap_class_name(a), aap_class_name(b)) != 0);
        }
    }
    CHECK_STR_CONTAINS(aap_class_hint(AAP_CLASS_SLEEP), "asyncio.sleep");
}

/* The class of an episode from the time charged to each (aap_class_pick). */
static void test_class_pick(void)
{
    uint64_t ns[AAP_CLASS_N];

    memset(ns, 0, sizeof(ns));
    CHECK_INT_EQ(aap_class_pick(ns), AAP_CLASS_NONE);
    ns[AAP_CLASS_CPU] = 100;
    CHECK_INT_EQ(aap_class_pick(ns), AAP_CLASS_CPU);
    /* a wait of an eighth of the CPU time names what the CPU waited on */
    ns[AAP_CLASS_NETWORK] = 11;
    CHECK_INT_EQ(aap_class_pick(ns), AAP_CLASS_CPU);
    ns[AAP_CLASS_NETWORK] = 12;
    CHECK_INT_EQ(aap_class_pick(ns), AAP_CLASS_NETWORK);
    /* GIL samples never decide the class */
    ns[AAP_CLASS_GIL] = 1000;
    CHECK_INT_EQ(aap_class_pick(ns), AAP_CLASS_NETWORK);
    /* sqlite's commit: the directory's fsync (file) outweighs the
     * database file's own syncs, which still make it database I/O */
    memset(ns, 0, sizeof(ns));
    ns[AAP_CLASS_FILE_IO] = 300;
    ns[AAP_CLASS_DATABASE] = 200;
    CHECK_INT_EQ(aap_class_pick(ns), AAP_CLASS_DATABASE);
    ns[AAP_CLASS_DATABASE] = 37; /* an eighth */
    CHECK_INT_EQ(aap_class_pick(ns), AAP_CLASS_DATABASE);
    ns[AAP_CLASS_DATABASE] = 36;
    CHECK_INT_EQ(aap_class_pick(ns), AAP_CLASS_FILE_IO);
    ns[AAP_CLASS_DATABASE] = 0;
    CHECK_INT_EQ(aap_class_pick(ns), AAP_CLASS_FILE_IO);
    /* also when the file wait is what the CPU waited on */
    ns[AAP_CLASS_CPU] = 1000;
    ns[AAP_CLASS_DATABASE] = 40;
    CHECK_INT_EQ(aap_class_pick(ns), AAP_CLASS_DATABASE);
    /* sqlite on a fast disk: mostly the engine's CPU between syncs; a
     * thirty-second of database and file waits makes it database */
    memset(ns, 0, sizeof(ns));
    ns[AAP_CLASS_CPU] = 3200;
    ns[AAP_CLASS_DATABASE] = 60;
    ns[AAP_CLASS_FILE_IO] = 40;
    CHECK_INT_EQ(aap_class_pick(ns), AAP_CLASS_DATABASE);
    ns[AAP_CLASS_FILE_IO] = 39;
    CHECK_INT_EQ(aap_class_pick(ns), AAP_CLASS_CPU);
    /* file waits alone never make CPU a database's */
    ns[AAP_CLASS_DATABASE] = 0;
    ns[AAP_CLASS_FILE_IO] = 300;
    CHECK_INT_EQ(aap_class_pick(ns), AAP_CLASS_CPU);
    /* nor does a database wait under a thirty-second of the CPU */
    ns[AAP_CLASS_FILE_IO] = 0;
    ns[AAP_CLASS_DATABASE] = 99;
    CHECK_INT_EQ(aap_class_pick(ns), AAP_CLASS_CPU);
    /* a network wait of an eighth still names the network first */
    ns[AAP_CLASS_NETWORK] = 400;
    CHECK_INT_EQ(aap_class_pick(ns), AAP_CLASS_NETWORK);
}

int main(void)
{
    aap_inapp_rules *r = calloc(1, sizeof(*r));
    aap_stack *st = calloc(1, sizeof(*st));

    CHECK(r != NULL && st != NULL);
    if (r && st) {
        std_rules(r);
        test_requests(r, st);
        test_library_classes(r, st);
        test_kernel_class(r, st);
        test_fallbacks(r, st);
        test_chain_bounds(r, st);
        test_include_exclude(r, st);
    }
    test_rules_table();
    test_class_table();
    test_class_pick();
    free(r);
    free(st);
    return check_report("test_probe_culprit");
}
