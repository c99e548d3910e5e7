/*
 * aap_state.c: this process's series store, the writer side of the
 * arena format (aap_arena.h).
 *
 * Why it exists: to export the values of several processes from any one
 * of them, every exported value must live in memory the others can map.
 * Owners allocate a record per series here once and then update its
 * cells directly (the hot paths write the same relaxed atomics as they
 * would to a field of their own).  Allocation, relabelling and release
 * take the state lock (innermost lock of the library); identity changes
 * go through the record's seqlock so a reader, in this process or
 * another, sees either the old series or the new one.
 *
 * Kept records: in a process that belongs to a group, a counter or
 * histogram whose owner goes away (a loop closed at shutdown) stays in
 * the arena with its last values, so the worker's totals do not go
 * backwards when it exits; a later owner of the same series (a loop of
 * the same name) adopts it and goes on counting.  Outside a group the
 * record is freed, as the process's own view expects.
 */
#include "aap_int.h"
#include "aap_shm.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static pthread_mutex_t st_lock = PTHREAD_MUTEX_INITIALIZER;
static aap_shm st_shm;
static aap_arena_hdr *st_hdr; /* NULL until the arena is made */
static int st_poisoned;       /* a fork child could not copy it */
static int st_backing_errno;  /* why it is anonymous */
static int st_group_fd = -1;  /* directory it is linked into */
static int st_grouped;        /* linked and exported (not left) */
static char st_name[64];      /* its name there */
static _Atomic uint64_t st_sink[AAP_CELLS_MAX];

/* ---- labels ------------------------------------------------------------ */

/* "name\0value\0"... of labels into buf (cap bytes); values are cut so
 * that the whole fits.  Returns the length, or 0 with nothing fitting. */
static size_t labels_encode(const aap_label *l, size_t n, char *buf,
                            size_t cap)
{
    size_t i, fixed = 0, room, len = 0;

    for (i = 0; i < n; i++) {
        fixed += strlen(l[i].name) + 2;
    }
    if (fixed > cap) {
        return 0;
    }
    room = cap - fixed;
    for (i = 0; i < n; i++) {
        size_t nl = strlen(l[i].name), vl = strlen(l[i].value);

        if (vl > room) {
            vl = room;
        }
        room -= vl;
        memcpy(buf + len, l[i].name, nl + 1);
        len += nl + 1;
        memcpy(buf + len, l[i].value, vl);
        len += vl;
        buf[len++] = '\0';
    }
    return len;
}

static void words_put(_Atomic uint64_t *w, size_t nwords, const char *buf,
                      size_t len)
{
    size_t i;

    for (i = 0; i < nwords; i++) {
        uint64_t v = 0;

        if (i * 8 < len) {
            size_t k = len - i * 8 < 8 ? len - i * 8 : 8;

            memcpy(&v, buf + i * 8, k);
        }
        atomic_store_explicit(&w[i], v, memory_order_release);
    }
}

static void words_get(_Atomic uint64_t *w, char *buf, size_t len)
{
    size_t i;

    for (i = 0; i * 8 < len; i++) {
        uint64_t v = atomic_load_explicit(&w[i], memory_order_relaxed);
        size_t k = len - i * 8 < 8 ? len - i * 8 : 8;

        memcpy(buf + i * 8, &v, k);
    }
}

/* ---- records ----------------------------------------------------------- */

static aap_rec *rec_at(size_t off)
{
    return (aap_rec *)(void *)(st_shm.base + off);
}

static uint32_t rec_base_state(const aap_rec *r)
{
    return atomic_load_explicit(&((aap_rec *)r)->state, memory_order_relaxed) &
           ~AAP_REC_HIDDEN;
}

/* Begin/end an identity change of r (the seqlock's writer side).  The
 * stores between are release stores and the reader's loads acquire
 * loads: a reader that sees any of them sees the odd sequence number
 * too, so it retries (no fences: TSan checks this as written). */
static void seq_begin(aap_rec *r)
{
    uint32_t s = atomic_load_explicit(&r->seq, memory_order_relaxed);

    atomic_store_explicit(&r->seq, s + 1, memory_order_relaxed);
}

static void seq_end(aap_rec *r)
{
    uint32_t s = atomic_load_explicit(&r->seq, memory_order_relaxed);

    atomic_store_explicit(&r->seq, s + 1, memory_order_release);
}

