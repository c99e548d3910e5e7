/*
 * aap_threads.c: names of the threads that held the GIL while a loop
 * waited for it.
 *
 * Why: a GIL-contention episode must say which thread starved the loop.
 * The watchdog knows the holder's kernel thread id (from its thread
 * state); the kernel's name for it (comm) is the Python thread's name from
 * 3.14 on, and the executable's name before.  So the extension records the
 * names of the threads it sees run executor jobs here (a small table, the
 * oldest entry giving way), and the kernel's name is the fallback.  Names
 * leave this file as valid UTF-8.  The table is reset in a forked child,
 * whose threads are new.
 */
#include "aap.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define NAMES_MAX 64

typedef struct name_entry {
    long tid;
    uint64_t stamp; /* when it was set, for replacing the oldest */
    char name[AAP_THREAD_NAME_LEN];
} name_entry;

static pthread_mutex_t names_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t names_once = PTHREAD_ONCE_INIT;
static name_entry names[NAMES_MAX];
static uint64_t names_clock;

static void fork_prepare(void)
{
    pthread_mutex_lock(&names_lock);
}

static void fork_parent(void)
{
    pthread_mutex_unlock(&names_lock);
}

static void fork_child(void)
{
    memset(names, 0, sizeof(names));
    names_clock = 0;
    pthread_mutex_unlock(&names_lock);
}

static void names_init(void)
{
    pthread_atfork(fork_prepare, fork_parent, fork_child);
}

/* Copy s[0..n) into out as valid UTF-8: an invalid byte as \xNN, control
 * characters as '?', never cut inside a character. */
static void clean_copy(char *out, size_t cap, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, o = 0;

    while (i < n && u[i]) {
        size_t k = aat_utf8_seq(u + i, n - i);

        if (k == 0) {
            if (o + 4 >= cap) {
                break;
            }
            out[o++] = '\\';
            out[o++] = 'x';
            out[o++] = hex[u[i] >> 4];
            out[o++] = hex[u[i] & 0xF];
            i++;
            continue;
        }
        if (o + k >= cap) {
            break;
        }
        if (k == 1 && (u[i] < 0x20 || u[i] == 0x7f)) {
            out[o++] = '?';
        } else {
            memcpy(out + o, u + i, k);
            o += k;
        }
        i += k;
    }
    out[o] = '\0';
}

void aap_thread_name_set(long tid, const char *name)
{
    name_entry *e = NULL;
    int i;

    if (tid <= 0 || !name) {
        return;
    }
    pthread_once(&names_once, names_init);
    pthread_mutex_lock(&names_lock);
    for (i = 0; i < NAMES_MAX; i++) {
        if (names[i].tid == tid) {
            e = &names[i];
            break;
        }
        if (!e || names[i].stamp < e->stamp) {
            e = &names[i];
        }
    }
    e->tid = tid;
    e->stamp = ++names_clock;
    clean_copy(e->name, sizeof(e->name), name, strlen(name));
    pthread_mutex_unlock(&names_lock);
}

void aap_thread_name(long tid, char *out, size_t cap)
{
    char path[64], comm[64];
    ssize_t n = -1;
    int i, fd;

    if (cap == 0) {
        return;
    }
    out[0] = '\0';
    if (tid <= 0) {
        return;
    }
    pthread_once(&names_once, names_init);
    pthread_mutex_lock(&names_lock);
    for (i = 0; i < NAMES_MAX; i++) {
        if (names[i].tid == tid) {
            snprintf(out, cap, "%s", names[i].name);
            break;
        }
    }
    pthread_mutex_unlock(&names_lock);
    if (out[0]) {
        return;
    }
    snprintf(path, sizeof(path), "/proc/self/task/%ld/comm", tid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        do {
            n = read(fd, comm, sizeof(comm) - 1);
        } while (n < 0 && errno == EINTR);
        close(fd);
    }
    if (n <= 0) {
        return;
    }
    if (comm[n - 1] == '\n') {
        n--;
    }
    clean_copy(out, cap, comm, (size_t)n);
}
