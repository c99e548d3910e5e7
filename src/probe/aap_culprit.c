/*
 * aap_culprit.c: which frame of a blocking episode's stack is the site,
 * the call chain below it, and the culprit class with its remedy.
 *
 * Why: the innermost Python frame of a blocked loop is usually library
 * code (socket.py readinto under requests.get, json/encoder.py under
 * json.dumps) while the line to change is the user's, further out.  The
 * site is therefore the innermost in-app frame (aap_culprit.h says what
 * in-app means); the library frames it called are kept as the chain and
 * tell the class of the culprit.  The class table and the remedies live
 * here and nowhere else.
 */
#include "aap_int.h"

#include <stdio.h>
#include <string.h>

/* " → " between the parts of a chain. */
#define ARROW " \xe2\x86\x92 "
#define ELLIPSIS "\xe2\x80\xa6"

static const struct {
    const char *name;
    const char *hint;
} classes[AAP_CLASS_N] = {
    [AAP_CLASS_NONE] = {"", ""},
    [AAP_CLASS_SLEEP] = {"sleep", "use `await asyncio.sleep(...)` instead of "
                                  "`time.sleep(...)`"},
    [AAP_CLASS_HTTP_CLIENT] = {"http_client",
                               "use an async client (httpx.AsyncClient, "
                               "aiohttp) or `await asyncio.to_thread(...)`"},
    [AAP_CLASS_REDIS] = {"redis", "use redis.asyncio (redis-py's async "
                                  "client) or `await asyncio.to_thread(...)`"},
    [AAP_CLASS_DATABASE] = {"database",
                            "use the async driver (aiosqlite, asyncpg or "
                            "psycopg's async API, aiomysql) or `await "
                            "asyncio.to_thread(...)`"},
    [AAP_CLASS_SERIALIZATION] = {"serialization",
                                 "serialize large payloads in `await "
                                 "asyncio.to_thread(...)` or a process "
                                 "pool, or send smaller ones"},
    [AAP_CLASS_REGEX] = {"regex",
                         "fix the pattern's backtracking or bound its "
                         "input; `re` holds the GIL, so run big matches in "
                         "a process pool"},
    [AAP_CLASS_CPU_BUILTIN] = {"cpu_builtin",
                               "run it in `await asyncio.to_thread(...)`: "
                               "hashlib, zlib, bz2, lzma and bcrypt release "
                               "the GIL on large inputs"},
    [AAP_CLASS_LOGGING] = {"logging", "log through a `QueueHandler` so "
                                      "handlers run in a thread"},
    [AAP_CLASS_FILE_IO] = {"file_io", "move file I/O and fsync to `await "
                                      "asyncio.to_thread(...)` (or "
                                      "aiofiles)"},
    [AAP_CLASS_NETWORK] = {"network",
                           "use asyncio streams or an async client instead "
                           "of a blocking socket, or `await "
                           "asyncio.to_thread(...)`"},
    [AAP_CLASS_SUBPROCESS] = {"subprocess",
                              "use `asyncio.create_subprocess_exec(...)` "
                              "instead of waiting for a child process"},
    [AAP_CLASS_LOCK] = {"lock", "do not wait for threading locks, queues or "
                                "futures on the loop: `await "
                                "asyncio.wrap_future(...)`, asyncio.Lock, or "
                                "`asyncio.to_thread(...)`"},
    [AAP_CLASS_CPU] = {"cpu", "split the work with `await asyncio.sleep(0)` "
                              "between chunks, or run it in a process pool "
                              "(`loop.run_in_executor(ProcessPoolExecutor(), "
                              "...)`)"},
    [AAP_CLASS_GIL] = {"gil",
                       "another thread held the GIL: run CPU-bound Python "
                       "work in a process pool; `asyncio.to_thread` does "
                       "not help CPU-bound code"},
};

/* Library code that names a culprit class, by path below its sys.path
 * root; the outermost such frame under the site decides. */