static void cells_zero(aap_rec *r)
{
    _Atomic uint64_t *c = aap_rec_cells(r);
    size_t i;

    for (i = 0; i < r->ncells; i++) {
        atomic_store_explicit(&c[i], 0, memory_order_release);
    }
}

/* Whether r's labels equal buf[0..len) (prefix: start with it). */
static int labels_match(aap_rec *r, const char *buf, size_t len, int prefix)
{
    char have[AAP_LABELS_MAX];
    size_t hl = atomic_load_explicit(&r->label_len, memory_order_relaxed);

    if (hl > sizeof(have) || hl > (size_t)r->label_words * 8 ||
        (prefix ? hl < len : hl != len)) {
        return 0;
    }
    words_get(aap_rec_label_words(r), have, hl);
    return memcmp(have, buf, len) == 0;
}

/* Give r (FREE, or being adopted) its identity; st_lock held. */
static void rec_set(aap_rec *r, int family, uint32_t key, const char *buf,
                    size_t len, uint32_t state)
{
    seq_begin(r);
    atomic_store_explicit(&r->family, (uint32_t)family, memory_order_release);
    atomic_store_explicit(&r->key, key, memory_order_release);
    words_put(aap_rec_label_words(r), r->label_words, buf, len);
    atomic_store_explicit(&r->label_len, (uint32_t)len, memory_order_release);
    cells_zero(r);
    atomic_store_explicit(&r->state, state, memory_order_release);
    seq_end(r);
}

/* st_lock held, arena made. */
static int rec_alloc(int family, uint32_t key, const char *buf, size_t len,
                     unsigned flags, aap_rec **out)
{
    const aap_family *f = aap_family_get((uint32_t)family);
    uint32_t ncells = (uint32_t)aap_family_ncells(f);
    uint32_t words = f->label_cap / 8;
    uint32_t size = AAP_REC_HDR + 8 * (words + ncells);
    uint32_t hidden = (flags & AAP_SERIES_HIDDEN) ? AAP_REC_HIDDEN : 0;
    size_t used = atomic_load_explicit(&st_hdr->used, memory_order_relaxed);
    size_t off;
    aap_rec *r, *spare = NULL;

    for (off = AAP_ARENA_HDR; off < used; off += r->size) {
        r = rec_at(off);
        if (st_grouped && rec_base_state(r) == AAP_REC_KEPT &&
            atomic_load_explicit(&r->family, memory_order_relaxed) ==
                (uint32_t)family &&
            atomic_load_explicit(&r->key, memory_order_relaxed) == key &&
            labels_match(r, buf, len, flags & AAP_SERIES_ADOPT_PREFIX)) {
            uint32_t st =
                atomic_load_explicit(&r->state, memory_order_relaxed);

            /* adopted: values go on; a series shown before stays shown */
            atomic_store_explicit(&r->state,
                                  AAP_REC_LIVE | (st & AAP_REC_HIDDEN),
                                  memory_order_relaxed);
            *out = r;
            return 0;
        }
        if (!spare && rec_base_state(r) == AAP_REC_FREE &&
            r->ncells == ncells && r->label_words == words) {
            spare = r;
        }
    }
    if (flags & AAP_SERIES_ADOPT_ONLY) {
        return AAP_EINVAL;
    }
    if (!spare) {
        if (used + size > st_shm.size) {
            return AAP_ETOOBIG;
        }
        if (aap_shm_commit(&st_shm, used + size) < 0) {
            return AAP_ENOMEM;
        }
        spare = rec_at(used);
        spare->size = size;
        spare->ncells = (uint16_t)ncells;
        spare->label_words = (uint16_t)words;
        atomic_store_explicit(&spare->state, AAP_REC_FREE,
                              memory_order_relaxed);
        atomic_store_explicit(&st_hdr->used, used + size,
                              memory_order_release);
    }
    rec_set(spare, family, key, buf, len, AAP_REC_LIVE | hidden);
    *out = spare;
    return 0;
}

/* st_lock held. */
static void rec_free_locked(aap_rec *r)
{
    seq_begin(r);
    atomic_store_explicit(&r->state, AAP_REC_FREE, memory_order_release);
    atomic_store_explicit(&r->label_len, 0, memory_order_release);
    seq_end(r);
}

