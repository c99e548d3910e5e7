/*
 * tool_file.h: how the CLI writes its output files (the --json, --junit,
 * --markdown and --html reports and the --save-samples recording), in one
 * place: checked before the run, so that a bad path costs nothing, and
 * written through a fresh temporary file renamed into place, so that a
 * reader never sees half a file and nothing planted in the directory
 * (a symlink at a guessable name) is ever written through.
 */
#ifndef TOOL_FILE_H
#define TOOL_FILE_H

#include <stdio.h>

/* Writes the file's content to fp; 0, or non-zero when it failed (errno
 * set when it is a write error). */
typedef int (*tool_file_fn)(void *ctx, FILE *fp);

/*
 * Whether path can be written as an output file, without writing it: an
 * existing FIFO, character device or /dev/stdout must be writable; any
 * other path must not be a directory or another special file, and a
 * temporary file must be creatable beside it (one is made and removed).
 * Returns 0, or -1 after printing "FLAG PATH: why".
 */
int tool_file_check(const char *flag, const char *path);

/*
 * Writes path with fn.  A new or regular path: into PATH.tmp.XXXXXX
 * (mkstemp, O_EXCL: never through an existing name) with the mode a plain
 * fopen would give (0666 less the umask), flushed to disk, then renamed
 * over path (a symlink at path is replaced, not followed).  An existing
 * FIFO or character device, or a link into /proc (/dev/stdout, even when
 * standard output is a file), is written directly.  Returns 0, or -1 with
 * *err set to the errno of the failure (EIO when fn failed without one);
 * then no temporary file is left and path is as it was (unless written
 * directly).
 */
int tool_file_write(const char *path, tool_file_fn fn, void *ctx, int *err);

#endif
