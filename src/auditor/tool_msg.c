/*
 * tool_msg.c: the CLI's message helpers, so that every diagnostic reads
 * "async-auditor: error: <what>: <why>".  They are the only way the CLI
 * writes to standard error, and much of what they print comes from
 * outside (backend errors, warnings and infos, URLs, file names): every
 * message goes through aat_buf_term, so no caller can let an escape
 * sequence, a line break or a GitHub workflow command reach a terminal or
 * a CI log.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tool_cfg.h"

/* Longest message kept; the rest is cut (a backend error of megabytes
 * keeps its start). */
#define MSG_MAX 8192

static void vmsg(const char *level, const char *fmt, va_list ap)
{
    char raw[MSG_MAX];
    aat_buf safe;
    int n;

    n = vsnprintf(raw, sizeof(raw), fmt, ap);
    if (n < 0) {
        raw[0] = '\0';
    }
    /* at most 4 bytes out per byte in ("\x1b") */
    aat_buf_init(&safe, 4 * sizeof(raw) + 1);
    if (aat_buf_term(&safe, raw, strlen(raw)) == 0) {
        fprintf(stderr, "async-auditor: %s: %s\n", level, safe.data);
    } else {
        fprintf(stderr, "async-auditor: %s: (message lost: %s)\n", level,
                aa_strerror(AA_ENOMEM));
    }
    aat_buf_release(&safe);
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

int tool_vset_text(char **slot, const char *fmt, va_list ap)
{
    char buf[2048];
    char *copy;

    vsnprintf(buf, sizeof(buf), fmt, ap);
    copy = aa_strdup(buf);
    if (copy == NULL) {
        return AA_ENOMEM;
    }
    free(*slot);
    *slot = copy;
    return AA_OK;
}

int tool_set_message(aa_rule_result *rr, const char *fmt, ...)
{
    va_list ap;
    int rc;

    va_start(ap, fmt);
    rc = tool_vset_text(&rr->message, fmt, ap);
    va_end(ap);
    return rc;
}