/* st_lock held: free every kept record (leaving a group, fork child). */
static void free_kept_locked(void)
{
    size_t used, off;
    aap_rec *r;

    if (!st_hdr) {
        return;
    }
    used = atomic_load_explicit(&st_hdr->used, memory_order_relaxed);
    for (off = AAP_ARENA_HDR; off < used; off += r->size) {
        r = rec_at(off);
        if (rec_base_state(r) == AAP_REC_KEPT) {
            rec_free_locked(r);
        }
    }
}

/* ---- the arena --------------------------------------------------------- */

/* Who we are, in the header (creation, fork child). */
static void hdr_identity(void)
{
    long ppid = (long)getppid();

    st_hdr->pid = (int64_t)getpid();
    st_hdr->ppid = (int64_t)ppid;
    st_hdr->start = aap_proc_start_ticks((long)getpid());
    st_hdr->ppid_start = ppid > 0 ? aap_proc_start_ticks(ppid) : 0;
    st_hdr->created = aap_wall_now();
    snprintf(st_name, sizeof(st_name), "%lld-%llu.arena",
             (long long)st_hdr->pid, (unsigned long long)st_hdr->start);
}

static int join_locked(int dirfd, int *sys_errno);

static int ensure_locked(void)
{
    int is_group = 0, err = 0, home, rc;

    if (st_hdr) {
        return 0;
    }
    aap_fork_hooks(); /* a child must not write this arena */
    home = aap_group_home(&is_group, &err);
    if (home < 0) {
        st_backing_errno = err ? err : ENOTSUP;
    }
    rc = aap_shm_open(&st_shm, home, AAP_ARENA_SIZE, &err);
    if (rc < 0) {
        st_backing_errno = err ? err : ENOTSUP;
        is_group = 0;
        rc = aap_shm_open_anon(&st_shm, AAP_ARENA_SIZE);
        if (rc < 0) {
            return rc;
        }
    }
    if (aap_shm_commit(&st_shm, AAP_ARENA_HDR) < 0) {
        return AAP_ENOMEM;
    }
    st_hdr = (aap_arena_hdr *)(void *)st_shm.base;
    memcpy(st_hdr->magic, AAP_ARENA_MAGIC, 8);
    st_hdr->version = AAP_ARENA_VERSION;
    st_hdr->hdr_size = AAP_ARENA_HDR;
    st_hdr->families = aap_families_hash();
    st_hdr->size = st_shm.size;
    hdr_identity();
    atomic_store_explicit(&st_hdr->used, AAP_ARENA_HDR, memory_order_release);
    if (is_group) {
        join_locked(home, &err);
    }
    return 0;
}

void aap_state_prepare(void)
{
    int is_group, err;

    aap_group_home(&is_group, &err);
}

int aap_state_ensure(void)
{
    int rc;

    pthread_mutex_lock(&st_lock);
    rc = ensure_locked();
    pthread_mutex_unlock(&st_lock);
    return rc;
}

int aap_state_series(int family, uint32_t key, const aap_label *labels,
                     size_t n, unsigned flags, aap_rec **out)
{
    const aap_family *f = aap_family_get((uint32_t)family);
    char buf[AAP_LABELS_MAX];
    size_t len;
    int rc;

    *out = NULL;
    if (!f || f->label_cap > sizeof(buf) || f->label_cap % 8 ||
        aap_family_ncells(f) > AAP_CELLS_MAX ||
        (f->value == AAP_VAL_HIST && aap_family_ncells(f) == 0)) {
        return AAP_EINVAL;
    }
    len = labels_encode(labels, n, buf, f->label_cap);
    if (n && !len) {
        return AAP_EINVAL;
    }
    pthread_mutex_lock(&st_lock);
    rc = ensure_locked();
    if (rc == 0 && st_poisoned) {
        rc = AAP_ENOMEM;
    }
    if (rc == 0) {
        rc = rec_alloc(family, key, buf, len, flags, out);
    }
    pthread_mutex_unlock(&st_lock);
    return rc;
}

int aap_state_cell(int family, const aap_label *labels, size_t n,
                   unsigned flags, aap_rec **rec, _Atomic uint64_t **cell)
{
    int rc = aap_state_series(family, 0, labels, n, flags, rec);

    *cell = rc == 0 ? aap_rec_cells(*rec) : st_sink;
    return rc;
}

