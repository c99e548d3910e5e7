/*
 * aap_registry.c: the process-wide list of probed loops and the process
 * lifecycle around it (fork, interpreter exit).
 *
 * The watchdog and the exporter find loops here.  fork() is handled with
 * pthread_atfork: every lock of the library is taken before the fork (in
 * the one documented order, aap_int.h) and released again in both the
 * parent and the child.  The child has only the forking thread, which is
 * the thread that holds those locks, so it can unlock them; re-initialising
 * a mutex another thread held is undefined behaviour.  What belonged to
 * threads that do not exist in the child (the watchdog, the exporter,
 * pins) is forgotten there.
 */
#include "aap_int.h"

#include <stdio.h>
#include <string.h>

pthread_mutex_t aap_reg_lock = PTHREAD_MUTEX_INITIALIZER;
aap_loop *aap_reg_head;
size_t aap_reg_n;

static pthread_cond_t unpin_cond = PTHREAD_COND_INITIALIZER;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void fork_prepare(void)
{
    aap_loop *L;

    aap_exporter_fork(0);
    pthread_mutex_lock(&aap_reg_lock);
    for (L = aap_reg_head; L; L = L->next) {
        pthread_mutex_lock(&L->lock);
    }
    aap_http_fork(0);
    aap_mem_fork(0);
    aap_state_fork(0);
}

static void fork_parent(void)
{
    aap_loop *L;

    aap_state_fork(1);
    aap_mem_fork(1);
    aap_http_fork(1);
    for (L = aap_reg_head; L; L = L->next) {
        pthread_mutex_unlock(&L->lock);
    }
    pthread_mutex_unlock(&aap_reg_lock);
    aap_exporter_fork(1);
}

/* The child starts counting afresh: its loops are copies whose counters
 * belong to the parent.  Its state arena is replaced first, so that the
 * resets below write the child's memory, not the parent's file. */
static void fork_child(void)
{
    aap_loop *L;

    aap_state_fork(2);
    aap_mem_fork(2);
    aap_http_fork(2);
    pthread_cond_init(&unpin_cond, NULL);
    aap_watchdog_fork_child();
    for (L = aap_reg_head; L; L = L->next) {
        L->pins = 0;
        aap_loop_reset(L);
        pthread_mutex_unlock(&L->lock);
    }
    pthread_mutex_unlock(&aap_reg_lock);
    aap_exporter_fork(2);
}

static void atfork_setup(void)
{
    pthread_atfork(fork_prepare, fork_parent, fork_child);
}

void aap_fork_hooks(void)
{
    pthread_once(&atfork_once, atfork_setup);
}

/* Two loops in threads of the same name get "name#2", ... so their
 * series stay distinct.  Called with aap_reg_lock held. */
static void unique_name(aap_loop *L)
{
    char base[48];
    aap_loop *o;
    int k = 1, clash = 1;

    snprintf(base, sizeof(base), "%.40s", L->name);
    while (clash) {
        clash = 0;
        for (o = aap_reg_head; o; o = o->next) {
            if (strcmp(o->name, L->name) == 0) {
                clash = 1;
                break;
            }
        }
        if (clash) {
            snprintf(L->name, sizeof(L->name), "%s#%d", base, ++k);
        }
    }
}

int aap_reg_add(aap_loop *L, int (*init)(aap_loop *L))
{
    int rc;

    pthread_once(&atfork_once, atfork_setup);
    pthread_mutex_lock(&aap_reg_lock);
    unique_name(L);
    rc = init ? init(L) : 0;
    if (rc == 0) {
        rc = aap_watchdog_start_locked();
    }
    if (rc == 0) {
        L->next = aap_reg_head;
        aap_reg_head = L;
        aap_reg_n++;
        aap_watchdog_wake_locked();
    }
    pthread_mutex_unlock(&aap_reg_lock);
    return rc;
}

int aap_reg_remove(aap_loop *L)
{
    aap_loop **pp;
    int last;

    pthread_mutex_lock(&aap_reg_lock);
    for (pp = &aap_reg_head; *pp; pp = &(*pp)->next) {
        if (*pp == L) {
            *pp = L->next;
            aap_reg_n--;
            break;
        }
    }
    while (L->pins > 0) {
        pthread_cond_wait(&unpin_cond, &aap_reg_lock);
    }
    last = aap_reg_n == 0;
    pthread_mutex_unlock(&aap_reg_lock);
    return last;
}

void aap_loop_pin(aap_loop *L)
{
    L->pins++;
}

void aap_loop_unpin(aap_loop *L)
{
    if (--L->pins == 0) {
        pthread_cond_broadcast(&unpin_cond);
    }
}

void aap_shutdown(void)
{
    aap_exporter_stop(0);
    aap_watchdog_stop();
}

int aap_after_fork_restart(void)
{
    int rc = 0;

    pthread_mutex_lock(&aap_reg_lock);
    if (aap_reg_head) {
        rc = aap_watchdog_start_locked();
    }
    pthread_mutex_unlock(&aap_reg_lock);
    return rc;
}