static const struct {
    const char *rel;
    int cls;
} libraries[] = {
    {"requests/", AAP_CLASS_HTTP_CLIENT},
    {"urllib3/", AAP_CLASS_HTTP_CLIENT},
    {"httpx/", AAP_CLASS_HTTP_CLIENT},
    {"httpcore/", AAP_CLASS_HTTP_CLIENT},
    {"http/client.py", AAP_CLASS_HTTP_CLIENT},
    {"urllib/request.py", AAP_CLASS_HTTP_CLIENT},
    {"redis/", AAP_CLASS_REDIS},
    {"sqlite3/", AAP_CLASS_DATABASE},
    {"psycopg2/", AAP_CLASS_DATABASE},
    {"psycopg/", AAP_CLASS_DATABASE},
    {"pymysql/", AAP_CLASS_DATABASE},
    {"MySQLdb/", AAP_CLASS_DATABASE},
    {"sqlalchemy/", AAP_CLASS_DATABASE},
    {"pymongo/", AAP_CLASS_DATABASE},
    {"json/", AAP_CLASS_SERIALIZATION},
    {"simplejson/", AAP_CLASS_SERIALIZATION},
    {"pickle.py", AAP_CLASS_SERIALIZATION},
    {"yaml/", AAP_CLASS_SERIALIZATION},
    {"xml/", AAP_CLASS_SERIALIZATION},
    {"csv.py", AAP_CLASS_SERIALIZATION},
    {"re/", AAP_CLASS_REGEX},
    {"re.py", AAP_CLASS_REGEX},
    {"sre_compile.py", AAP_CLASS_REGEX},
    {"sre_parse.py", AAP_CLASS_REGEX},
    {"regex/", AAP_CLASS_REGEX},
    {"hashlib.py", AAP_CLASS_CPU_BUILTIN},
    {"hmac.py", AAP_CLASS_CPU_BUILTIN},
    {"bcrypt/", AAP_CLASS_CPU_BUILTIN},
    {"gzip.py", AAP_CLASS_CPU_BUILTIN},
    {"lzma.py", AAP_CLASS_CPU_BUILTIN},
    {"bz2.py", AAP_CLASS_CPU_BUILTIN},
    {"zipfile", AAP_CLASS_CPU_BUILTIN},
    {"tarfile.py", AAP_CLASS_CPU_BUILTIN},
    {"base64.py", AAP_CLASS_CPU_BUILTIN},
    {"logging/", AAP_CLASS_LOGGING},
    {"shutil.py", AAP_CLASS_FILE_IO},
    {"tempfile.py", AAP_CLASS_FILE_IO},
    {"glob.py", AAP_CLASS_FILE_IO},
    {"os.py", AAP_CLASS_FILE_IO},
    {"pathlib", AAP_CLASS_FILE_IO},
    {"socket.py", AAP_CLASS_NETWORK},
    {"ssl.py", AAP_CLASS_NETWORK},
    {"selectors.py", AAP_CLASS_NETWORK},
    {"smtplib.py", AAP_CLASS_NETWORK},
    {"ftplib.py", AAP_CLASS_NETWORK},
    {"subprocess.py", AAP_CLASS_SUBPROCESS},
    {"multiprocessing/", AAP_CLASS_SUBPROCESS},
    {"threading.py", AAP_CLASS_LOCK},
    {"queue.py", AAP_CLASS_LOCK},
    {"concurrent/futures/", AAP_CLASS_LOCK},
};

const char *aap_class_name(int cls)
{
    return cls > 0 && cls < AAP_CLASS_N ? classes[cls].name : "";
}

const char *aap_class_hint(int cls)
{
    return cls > 0 && cls < AAP_CLASS_N ? classes[cls].hint : "";
}

int aap_class_of_wait(int wait)
{
    switch (wait) {
    case AAP_KW_CPU:
        return AAP_CLASS_CPU;
    case AAP_KW_SLEEP:
        return AAP_CLASS_SLEEP;
    case AAP_KW_FUTEX:
        return AAP_CLASS_LOCK;
    case AAP_KW_NET:
        return AAP_CLASS_NETWORK;
    case AAP_KW_FILE:
        return AAP_CLASS_FILE_IO;
    case AAP_KW_DBFILE:
        return AAP_CLASS_DATABASE;
    case AAP_KW_PIPE:
        return AAP_CLASS_SUBPROCESS;
    default:
        return AAP_CLASS_NONE;
    }
}