int aap_state_hist(int family, const aap_label *labels, size_t n,
                   unsigned flags, aap_rec **rec, aap_hist *h)
{
    const aap_family *f = aap_family_get((uint32_t)family);
    int rc = aap_state_series(family, 0, labels, n, flags, rec);

    if (rc == 0) {
        h->lay = aap_layout_get(f->layout);
        h->cells = aap_rec_cells(*rec);
    } else {
        aap_state_sink_hist(f ? f->layout : AAP_LAYOUT_NONE, h);
    }
    return rc;
}

_Atomic uint64_t *aap_state_sink(void)
{
    return st_sink;
}

void aap_state_sink_hist(int layout, aap_hist *h)
{
    h->lay = aap_layout_get(layout);
    if (!h->lay) {
        h->lay = aap_layout_get(AAP_LAYOUT_SCHEMA2);
    }
    h->cells = st_sink;
}

void aap_rec_show(aap_rec *r)
{
    atomic_fetch_and_explicit(&r->state, ~AAP_REC_HIDDEN,
                              memory_order_relaxed);
}

void aap_rec_hide(aap_rec *r)
{
    atomic_fetch_or_explicit(&r->state, AAP_REC_HIDDEN, memory_order_relaxed);
}

int aap_rec_relabel(aap_rec *r, const aap_label *labels, size_t n)
{
    char buf[AAP_LABELS_MAX];
    size_t len = labels_encode(labels, n, buf, (size_t)r->label_words * 8);

    if (n && !len) {
        return AAP_EINVAL;
    }
    pthread_mutex_lock(&st_lock);
    rec_set(r, (int)atomic_load_explicit(&r->family, memory_order_relaxed),
            atomic_load_explicit(&r->key, memory_order_relaxed), buf, len,
            atomic_load_explicit(&r->state, memory_order_relaxed));
    pthread_mutex_unlock(&st_lock);
    return 0;
}

int aap_rec_label(aap_rec *r, const char *name, char *out, size_t cap)
{
    char buf[AAP_LABELS_MAX + 1];
    size_t len = atomic_load_explicit(&r->label_len, memory_order_relaxed);
    size_t i = 0;

    if (cap) {
        out[0] = '\0';
    }
    if (len > AAP_LABELS_MAX) {
        return AAP_EINVAL;
    }
    words_get(aap_rec_label_words(r), buf, len);
    buf[len] = '\0';
    while (i < len) {
        const char *nm = buf + i, *val = nm + strlen(nm) + 1;

        if (val >= buf + len) {
            break;
        }
        if (strcmp(nm, name) == 0) {
            snprintf(out, cap, "%s", val);
            return 0;
        }
        i = (size_t)(val - buf) + strlen(val) + 1;
    }
    return AAP_EINVAL;
}

void aap_rec_zero(aap_rec *r)
{
    cells_zero(r);
}

void aap_rec_release(aap_rec *r)
{
    const aap_family *f;

    if (!r) {
        return;
    }
    pthread_mutex_lock(&st_lock);
    f = aap_family_get(atomic_load_explicit(&r->family, memory_order_relaxed));
    if (st_grouped && f && !f->drop_dead &&
        !(atomic_load_explicit(&r->state, memory_order_relaxed) &
          AAP_REC_HIDDEN)) {
        atomic_store_explicit(&r->state, AAP_REC_KEPT, memory_order_relaxed);
    } else {
        rec_free_locked(r);
    }
    pthread_mutex_unlock(&st_lock);
}

void aap_rec_free(aap_rec *r)
{
    if (!r) {
        return;
    }
    pthread_mutex_lock(&st_lock);
    rec_free_locked(r);
    pthread_mutex_unlock(&st_lock);
}

void aap_state_loops_add(int delta)
{
    pthread_mutex_lock(&st_lock);
    if (ensure_locked() == 0) {
        atomic_fetch_add_explicit(&st_hdr->nloops, (uint32_t)delta,
                                  memory_order_relaxed);
    }
    pthread_mutex_unlock(&st_lock);
}

const aap_arena_hdr *aap_state_arena(size_t *len)
{
    const aap_arena_hdr *h;

    pthread_mutex_lock(&st_lock);
    h = st_hdr;
    *len = st_shm.size;
    pthread_mutex_unlock(&st_lock);
    return h;
}

/* ---- groups ------------------------------------------------------------ */

