/*
 * aap_culprit.h: naming the culprit of a blocking episode from a captured
 * stack and from what the blocked thread is doing in the kernel.
 *
 * The site is the innermost *in-app* frame: a frame is in-app unless its
 * file is under the standard library, under site-packages/dist-packages,
 * frozen (<frozen ...>), or in the probe; the Python layer turns the
 * interpreter's directories and the user's include/exclude entries into
 * path-prefix rules (aap_inapp_rules).  The library frames the site called
 * form the chain ("app.py:15 refresh → requests.get → socket.py:706
 * readinto") and, with the kernel state of the thread (a syscall, a futex,
 * on CPU), give a culprit class with a one-line remedy.  Plain C, no
 * Python.h, no allocation: the watchdog calls it on every sample.
 */
#ifndef AAP_CULPRIT_H
#define AAP_CULPRIT_H

#include <stddef.h>
#include <stdint.h>

#include "aap_py.h"

/* What a path-prefix rule says about the files under it. */
enum aap_path_kind {
    AAP_PATH_APP = 0,       /* in-app (also every file no rule matches) */
    AAP_PATH_LIBRARY = 1,   /* third-party code (site-packages, excludes) */
    AAP_PATH_STDLIB = 2,    /* the standard library, frozen modules */
    AAP_PATH_MACHINERY = 3, /* the event loop's own code: asyncio, probe */
    AAP_PATH_ROOT = 4       /* only a sys.path root, for module names */
};

#define AAP_INAPP_RULES_MAX 64

typedef struct aap_inapp_rules {
    size_t n;
    char prefix[AAP_INAPP_RULES_MAX][AAP_FILE_MAX];
    unsigned char kind[AAP_INAPP_RULES_MAX]; /* enum aap_path_kind */
    unsigned char root[AAP_INAPP_RULES_MAX]; /* a sys.path root */
} aap_inapp_rules;

/*
 * Add a rule (prefix copied).  The longest matching prefix decides a
 * file's kind (so an include under site-packages wins over site-packages);
 * root marks a sys.path root, from which module names are derived.
 * AAP_PATH_ROOT rules only name roots.  AAP_EINVAL when prefix is empty,
 * not shorter than AAP_FILE_MAX or kind unknown, AAP_ETOOBIG when full.
 */
int aap_inapp_add(aap_inapp_rules *r, const char *prefix, int kind, int root);

/* The kind of file under r (NULL: no rules, only the built-in ones: any
 * path containing /site-packages/ or /dist-packages/ is a library, a
 * "<frozen ...>" file is the standard library). */
int aap_path_kind(const aap_inapp_rules *r, const char *file);

/* Culprit classes.  The order is the table order in aap_culprit.c. */
enum aap_class {
    AAP_CLASS_NONE = 0, /* unknown */
    AAP_CLASS_SLEEP,
    AAP_CLASS_HTTP_CLIENT,
    AAP_CLASS_REDIS,
    AAP_CLASS_DATABASE,
    AAP_CLASS_SERIALIZATION,
    AAP_CLASS_REGEX,
    AAP_CLASS_CPU_BUILTIN,
    AAP_CLASS_LOGGING,
    AAP_CLASS_FILE_IO,
    AAP_CLASS_NETWORK,
    AAP_CLASS_SUBPROCESS,
    AAP_CLASS_LOCK,
    AAP_CLASS_CPU,
    AAP_CLASS_GIL,
    AAP_CLASS_N
};

/* The class's name ("" for AAP_CLASS_NONE) and its one-line remedy
 * ("" for none); static strings, never NULL. */
const char *aap_class_name(int cls);
const char *aap_class_hint(int cls);

/* ---- the thread's kernel state (aap_syscall.c) ----------------------- */

enum aap_kstate {
    AAP_KS_UNKNOWN = 0, /* /proc unreadable */
    AAP_KS_RUNNING = 1, /* on CPU (or runnable) */
    AAP_KS_SYSCALL = 2, /* in a system call: nr and args */
    AAP_KS_BLOCKED = 3  /* in the kernel outside a system call */
};

typedef struct aap_ksample {
    int state; /* enum aap_kstate */
    long nr;
    uint64_t arg[6];
} aap_ksample;

/* Parse the text of /proc/<pid>/task/<tid>/syscall ("running", "-1 sp
 * pc", or "nr a0 .. a5 sp pc" in hex); AAP_EINVAL on anything else. */
int aap_syscall_parse(const char *text, aap_ksample *out);
/* Read and parse it for thread tid of this process; AAP_KS_UNKNOWN in
 * out (and -1) when it cannot be read. */