int aap_class_pick(const uint64_t *ns)
{
    int c, best = AAP_CLASS_NONE, waited = AAP_CLASS_NONE;

    for (c = 1; c < AAP_CLASS_N; c++) {
        if (c == AAP_CLASS_GIL) {
            continue;
        }
        if (ns[c] > ns[best]) {
            best = c;
        }
        if (c != AAP_CLASS_CPU && ns[c] > ns[waited]) {
            waited = c;
        }
    }
    if (best == AAP_CLASS_CPU && waited != AAP_CLASS_NONE &&
        ns[waited] >= ns[AAP_CLASS_CPU] / 8) {
        best = waited;
    }
    /* An embedded engine computes on the calling thread between its
     * syncs, however fast the disk: CPU around waits for a database
     * (with the file syncs beside them) is that database's, once they
     * have a thirty-second of it (two samples of a 30 ms threshold's
     * resampling in a quarter of a second). */
    if (best == AAP_CLASS_CPU && ns[AAP_CLASS_DATABASE] > 0 &&
        ns[AAP_CLASS_DATABASE] + ns[AAP_CLASS_FILE_IO] >=
            ns[AAP_CLASS_CPU] / 32) {
        best = AAP_CLASS_DATABASE;
    }
    /* A database engine's commit also syncs what does not look like its
     * files (sqlite fsyncs the directory after creating its journal):
     * file waits beside a database file's are that database's. */
    if (best == AAP_CLASS_FILE_IO && ns[AAP_CLASS_DATABASE] > 0 &&
        ns[AAP_CLASS_DATABASE] >= ns[AAP_CLASS_FILE_IO] / 8) {
        best = AAP_CLASS_DATABASE;
    }
    return best;
}

int aap_inapp_add(aap_inapp_rules *r, const char *prefix, int kind, int root)
{
    size_t len = prefix ? strlen(prefix) : 0;

    if (len == 0 || len >= AAP_FILE_MAX || kind < AAP_PATH_APP ||
        kind > AAP_PATH_ROOT) {
        return AAP_EINVAL;
    }
    if (r->n >= AAP_INAPP_RULES_MAX) {
        return AAP_ETOOBIG;
    }
    memcpy(r->prefix[r->n], prefix, len + 1);
    r->kind[r->n] = (unsigned char)kind;
    r->root[r->n] = (unsigned char)(root || kind == AAP_PATH_ROOT);
    r->n++;
    return 0;
}

/* Length of the built-in library root of file: up to and including the
 * last "/site-packages/" or "/dist-packages/"; 0 when there is none. */
static size_t packages_root(const char *file)
{
    static const char *const dirs[] = {"/site-packages/", "/dist-packages/"};
    size_t best = 0, i;

    for (i = 0; i < 2; i++) {
        const char *p = file, *hit;

        while ((hit = strstr(p, dirs[i])) != NULL) {
            size_t end = (size_t)(hit - file) + strlen(dirs[i]);

            if (end > best) {
                best = end;
            }
            p = hit + 1;
        }
    }
    return best;
}

static int is_frozen(const char *file)
{
    return strncmp(file, "<frozen ", 8) == 0;
}

int aap_path_kind(const aap_inapp_rules *r, const char *file)
{
    size_t best = packages_root(file), i;
    int kind = best ? AAP_PATH_LIBRARY : AAP_PATH_APP;

    if (is_frozen(file)) {
        return AAP_PATH_STDLIB;
    }
    for (i = 0; r && i < r->n; i++) {
        size_t len = strlen(r->prefix[i]);

        /* on the same length the later rule wins: the user's own
         * entries come after the built-in ones */
        if (r->kind[i] != AAP_PATH_ROOT && len >= best &&
            strncmp(file, r->prefix[i], len) == 0) {
            best = len;
            kind = r->kind[i];
        }
    }
    return kind;
}