static int same_dir(int a, int b)
{
    struct stat sa, sb;

    return a >= 0 && b >= 0 && fstat(a, &sa) == 0 && fstat(b, &sb) == 0 &&
           sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

static int join_locked(int dirfd, int *sys_errno)
{
    int fd, rc;

    *sys_errno = 0;
    if (st_shm.fd < 0) {
        *sys_errno = st_backing_errno ? st_backing_errno : ENOTSUP;
        return AAP_EBIND;
    }
    if (!same_dir(dirfd, st_group_fd)) {
        rc = aap_shm_link(&st_shm, dirfd, st_name, sys_errno);
        if (rc < 0) {
            return rc;
        }
        fd = fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
        if (fd < 0) {
            *sys_errno = errno;
            unlinkat(dirfd, st_name, 0);
            return AAP_EBIND;
        }
        if (st_group_fd >= 0) {
            unlinkat(st_group_fd, st_name, 0);
            close(st_group_fd);
        }
        st_group_fd = fd;
    }
    atomic_fetch_and_explicit(&st_hdr->flags, ~AAP_ARENA_LEFT,
                              memory_order_release);
    st_grouped = 1;
    return 0;
}

int aap_state_join(int dirfd, int *sys_errno)
{
    int rc;

    pthread_mutex_lock(&st_lock);
    rc = ensure_locked();
    if (rc == 0) {
        rc = join_locked(dirfd, sys_errno);
    }
    pthread_mutex_unlock(&st_lock);
    return rc;
}

void aap_state_leave(void)
{
    pthread_mutex_lock(&st_lock);
    if (st_hdr && st_grouped) {
        atomic_fetch_or_explicit(&st_hdr->flags, AAP_ARENA_LEFT,
                                 memory_order_release);
        st_grouped = 0;
        free_kept_locked();
    }
    pthread_mutex_unlock(&st_lock);
}

int aap_state_group_dup(void)
{
    int fd = -1;

    pthread_mutex_lock(&st_lock);
    if (st_grouped && st_group_fd >= 0) {
        fd = fcntl(st_group_fd, F_DUPFD_CLOEXEC, 0);
    }
    pthread_mutex_unlock(&st_lock);
    return fd;
}

int aap_group_member(void)
{
    int g;

    pthread_mutex_lock(&st_lock);
    g = st_grouped;
    pthread_mutex_unlock(&st_lock);
    return g;
}

void aap_state_file_id(uint64_t *dev, uint64_t *ino)
{
    struct stat s;

    *dev = *ino = 0;
    pthread_mutex_lock(&st_lock);
    if (st_shm.fd >= 0 && fstat(st_shm.fd, &s) == 0) {
        *dev = (uint64_t)s.st_dev;
        *ino = (uint64_t)s.st_ino;
    }
    pthread_mutex_unlock(&st_lock);
}

int aap_state_backing_errno(void)
{
    int e;

    pthread_mutex_lock(&st_lock);
    e = st_shm.fd >= 0 ? 0 : (st_backing_errno ? st_backing_errno : ENOTSUP);
    pthread_mutex_unlock(&st_lock);
    return e;
}

void aap_state_fork(int phase)
{
    int err = 0, grouped;

    if (phase == 0) {
        pthread_mutex_lock(&st_lock);
        return;
    }
    if (phase == 1 || !st_hdr) {
        pthread_mutex_unlock(&st_lock);
        return;
    }
    /* the child: its own memory, its own identity, none of the parent's
     * kept records; a member of the parent's group if the parent was */
    if (aap_shm_fork_child(&st_shm, atomic_load(&st_hdr->used)) < 0) {
        st_poisoned = 1;
    }
    hdr_identity();
    free_kept_locked();
    grouped = st_grouped;
    st_grouped = 0;
    if (grouped && st_group_fd >= 0) {
        int dirfd = st_group_fd;

        st_group_fd = -1; /* the parent's name stays the parent's */
        if (join_locked(dirfd, &err) < 0) {
            atomic_fetch_or_explicit(&st_hdr->flags, AAP_ARENA_LEFT,
                                     memory_order_relaxed);
        }
        close(dirfd);
    } else if (st_group_fd >= 0) {
        close(st_group_fd);
        st_group_fd = -1;
    }
    pthread_mutex_unlock(&st_lock);
}