int aap_syscall_read(long tid, aap_ksample *out);

/* What a blocked thread is waiting for. */
enum aap_kwait {
    AAP_KW_UNKNOWN = 0,
    AAP_KW_CPU,    /* running Python or C code */
    AAP_KW_SLEEP,  /* nanosleep and friends */
    AAP_KW_FUTEX,  /* a futex wait: a lock, or the GIL */
    AAP_KW_NET,    /* a socket */
    AAP_KW_FILE,   /* a regular file or the file system */
    AAP_KW_DBFILE, /* a file named like a database (*.db, *-journal...) */
    AAP_KW_PIPE,   /* a pipe or a child process */
    AAP_KW_OTHER   /* another system call */
};

/* The kind of file descriptor fd of this process (readlink of
 * /proc/self/fd/fd): one of AAP_KW_NET, _FILE, _DBFILE, _PIPE, _OTHER,
 * AAP_KW_UNKNOWN when it cannot be told. */
typedef int (*aap_fd_kind_fn)(int fd, void *ctx);
int aap_fd_kind(int fd, void *ctx);
/* The kind of a path as readlink() gives it ("socket:[..]", "/x.db"). */
int aap_fd_link_kind(const char *link);

/*
 * What the thread sampled in k waits for; fd_kind tells descriptors apart
 * (aap_fd_kind for this process); *futex is set to the futex word of a
 * futex wait.  Poll-style calls are judged by their first descriptor,
 * read from this process's memory.
 */
int aap_kstate_wait(const aap_ksample *k, aap_fd_kind_fn fd_kind, void *ctx,
                    uint64_t *futex);

/* The culprit class of a kernel wait (AAP_CLASS_NONE when it says
 * nothing), AAP_KW_FUTEX being a lock (GIL waits are told apart first). */
int aap_class_of_wait(int wait);

/*
 * The class of a site or an episode from the time charged to each class
 * (ns[AAP_CLASS_N], AAP_CLASS_GIL ignored): the class charged the most
 * time, except that a class naming what the code waits for (a database
 * file, a socket, a sleep...) wins over plain CPU once it has at least
 * an eighth of the CPU time: a C call that computes inside sqlite and
 * then waits for its file is a database call.  Likewise database wins
 * over file I/O once it has an eighth of the file time: a database
 * engine also syncs files that do not look like its own (sqlite syncs
 * the directory after creating its journal).  And database wins over
 * CPU once its waits, with the file waits beside them, have a
 * thirty-second of the CPU time: an embedded engine's CPU (sqlite's
 * B-tree between its syncs on a fast disk) is the database's.
 */
int aap_class_pick(const uint64_t *ns);

/* ---- the culprit of one stack (aap_culprit.c) ------------------------ */

#define AAP_CHAIN_LEN 256
#define AAP_SITE_LEN 384

typedef struct aap_culprit {
    int frame;               /* index of the site in the stack, -1: none */
    char site[AAP_SITE_LEN]; /* "path:line function" of that frame */
    char chain[AAP_CHAIN_LEN];
    int cls; /* enum aap_class */
} aap_culprit;

/*
 * The frame of st that names the site: the innermost in-app frame.  When
 * no frame is in-app (a pure library stack), the rule of the loop's
 * machinery applies: if the innermost frames are the loop's machinery
 * (below standard-library helpers it called), the site is the first frame
 * outside that run, provided more machinery encloses it (code the loop
 * ran that called into asyncio); otherwise the innermost frame.  -1 only
 * when st has no frames.
 */
int aap_culprit_frame(const aap_stack *st, const aap_inapp_rules *r);

/*
 * The culprit of st: its site, the chain (the site, the first library
 * frame it called as "package.function", the innermost frame as
 * "relative/path.py:line function", joined with " → ", at most
 * AAP_CHAIN_LEN - 1 bytes of valid UTF-8, shortened in the middle) and
 * the class: the outermost library frame below the site that is a known
 * culprit (requests, redis, json, logging ...), else wait_class (what
 * the kernel says, aap_class_of_wait()).
 */
void aap_culprit_of(const aap_stack *st, const aap_inapp_rules *r,
                    int wait_class, aap_culprit *out);

/* ---- names of threads (aap_threads.c) -------------------------------- */

#define AAP_THREAD_NAME_LEN 64

/* Remember the name of kernel thread tid (bounded table; the oldest entry
 * gives way).  Any thread. */
void aap_thread_name_set(long tid, const char *name);
/* The name of thread tid: the remembered one, else the kernel's (comm),
 * else "" ; valid UTF-8. */
void aap_thread_name(long tid, char *out, size_t cap);

#endif