/* Where the module path of file starts: after its sys.path root, else
 * after its directory. */
static const char *module_path(const aap_inapp_rules *r, const char *file)
{
    size_t best = packages_root(file), i;
    const char *slash;

    for (i = 0; r && i < r->n; i++) {
        size_t len = strlen(r->prefix[i]);

        if (r->root[i] && len > best &&
            strncmp(file, r->prefix[i], len) == 0) {
            best = len;
        }
    }
    if (best) {
        return file + best;
    }
    slash = strrchr(file, '/');
    return slash ? slash + 1 : file;
}

/* "package.function" for frame f: the top-level module of its file. */
static void entry_label(const aap_inapp_rules *r, const aap_frame *f,
                        char *out, size_t cap)
{
    const char *rel = module_path(r, f->file), *end;
    size_t n;

    if (is_frozen(f->file)) {
        rel = f->file + 8;
        end = rel + strcspn(rel, ".>");
    } else {
        end = rel + strcspn(rel, "/");
        if (!*end && (n = (size_t)(end - rel)) > 3 &&
            strcmp(end - 3, ".py") == 0) {
            end -= 3;
        }
    }
    n = (size_t)(end - rel);
    snprintf(out, cap, "%.*s.%s", (int)n, rel, f->func);
}

/* "relative/path.py:line function" for frame f. */
static void frame_label(const aap_inapp_rules *r, const aap_frame *f,
                        char *out, size_t cap)
{
    snprintf(out, cap, "%s:%d %s", module_path(r, f->file), f->line, f->func);
}

/* The class of the library frame f, or AAP_CLASS_NONE. */
static int library_class(const aap_inapp_rules *r, const aap_frame *f)
{
    const char *rel = module_path(r, f->file);
    size_t i;

    for (i = 0; i < sizeof(libraries) / sizeof(libraries[0]); i++) {
        if (strncmp(rel, libraries[i].rel, strlen(libraries[i].rel)) == 0) {
            return libraries[i].cls;
        }
    }
    return AAP_CLASS_NONE;
}

static void kinds_of(const aap_stack *st, const aap_inapp_rules *r, int *kind)
{
    int i;

    for (i = 0; i < st->n; i++) {
        kind[i] = aap_path_kind(r, st->frames[i].file);
    }
}

static int site_of(const aap_stack *st, const int *kind)
{
    int i, site, outer_machinery = -1;

    if (st->n <= 0) {
        return -1;
    }
    for (i = 0; i < st->n; i++) {
        if (kind[i] == AAP_PATH_MACHINERY) {
            outer_machinery = i;
        }
    }
    /* in-app code the loop ran: not the program's entry point around
     * asyncio.run() or loop.run_forever(), which encloses the machinery */
    for (i = 0; i < st->n; i++) {
        if (kind[i] == AAP_PATH_APP &&
            (outer_machinery < 0 || i < outer_machinery)) {
            return i;
        }
    }
    /* no in-app frame: code the loop ran that called into asyncio (below
     * stdlib helpers asyncio called), provided more machinery encloses
     * it; otherwise the innermost frame */
    i = 0;
    while (i < st->n && kind[i] == AAP_PATH_STDLIB) {
        i++;
    }
    if (i == st->n || kind[i] != AAP_PATH_MACHINERY) {
        return 0;
    }
    while (i < st->n && kind[i] != AAP_PATH_LIBRARY &&
           kind[i] != AAP_PATH_APP) {
        i++;
    }
    site = i;
    return site < outer_machinery ? site : 0;
}

int aap_culprit_frame(const aap_stack *st, const aap_inapp_rules *r)
{
    int kind[AAP_STACK_MAX];

    if (st->n <= 0) {
        return -1;
    }
    kinds_of(st, r, kind);
    return site_of(st, kind);
}

/* Cut s (NUL-terminated) to at most max bytes, keeping its head and
 * ending it with an ellipsis, never inside a UTF-8 character. */
