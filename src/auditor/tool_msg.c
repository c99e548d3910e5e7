/*
 * tool_msg.c: the CLI's message helpers, so that every diagnostic reads
 * "async-auditor: error: <what>: <why>".
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "tool_cfg.h"

static void vmsg(const char *level, const char *fmt, va_list ap)
{
    fprintf(stderr, "async-auditor: %s: ", level);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

void tool_error(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vmsg("error", fmt, ap);
    va_end(ap);
}

void tool_warn(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vmsg("warning", fmt, ap);
    va_end(ap);
}

void tool_verbose(const tool_config *cfg, const char *fmt, ...)
{
    va_list ap;

    if (cfg == NULL || cfg->verbosity < 1) {
        return;
    }
    va_start(ap, fmt);
    vmsg("info", fmt, ap);
    va_end(ap);
}

int tool_set_message(aa_rule_result *rr, const char *fmt, ...)
{
    char buf[2048];
    char *copy;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    copy = aa_strdup(buf);
    if (copy == NULL) {
        return AA_ENOMEM;
    }
    free(rr->message);
    rr->message = copy;
    return AA_OK;
}
