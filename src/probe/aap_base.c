/*
 * aap_base.c: error strings and clocks of the probe's C library.  The
 * monotonic clock is CLOCK_MONOTONIC, the clock of time.monotonic(), so
 * timestamps taken in C and in Python compare.
 */
#include "aap.h"

#include <time.h>

const char *aap_strerror(int err)
{
    switch (err) {
    case AAP_OK:
        return "success";
    case AAP_ENOMEM:
        return "out of memory";
    case AAP_EINVAL:
        return "invalid argument";
    case AAP_EBIND:
        return "cannot listen on the exporter address";
    case AAP_ETHREAD:
        return "cannot start a background thread";
    case AAP_EHTTP:
        return "the exporter's HTTP server could not start";
    case AAP_EBUSY:
        return "the exporter already serves another address";
    case AAP_ETOOBIG:
        return "output exceeds its maximum size";
    default:
        return "unknown error";
    }
}

uint64_t aap_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t aap_now_coarse_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

double aap_wall_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}