static void cut_head(char *s, size_t max)
{
    size_t len = strlen(s), keep = 0, k;
    const size_t el = sizeof(ELLIPSIS) - 1;

    if (len <= max) {
        return;
    }
    while (keep < len && max >= el &&
           (k = aat_utf8_seq((const unsigned char *)s + keep, len - keep)) &&
           keep + k <= max - el) {
        keep += k;
    }
    if (max < el) {
        s[0] = '\0';
        return;
    }
    memcpy(s + keep, ELLIPSIS, el + 1);
}

/* Cut s to at most max bytes, keeping its tail behind an ellipsis. */
static void cut_tail(char *s, size_t max)
{
    size_t len = strlen(s), from;
    const size_t el = sizeof(ELLIPSIS) - 1;

    if (len <= max) {
        return;
    }
    if (max < el) {
        s[0] = '\0';
        return;
    }
    from = len - (max - el);
    while (from < len && ((unsigned char)s[from] & 0xC0) == 0x80) {
        from++;
    }
    memmove(s + el, s + from, len - from + 1);
    memcpy(s, ELLIPSIS, el);
}

/* Join the parts into out (AAP_CHAIN_LEN), shortening the middle first,
 * then the site's tail and the innermost frame's head. */
static void join(char parts[3][AAP_SITE_LEN], int n, char *out)
{
    const size_t room = AAP_CHAIN_LEN - 1, sep = sizeof(ARROW) - 1;
    size_t total = 0, budget;
    int i;

    for (i = 0; i < n; i++) {
        total += strlen(parts[i]) + (i ? sep : 0);
    }
    if (total > room && n == 3) {
        total -= strlen(parts[1]);
        snprintf(parts[1], AAP_SITE_LEN, "%s", ELLIPSIS);
        total += strlen(parts[1]);
    }
    if (total > room) {
        budget =
            room - (size_t)(n - 1) * sep - (n == 3 ? strlen(parts[1]) : 0);
        if (n == 1) {
            cut_head(parts[0], budget);
        } else {
            size_t first = strlen(parts[0]), last = strlen(parts[n - 1]);
            size_t half = budget / 2;

            if (first <= half) {
                cut_tail(parts[n - 1], budget - first);
            } else if (last <= budget - half) {
                cut_head(parts[0], budget - last);
            } else {
                cut_head(parts[0], half);
                cut_tail(parts[n - 1], budget - half);
            }
        }
    }
    out[0] = '\0';
    for (i = 0; i < n; i++) {
        size_t len = strlen(out);

        snprintf(out + len, AAP_CHAIN_LEN - len, "%s%s", i ? ARROW : "",
                 parts[i]);
    }
}

void aap_culprit_of(const aap_stack *st, const aap_inapp_rules *r,
                    int wait_class, aap_culprit *out)
{
    char parts[3][AAP_SITE_LEN];
    int kind[AAP_STACK_MAX], site, i, n = 0;

    memset(out, 0, sizeof(*out));
    out->frame = -1;
    out->cls = wait_class;
    if (st->n <= 0) {
        return;
    }
    kinds_of(st, r, kind);
    site = site_of(st, kind);
    out->frame = site;
    aap_site_format(&st->frames[site], out->site, sizeof(out->site));
    frame_label(r, &st->frames[site], parts[n++], AAP_SITE_LEN);
    if (site >= 1) {
        entry_label(r, &st->frames[site - 1], parts[n++], AAP_SITE_LEN);
    }
    if (site >= 2) {
        frame_label(r, &st->frames[0], parts[n++], AAP_SITE_LEN);
    }
    join(parts, n, out->chain);
    /* the outermost known library under the site (the site itself too
     * when it is not in-app: a stack with no in-app frame) */
    for (i = kind[site] == AAP_PATH_APP ? site - 1 : site; i >= 0; i--) {
        int cls = library_class(r, &st->frames[i]);

        if (cls != AAP_CLASS_NONE) {
            out->cls = cls;
            break;
        }
    }
}
